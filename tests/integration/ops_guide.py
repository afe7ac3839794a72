"""docs/operations.md, run the way a charity's IT lead runs it: every command
the guide shows (in its code lines and in its backquotes) is found by
reading the guide, and each must be run here, on a machine with a real
systemd (nspawn.py): the packages installed with apt, the node started,
reloaded, restarted and stopped with systemctl, its logs read with
journalctl, a member joining with its own keys, renewals, a CA rollover, a
revoked CA, a backup and a restore, and the packages removed. A command
added to the guide that no step runs fails the walk; so does a step whose
command is no longer in the guide.

Placeholders of the guide (ORG, NAME, FILE, ...) are filled in; the files an
IT lead would send by e-mail or copy to the node are copied by plumbing
steps, which are not guide commands."""

import os
import re
import time

from harness import SOURCE_DIR

GUIDE = os.path.join(SOURCE_DIR, "docs", "operations.md")
COMMAND_WORDS = {"sudo", "systemctl", "journalctl", "trellis", "trellisd", "pg_dump",
                 "pg_restore", "pg_basebackup", "apt", "deploy/build-packages.sh",
                 "systemd-analyze"}
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*$")  # ORG, NAME, FILE, CERTFILE, SERIAL


def guide_commands(text):
    """The commands the guide shows, in order, each once: code lines (four
    spaces in, after a blank line; a trailing '# comment' dropped) and
    backquoted spans of two words or more that start with a command."""
    found = []
    code, prev_blank = False, True
    for line in text.splitlines():
        m = re.match(r"^ {4,}(\S.*)$", line)
        code = bool(m) and (code or prev_blank)
        prev_blank = not line.strip()
        if code:
            cmd = re.sub(r"\s+#\s.*$", "", m.group(1)).strip()
            if cmd.split()[0] in COMMAND_WORDS:
                found.append(cmd)
    prose = "\n".join(line for line in text.splitlines() if not re.match(r"^ {4,}\S", line))
    for para in re.split(r"\n\s*\n", prose):
        for span in re.findall(r"`([^`]+)`", " ".join(para.split())):
            words = span.split()
            if len(words) >= 2 and words[0] in COMMAND_WORDS:
                found.append(span)
    return list(dict.fromkeys(found))


def tokens(cmd):
    """A command's words as the coverage check compares them: without sudo
    (and its -u USER) and without the default PKI folder (`--dir pki`)."""
    w = cmd.split()
    if w and w[0] == "sudo":
        w = w[3:] if w[1:2] == ["-u"] else w[1:]
    out = []
    i = 0
    while i < len(w):
        if w[i] == "--dir" and i + 1 < len(w) and w[i + 1] == "pki":
            i += 2
            continue
        out.append(w[i])
        i += 1
    return out


def covers(ran, shown):
    """Whether running `ran` (a guide command) runs what `shown` names: its
    words begin with shown's, a placeholder of shown standing for any word."""
    r, s = tokens(ran), tokens(shown)
    return len(s) <= len(r) and all(PLACEHOLDER.match(b) or a == b for a, b in zip(r, s))


class Walk:
    """Runs guide commands in a container and remembers which it ran."""

    def __init__(self, t, box):
        self.t = t
        self.box = box
        self.shown = guide_commands(open(GUIDE).read())
        self.ran = []

    def guide(self, shown, concrete=None, cwd="/root", env=None, expect=0, timeout=120):
        """Run the guide's command `shown` (as the guide writes it), or its
        filled-in form `concrete`; check its exit status."""
        self.t.check(shown in self.shown, f"guide: the guide shows `{shown}`")
        self.ran.append(shown)
        cmd = concrete or shown
        r = self.box.run(cmd, cwd=cwd, env=env, timeout=timeout)
        ok = r.returncode == expect if isinstance(expect, int) else r.returncode in expect
        self.t.check(ok, f"guide: `{cmd}` exits {expect}",
                     f"exit {r.returncode}\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}")
        return r

    def plumbing(self, cmd, cwd="/root"):
        """A step the guide leaves to the IT lead (copying a file)."""
        r = self.box.run(cmd, cwd=cwd)
        if r.returncode != 0:
            raise RuntimeError(f"plumbing `{cmd}`: {r.stderr}")
        return r

    def uncovered(self):
        return [s for s in self.shown if not any(covers(r, s) for r in self.ran)]


ORG = "northside-womens-aid"
SPARE = "eastside-rape-crisis"
NODE = "node1"
AGENT = "office-pc"
LOST = "old-laptop"
COORD, MEMBER, SPARE_DIR = "/root/coordinator", "/root/member", "/root/spare-member"
PASS_ENV = {"TRELLIS_PKI_PASSPHRASE_FILE": f"{COORD}/root.passphrase"}
CURL = ("curl -sS -o /dev/null -w '%{{http_code}}' --max-time 5 --cacert /etc/trellis/ca.crt "
        "--cert /etc/trellis/{agent}.chain.crt --key /etc/trellis/{agent}.key "
        "https://127.0.0.1:8443{path}")


# systemctl edit wants a terminal: script(1) gives it one.
EDIT = "script -qec 'systemctl edit {unit}' /dev/null"


def node_answers(w, path="/readyz", agent=AGENT, code="200", timeout=30):
    """Wait until the node answers path with code for an agent's certificate."""
    deadline = time.time() + timeout
    got = ""
    while time.time() < deadline:
        got = w.box.run(CURL.format(agent=agent, path=path)).stdout.strip()
        if got == code:
            return True
        time.sleep(0.5)
    return w.t.check(False, f"the node answers {path} {code}", f"got {got!r}")


def unit_pid(w, unit):
    return w.box.run(f"systemctl show -p MainPID --value {unit}").stdout.strip()


def install(w, node_deb, agent_deb):
    t = w.t
    copies = [w.box.put(deb, "/root/built") for deb in (node_deb, agent_deb)]
    w.plumbing(f"mkdir -p /tmp/trellis-debs && cp {' '.join(copies)} /tmp/trellis-debs/")
    for deb in (node_deb, agent_deb):
        name = os.path.basename(deb)
        shown = f"sudo apt install /tmp/trellis-debs/{name}"
        t.check(shown in w.shown, f"the guide names the package file as built: {name}")
        if shown in w.shown:
            w.guide(shown, env={"DEBIAN_FRONTEND": "noninteractive"}, timeout=300)
    r = w.box.run("systemctl is-enabled trellisd; systemctl is-active trellisd")
    t.equal(r.stdout.split(), ["disabled", "inactive"],
            "installing enables and starts nothing (the guide says so)")
    r = w.box.run("stat -c '%U:%G %a' /etc/trellis /etc/trellis/trellisd.conf /var/lib/trellis")
    t.equal(r.stdout.split("\n")[:3], ["root:trellis 750", "root:trellis 640", "trellis:trellis 700"],
            "/etc/trellis, trellisd.conf and /var/lib/trellis as the guide's table says")


def join(w):
    """The coordinator's root, a member joining with its own keys, and the
    node's and agents' certificates issued in the member's folder."""
    w.plumbing(f"mkdir -p {COORD} {MEMBER} {SPARE_DIR} && "
               f"echo 'correct horse battery staple' > {COORD}/root.passphrase && "
               f"chmod 0600 {COORD}/root.passphrase")
    w.guide("trellis pki --passphrase-file FILE init-consortium",
            "trellis pki --passphrase-file root.passphrase init-consortium", cwd=COORD)
    w.guide("trellis pki --dir pki request-org ORG", f"trellis pki --dir pki request-org {ORG}",
            cwd=MEMBER)
    w.plumbing(f"cp {MEMBER}/pki/orgs/{ORG}/request.pem {COORD}/request.pem")
    w.guide("trellis pki --dir pki sign-org request.pem", cwd=COORD, env=PASS_ENV)
    w.plumbing(f"cp {COORD}/pki/orgs/{ORG}/bundle.pem {MEMBER}/bundle.pem")
    w.guide("trellis pki --dir pki import-org bundle.pem", cwd=MEMBER)
    w.guide("trellis pki --dir pki issue-node ORG NAME --host 127.0.0.1",
            f"trellis pki --dir pki issue-node {ORG} {NODE} --host 127.0.0.1", cwd=MEMBER)
    for agent in (AGENT, LOST):
        w.guide("trellis pki --dir pki issue-agent ORG NAME",
                f"trellis pki --dir pki issue-agent {ORG} {agent}", cwd=MEMBER)
    r = w.box.run(f"find {COORD} {MEMBER} -name '*.key'")
    keys = r.stdout.split()
    w.t.check(not any(k.startswith(COORD) and f"/orgs/{ORG}/" in k for k in keys)
              and not any(k.startswith(MEMBER) and "/root/" in k[len(MEMBER):] for k in keys),
              "no member key in the coordinator's folder, no root key in the member's",
              "\n".join(keys))


def install_node_files(w, with_key=True):
    """The member's node files under the names the guide's install lines use."""
    w.plumbing(f"cp pki/orgs/{ORG}/nodes/{NODE}.chain.crt node.chain.crt && "
               f"cp pki/orgs/{ORG}/nodes/{NODE}.key node.key && cp pki/ca.crt ca.crt && "
               "cp pki/crl.pem crl.pem", cwd=MEMBER)
    lines = ["sudo install -m 0644 node.chain.crt /etc/trellis/node.crt",
             "sudo install -m 0644 ca.crt /etc/trellis/ca.crt",
             "sudo install -m 0644 crl.pem /etc/trellis/crl.pem"]
    if with_key:
        lines.append("sudo install -o root -g root -m 0600 node.key /etc/trellis/node.key")
    for line in lines:
        w.guide(line, cwd=MEMBER)


def install_agent_files(w, agent):
    w.plumbing(f"install -m 0640 -g trellis pki/orgs/{ORG}/agents/{agent}.chain.crt "
               f"/etc/trellis/{agent}.chain.crt && install -m 0640 -g trellis "
               f"pki/orgs/{ORG}/agents/{agent}.key /etc/trellis/{agent}.key", cwd=MEMBER)


def first_start(w):
    t = w.t
    # Installed already; -y and --no-upgrade: the container has no network to
    # fetch a newer version with, and no one to answer apt's question.
    w.guide("sudo apt install postgresql", "apt install -y --no-upgrade postgresql",
            env={"DEBIAN_FRONTEND": "noninteractive"})
    w.guide("sudo -u postgres createuser trellis")
    w.guide("sudo -u postgres createdb -O trellis trellis")
    install_node_files(w)
    for agent in (AGENT, LOST):
        install_agent_files(w, agent)
    r = w.guide("sudo CREDENTIALS_DIRECTORY=/etc/trellis trellisd --config "
                "/etc/trellis/trellisd.conf --check-config")
    t.check("configuration /etc/trellis/trellisd.conf is valid" in r.stdout + r.stderr,
            "--check-config says the configuration is valid", r.stdout + r.stderr)
    w.guide("sudo systemctl enable --now trellisd")
    node_answers(w)
    r = w.guide("systemctl status trellisd")
    t.check("active (running)" in r.stdout, "systemctl status: active (running)", r.stdout)
    r = w.box.run("ps -o user= -C trellisd")
    t.equal(set(r.stdout.split()), {"trellis"}, "the node's processes run as trellis")
    r = w.box.run("ls /run/credentials/trellisd.service/")
    t.equal(r.stdout.split(), ["node.key"], "the node gets its key through LoadCredential=")
    r = w.guide("journalctl -u trellisd -o cat")
    t.check('"event":"listening"' in r.stdout.replace(" ", ""),
            "the journal has the node's JSON lines, ending a good start with `listening`",
            r.stdout[-2000:])
    r = w.guide("journalctl -u trellisd -o cat -f", "timeout 3 journalctl -u trellisd -o cat -f",
                expect=124)
    t.check('"event"' in r.stdout, "journalctl -f follows the node's lines", r.stdout[-500:])
    r = w.guide("journalctl -u trellisd -o cat --since today | grep '\"level\":\"error\"'",
                expect=1)
    t.equal(r.stdout, "", "no error line in the node's log after a good start")
    r = w.guide("systemd-analyze security trellisd.service")
    stated = re.search(r"rates it (\d+\.\d)", " ".join(open(GUIDE).read().split()))
    got = re.search(r"Overall exposure level for trellisd\.service: (\d+\.\d)", r.stdout)
    t.check(stated and got and stated.group(1) == got.group(1),
            f"systemd-analyze security (online, on the running system) rates the unit as the "
            f"guide says ({stated and stated.group(1)})", r.stdout[-300:])
    pid = unit_pid(w, "trellisd")
    w.guide("sudo systemctl reload trellisd")
    node_answers(w)
    t.equal(unit_pid(w, "trellisd"), pid, "reload keeps the process (SIGHUP)")
    w.guide("sudo systemctl restart trellisd")
    node_answers(w)
    t.check(unit_pid(w, "trellisd") not in ("", "0", pid), "restart starts a new process")
    # A drop-in through `systemctl edit`, the editor being a script that
    # writes $DROP_IN as the whole drop-in.
    editor = "/root/write-drop-in"
    with open(w.box.path(editor), "w") as f:
        f.write('#!/bin/sh\nprintf "[Service]\\n%s\\n" "$DROP_IN" > "$1"\n')
    os.chmod(w.box.path(editor), 0o755)
    w.guide("sudo systemctl edit trellisd", EDIT.format(unit="trellisd"),
            env={"SYSTEMD_EDITOR": editor, "DROP_IN": "Environment=TRELLIS_GUIDE=1"})
    r = w.box.run("systemctl show -p Environment --value trellisd")
    t.check("TRELLIS_GUIDE=1" in r.stdout, "systemctl edit leaves a drop-in the unit takes",
            r.stdout)


def agent_service(w):
    t = w.t
    w.guide("trellis agent init", "trellis agent init --node https://127.0.0.1:8443 "
            f"--ca /etc/trellis/ca.crt --cert /etc/trellis/{AGENT}.chain.crt "
            f"--key /etc/trellis/{AGENT}.key --inbox /var/lib/trellis/inbox "
            "--outbox /var/lib/trellis/outbox")
    for line in ("sudo chown -R trellis:trellis /var/lib/trellis",
                 "sudo chgrp trellis /etc/trellis/agent.conf /etc/trellis/office-pc.key "
                 "/etc/trellis/office-pc.chain.crt",
                 "sudo chmod 0640 /etc/trellis/agent.conf /etc/trellis/office-pc.key "
                 "/etc/trellis/office-pc.chain.crt"):
        w.guide(line)
    w.guide("sudo systemctl enable --now trellis-agent")
    w.ran.append("trellis agent run")  # the agent's unit runs it (ExecStart), checked below
    w.plumbing("mkdir -p /srv/outbox && chown trellis:trellis /srv/outbox")
    w.guide("sudo systemctl edit trellis-agent", EDIT.format(unit="trellis-agent"), env={
        "SYSTEMD_EDITOR": "/root/write-drop-in", "DROP_IN": "ReadWritePaths=/srv/outbox"})
    w.plumbing("systemctl restart trellis-agent")
    time.sleep(2)
    r = w.box.run("systemctl is-active trellis-agent; "
                  "systemctl show -p ReadWritePaths --value trellis-agent")
    t.check(r.stdout.split()[:1] == ["active"] and "/srv/outbox" in r.stdout,
            "the agent's service runs, with the drop-in's ReadWritePaths", r.stdout)
    r = w.guide("journalctl -u trellis-agent -f", "timeout 3 journalctl -u trellis-agent -f",
                expect=124)
    r = w.guide("trellis status")
    t.check("recovery:" in r.stdout, "trellis status (the agent's config) shows the node's state",
            r.stdout[-800:])


def revoke_and_crls(w):
    t = w.t
    w.guide("trellis pki --dir pki revoke pki/orgs/ORG/agents/NAME.crt",
            f"trellis pki --dir pki revoke pki/orgs/{ORG}/agents/{LOST}.crt", cwd=MEMBER)
    w.guide("trellis pki --dir pki refresh-crls", cwd=MEMBER)
    w.plumbing(f"cp {MEMBER}/pki/orgs/{ORG}/crl.pem {COORD}/crl.pem")
    w.guide("trellis pki --dir pki add-crl ORG crl.pem", f"trellis pki --dir pki add-crl {ORG} "
            "crl.pem", cwd=COORD, env=PASS_ENV)
    w.plumbing(f"cp {COORD}/pki/crl.pem {MEMBER}/crl.pem")
    w.guide("trellis pki --dir pki import-org crl.pem", cwd=MEMBER)
    node_answers(w, agent=LOST)
    w.plumbing("cp pki/crl.pem crl.pem", cwd=MEMBER)
    w.guide("sudo install -m 0644 crl.pem /etc/trellis/crl.pem", cwd=MEMBER)
    w.guide("systemctl reload trellisd")
    deadline = time.time() + 20
    while time.time() < deadline:
        if w.box.run(CURL.format(agent=LOST, path="/readyz")).stdout.strip() != "200":
            break
        time.sleep(0.5)
    t.check(w.box.run(CURL.format(agent=LOST, path="/readyz")).stdout.strip() != "200",
            "after the CRL's reload the revoked agent is refused")
    node_answers(w)


def served_serial(w):
    return w.box.run("openssl s_client -connect 127.0.0.1:8443 -CAfile /etc/trellis/ca.crt "
                     f"-cert /etc/trellis/{AGENT}.chain.crt -key /etc/trellis/{AGENT}.key "
                     "</dev/null 2>/dev/null | openssl x509 -noout -serial").stdout


def renew(w, keep_key=True):
    """A renewal: the node's certificate for its key and a reload, or a new
    key and a restart (the key comes through LoadCredential= at start)."""
    t = w.t
    before = served_serial(w)
    if keep_key:
        w.guide("trellis pki --dir pki renew-node ORG NAME --keep-key",
                f"trellis pki --dir pki renew-node {ORG} {NODE} --keep-key", cwd=MEMBER)
    else:
        w.guide("trellis pki --dir pki renew-node ORG NAME",
                f"trellis pki --dir pki renew-node {ORG} {NODE}", cwd=MEMBER)
    w.guide("trellis pki --dir pki renew-agent ORG NAME",
            f"trellis pki --dir pki renew-agent {ORG} {AGENT}", cwd=MEMBER)
    install_agent_files(w, AGENT)
    pid = unit_pid(w, "trellisd")
    install_node_files(w, with_key=not keep_key)
    if keep_key:
        w.guide("sudo systemctl reload trellisd")
    else:
        w.guide("sudo systemctl restart trellisd")
    node_answers(w)
    deadline = time.time() + 20
    while served_serial(w) == before and time.time() < deadline:
        time.sleep(0.5)
    served = served_serial(w)
    t.check(served and served != before and served == w.box.run(
        "openssl x509 -noout -serial -in /etc/trellis/node.crt").stdout,
        f"the node serves its renewed certificate ({'reload' if keep_key else 'restart'})",
        f"{before} -> {served}")
    t.check((unit_pid(w, "trellisd") == pid) == keep_key,
            "the same process took it (reload)" if keep_key else "a new process (restart)")
    r = w.box.run("journalctl -u trellisd -o cat | grep -c tls_reload_failed")
    t.equal(r.stdout.strip(), "0", "no reload failed")


def rollover(w):
    w.guide("trellis pki --dir pki request-org ORG --rollover",
            f"trellis pki --dir pki request-org {ORG} --rollover", cwd=MEMBER)
    w.plumbing(f"cp {MEMBER}/pki/orgs/{ORG}/next/request.pem {COORD}/request.pem")
    w.guide("trellis pki --dir pki sign-org request.pem --rollover", cwd=COORD, env=PASS_ENV)
    w.plumbing(f"cp {COORD}/pki/orgs/{ORG}/bundle.pem {MEMBER}/bundle.pem")
    w.guide("trellis pki --dir pki import-org bundle.pem", cwd=MEMBER)
    w.plumbing(f"cp {COORD}/pki/crl.pem {MEMBER}/pki/crl.pem")
    install_node_files(w, with_key=False)  # the old CA's node certificate, the new bundle
    w.guide("systemctl reload trellisd")
    node_answers(w)
    renew(w, keep_key=False)  # step 4: node and agent certificates of the new CA


def revoke_ca(w):
    """The coordinator revokes an organisation's CA: it issues nothing more.
    (And the demo's one-folder shortcut, in the coordinator's folder.)"""
    t = w.t
    w.guide("trellis pki add-org ORG", "trellis pki add-org demo-shortcut", cwd=COORD,
            env=PASS_ENV)
    t.check(w.box.run(f"test -s {COORD}/pki/orgs/demo-shortcut/ca.key").returncode == 0,
            "add-org makes the organisation's key in the coordinator's folder")
    w.guide("trellis pki --dir pki request-org ORG", f"trellis pki --dir pki request-org {SPARE}",
            cwd=SPARE_DIR)
    w.plumbing(f"cp {SPARE_DIR}/pki/orgs/{SPARE}/request.pem {COORD}/request.pem")
    w.guide("trellis pki --dir pki sign-org request.pem", cwd=COORD, env=PASS_ENV)
    w.plumbing(f"cp {COORD}/pki/orgs/{SPARE}/bundle.pem {SPARE_DIR}/bundle.pem")
    w.guide("trellis pki --dir pki import-org bundle.pem", cwd=SPARE_DIR)
    w.guide("trellis pki --dir pki revoke pki/orgs/ORG/ca.crt",
            f"trellis pki --dir pki revoke pki/orgs/{SPARE}/ca.crt", cwd=COORD, env=PASS_ENV)
    w.plumbing(f"cp {COORD}/pki/crl.pem {SPARE_DIR}/crl.pem")
    w.guide("trellis pki --dir pki import-org crl.pem", cwd=SPARE_DIR)
    r = w.guide("trellis pki --dir pki issue-node ORG NAME --host 127.0.0.1",
                f"trellis pki --dir pki issue-node {SPARE} {NODE} --host 127.0.0.1",
                cwd=SPARE_DIR, expect=(1, 2, 5))
    t.check("revoked" in r.stderr, "a revoked organisation CA issues nothing more", r.stderr)


def backup_restore(w):
    t = w.t
    w.guide("sudo -u trellis pg_dump -Fc trellis > trellis-$(date +%F).dump")
    dump = "trellis-" + time.strftime("%Y-%m-%d") + ".dump"
    t.check(w.box.run(f"test -s {dump}").returncode == 0, "the backup file is written")
    w.guide("sudo systemctl stop trellisd")
    w.guide("sudo -u trellis pg_restore --clean --if-exists -d trellis < trellis-2026-12-04.dump",
            f"sudo -u trellis pg_restore --clean --if-exists -d trellis < {dump}")
    w.guide("sudo systemctl start trellisd")
    node_answers(w)
    r = w.guide("trellis status")
    t.check("recovery:" in r.stdout, "trellis status after the restore says the recovery state",
            r.stdout[-800:])


def remove(w):
    t = w.t
    r = w.box.run("journalctl -u trellisd -o cat | "
                  "grep -c -e loop_not_closed -e '\"level\":\"error\"'")
    t.equal(r.stdout.strip(), "0", "no error and no handle left open in any of the node's runs")
    w.guide("apt remove", "apt remove -y trellisd", env={"DEBIAN_FRONTEND": "noninteractive"})
    r = w.box.run("systemctl is-active trellisd; test -e /usr/bin/trellisd; echo $?; "
                  "test -e /etc/trellis/trellisd.conf; echo $?")
    t.equal(r.stdout.split(), ["inactive", "1", "0"],
            "apt remove stops the node and removes the program, keeping its configuration")
    w.guide("apt purge", "apt purge -y trellisd", env={"DEBIAN_FRONTEND": "noninteractive"})
    r = w.box.run("test -e /etc/trellis/trellisd.conf; echo $?; test -d /var/lib/trellis; "
                  "echo $?; id -u trellis >/dev/null; echo $?")
    t.equal(r.stdout.split(), ["1", "0", "0"],
            "apt purge removes trellisd.conf, keeps /var/lib/trellis and the trellis user")


def walk(t, box, node_deb, agent_deb):
    """Every step of the guide, in its order; then the coverage check."""
    w = Walk(t, box)
    # This machine's image comes from a Docker one, whose policy-rc.d forbids
    # maintainer scripts to start or stop services; a Debian server has none.
    w.plumbing("rm -f /usr/sbin/policy-rc.d")
    # Built by test_packages.py with this very script (and a build folder).
    w.ran.append("deploy/build-packages.sh /tmp/trellis-debs")
    try:
        install(w, node_deb, agent_deb)
        join(w)
        first_start(w)
        agent_service(w)
        revoke_and_crls(w)
        renew(w)
        rollover(w)
        revoke_ca(w)
        backup_restore(w)
        remove(w)
    finally:
        missing = w.uncovered()
        t.equal(missing, [], "every command docs/operations.md shows is run by the walk")
        r = box.run("journalctl -u trellisd -o cat | tail -n 40")
        print("     the node's last log lines in the container:\n" + r.stdout[-4000:], flush=True)
