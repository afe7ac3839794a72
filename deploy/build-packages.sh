#!/usr/bin/env bash
# Build the .deb packages trellisd and trellis (the agent) into OUTDIR: a
# release build without sanitizers or tests, with Debian's hardening flags
# (dpkg-buildflags), packaged by CPack (cmake/packaging.cmake).
# Usage: deploy/build-packages.sh OUTDIR [BUILDDIR]   (BUILDDIR: OUTDIR/build)
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 OUTDIR [BUILDDIR]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
build=${2:-$out/build}

command -v dpkg-buildflags >/dev/null || { echo "build-packages: needs dpkg-dev" >&2; exit 1; }
# PIE, full RELRO, bind-now, fortify, stack protector: what lintian checks.
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
eval "$(dpkg-buildflags --export=sh)"
export CFLAGS="$CFLAGS $CPPFLAGS"

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
      -DTRELLIS_PACKAGE=ON -DTRELLIS_TESTS=OFF -DTRELLIS_SANITIZE=OFF -DTRELLIS_FUZZ=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1 ||
    { tail -40 "$build/build.log"; echo "build-packages: build failed ($build/build.log)" >&2; exit 1; }
(cd "$build" && cpack -G DEB -B "$out/cpack" >"$build/cpack.log" 2>&1) ||
    { tail -40 "$build/cpack.log"; echo "build-packages: cpack failed" >&2; exit 1; }
mv "$out"/cpack/*.deb "$out"/
rm -rf "$out/cpack"
ls "$out"/*.deb
