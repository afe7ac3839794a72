#!/usr/bin/env bash
# Install the Debian 12 packages Trellis needs, only those missing.
# Uses sudo when not root. Usage: deploy/install-deps.sh [--bench]
set -euo pipefail

pkgs=(build-essential cmake pkg-config libuv1-dev libpq-dev libssl-dev libjansson-dev
      libcmocka-dev node-llhttp libinih-dev libpcre2-dev postgresql curl openssl python3
      python3-jsonschema
      python3-pyproj  # PROJ, the grid references' independent check (test_oruk_filters.py)
      libcurl4-openssl-dev libsqlite3-dev libcsv-dev  # the agent (client/)
      tinyproxy                                       # the agent's proxy test
      ca-certificates
      clang libclang-rt-14-dev clang-format  # tests/fuzz/run.sh (libFuzzer), the format check
      sslscan testssl.sh                     # tests/integration/test_tls_scan.py
      nginx                                  # the viewer behind its proxy (test_viewer_proxy.py)
      chromium                               # the viewer's browser test (test_viewer_a11y.py)
      dpkg-dev lintian systemd adduser strace  # the .deb packages and their test (test_packages.py)
      systemd-container dbus sudo)  # the operator's guide run under systemd (ops_guide.py)
# That test's npm fetches playwright-core and axe-core into the build folder. A
# Node.js from elsewhere (NodeSource) brings its own npm and conflicts with
# Debian's: take Debian's only where there is none.
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)
if [[ "${1:-}" == "--bench" ]]; then
    pkgs+=(apache2-utils)
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a default cluster with the postgresql package; Trellis never uses it.
