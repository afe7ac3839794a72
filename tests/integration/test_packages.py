"""The .deb packages: deploy/build-packages.sh builds trellisd and trellis
(release, no sanitizers) into a temporary folder; lintian finds no error in
them; they hold the paths the operator's guide names (binaries, migrations
under /usr/share/trellis/sql, /etc/trellis with its conffile, /var/lib/trellis,
the systemd units); `systemd-analyze security --offline=yes` rates the node's
unit 2.0 or lower; and the packaged node starts from its packaged paths, as
the trellis user, with its key handed over the way LoadCredential= does.
As root, docs/operations.md is then walked command by command in a container
with a real systemd (ops_guide.py, nspawn.py).

As root the packages are installed with dpkg (and purged at the end): the real
check that the installed paths work together. Otherwise (or with
TRELLIS_PACKAGES_NO_INSTALL=1) they are unpacked with dpkg-deb -x and the node
runs from there; the test says which it did."""

import glob
import grp
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

import nspawn
import ops_guide
from harness import SOURCE_DIR, Checks, Node, PgCluster, Pki

t = Checks("test_packages")
work = tempfile.mkdtemp(prefix="trellis-packages-")
out = os.path.join(work, "out")
UNIT_SCORE_MAX = 2.0


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def contents(deb):
    """Paths in a .deb, as /etc/trellis/trellisd.conf (folders end with /)."""
    r = run(["dpkg-deb", "--contents", deb])
    return {line.split(None, 5)[5].split(" -> ")[0].lstrip(".") for line in r.stdout.splitlines()}


def field(deb, name):
    return run(["dpkg-deb", "--field", deb, name]).stdout.strip()


def control_file(deb, name):
    d = tempfile.mkdtemp(dir=work)
    subprocess.run(["dpkg-deb", "--control", deb, d], check=True)
    p = os.path.join(d, name)
    return open(p).read() if os.path.exists(p) else None


def syscall_set(group):
    """The system calls of a systemd filter group, nested groups expanded."""
    out = set()
    r = run(["systemd-analyze", "syscall-filter", "--no-pager", group])
    for line in r.stdout.splitlines()[1:]:
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        out |= syscall_set(name) if name.startswith("@") else {name}
    return out


def exposure(unit_path):
    """systemd-analyze's overall exposure of a unit file, offline (no running systemd)."""
    r = run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit_path])
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout + r.stderr)
    return (float(m.group(1)) if m else None), r


try:
    # ---- build (TRELLIS_PACKAGES_DIR: packages built before, to try the rest quickly) ----
    if os.environ.get("TRELLIS_PACKAGES_DIR"):
        out = os.environ["TRELLIS_PACKAGES_DIR"]
        print(f"     NOT BUILT by this run: the packages in {out}", flush=True)
    else:
        r = run([os.path.join(SOURCE_DIR, "deploy", "build-packages.sh"), out,
                 os.path.join(work, "build")])
        t.check(r.returncode == 0, "deploy/build-packages.sh builds the packages",
                r.stdout[-2000:] + r.stderr[-3000:])
    node_debs = glob.glob(os.path.join(out, "trellisd_*.deb"))
    agent_debs = glob.glob(os.path.join(out, "trellis_*.deb"))
    t.check(len(node_debs) == 1 and len(agent_debs) == 1, "one trellisd and one trellis .deb",
            str(os.listdir(out) if os.path.isdir(out) else "no output folder"))
    if not (node_debs and agent_debs):
        raise SystemExit
    node_deb, agent_deb = node_debs[0], agent_debs[0]
    print(f"packages: {os.path.basename(node_deb)} {os.path.basename(agent_deb)}", flush=True)

    # ---- lintian: no error (warnings and information are printed, not judged) ----
    r = run(["lintian", "--tag-display-limit", "0", node_deb, agent_deb])
    tags = [line for line in r.stdout.splitlines() if re.match(r"^[EWIPXO]: ", line)]
    for line in tags:
        print(f"     lintian {line}", flush=True)
    errors = [line for line in tags if line.startswith("E: ")]
    t.check(r.returncode in (0, 1), "lintian ran on both packages", r.stderr[-2000:])
    t.equal(errors, [], "lintian: no error in either package")

    # ---- contents ----
    have = contents(node_deb)
    sql = sorted(os.path.relpath(p, os.path.join(SOURCE_DIR, "sql"))
                 for p in glob.glob(os.path.join(SOURCE_DIR, "sql", "**", "*.sql"),
                                    recursive=True))
    t.check(len(sql) >= 10, "the source tree has migrations and functions", str(sql))
    want = {"/usr/bin/trellisd", "/etc/trellis/", "/etc/trellis/trellisd.conf",
            "/var/lib/trellis/", "/lib/systemd/system/trellisd.service",
            "/usr/share/doc/trellisd/copyright", "/usr/share/doc/trellisd/changelog.gz",
            "/usr/share/doc/trellisd/operations.md",
            "/usr/share/trellis/examples/trellisd.conf.example"}
    want |= {f"/usr/share/trellis/sql/{f}" for f in sql}
    t.equal(sorted(want - have), [], "trellisd holds its binary, every migration and function "
            "under /usr/share/trellis/sql, /etc/trellis, /var/lib/trellis and its unit")
    t.equal(sorted(p for p in have if p.startswith("/usr/share/trellis/sql/")
                   and not p.endswith("/")),
            sorted(f"/usr/share/trellis/sql/{f}" for f in sql),
            "the packaged sql folder is the source's, nothing more")
    t.equal(control_file(node_deb, "conffiles"), "/etc/trellis/trellisd.conf\n",
            "trellisd: /etc/trellis/trellisd.conf is a conffile")
    t.check("adduser" in field(node_deb, "Depends") and "libpq5" in field(node_deb, "Depends"),
            "trellisd depends on adduser and its libraries", field(node_deb, "Depends"))
    postinst = control_file(node_deb, "postinst") or ""
    t.check("adduser --system" in postinst and "trellis" in postinst,
            "postinst makes the trellis system user")

    have = contents(agent_deb)
    want = {"/usr/bin/trellis", "/etc/trellis/", "/var/lib/trellis/",
            "/lib/systemd/system/trellis-agent.service", "/usr/share/doc/trellis/copyright",
            "/usr/share/doc/trellis/changelog.gz", "/usr/share/doc/trellis/agent.md"}
    t.equal(sorted(want - have), [], "trellis holds its binary, /etc/trellis, /var/lib/trellis "
            "and the agent's unit")
    t.check(not any(p.startswith("/usr/share/trellis/sql") for p in have),
            "the agent's package holds no migrations")
    t.check("adduser --system" in (control_file(agent_deb, "postinst") or ""),
            "the agent's postinst makes the trellis system user too")

    # ---- the units, from the packages ----
    unpacked = os.path.join(work, "root")
    for deb in (node_deb, agent_deb):
        subprocess.run(["dpkg-deb", "-x", deb, unpacked], check=True)
    unit = open(os.path.join(unpacked, "lib/systemd/system/trellisd.service")).read()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1).split()
    t.equal(exec_start, ["/usr/bin/trellisd", "--config", "/etc/trellis/trellisd.conf"],
            "the node's unit starts the packaged binary on the packaged config")
    t.check(re.search(r"^LoadCredential=node\.key:/etc/trellis/node\.key$", unit, re.M),
            "the node's unit hands over its key with LoadCredential=")
    t.check(re.search(r"^User=trellis$", unit, re.M), "the node runs as the trellis user")
    conf = open(os.path.join(unpacked, "etc/trellis/trellisd.conf")).read()
    t.check(re.search(r"^key = %d/node\.key$", conf, re.M),
            "the packaged config reads the key from the credentials folder (%d/node.key)")
    agent_unit = open(os.path.join(unpacked, "lib/systemd/system/trellis-agent.service")).read()
    t.check("ExecStart=/usr/bin/trellis agent run" in agent_unit,
            "the agent's unit starts the packaged binary")

    score, r = exposure(os.path.join(unpacked, "lib/systemd/system/trellisd.service"))
    print(f"     systemd-analyze security: trellisd.service {score}", flush=True)
    t.check(score is not None and score <= UNIT_SCORE_MAX,
            f"systemd-analyze security --offline=yes rates trellisd.service {score} "
            f"(<= {UNIT_SCORE_MAX})", (r.stdout + r.stderr)[-3000:])
    score, r = exposure(os.path.join(unpacked, "lib/systemd/system/trellis-agent.service"))
    print(f"     systemd-analyze security: trellis-agent.service {score}", flush=True)
    t.check(score is not None and score <= UNIT_SCORE_MAX,
            f"systemd-analyze security --offline=yes rates trellis-agent.service {score} "
            f"(<= {UNIT_SCORE_MAX})", (r.stdout + r.stderr)[-3000:])

    # ---- the operator's guide, every command, under a real systemd ----
    why = nspawn.available()
    if why:
        print(f"     NOT RUN: docs/operations.md under systemd ({why})", flush=True)
        t.check(os.geteuid() != 0, "docs/operations.md is run under systemd (as root)", why)
    else:
        box = nspawn.Container()
        try:
            print(f"     container: systemd {box.boot()}", flush=True)
            ops_guide.walk(t, box, node_deb, agent_deb)
        finally:
            box.close()

    # ---- the packaged node, started from its packaged paths ----
    install = os.geteuid() == 0 and not os.environ.get("TRELLIS_PACKAGES_NO_INSTALL")
    if install:
        subprocess.run(["dpkg", "--purge", "trellisd", "trellis"], capture_output=True)
        # apt-get rather than dpkg -i: it waits for the dpkg lock another apt may hold.
        r = run(["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300",
                 node_deb, agent_deb], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if not t.check(r.returncode == 0, "the packages install with dpkg (apt-get, local files)",
                       r.stdout[-2000:] + r.stderr[-2000:]):
            raise SystemExit
        root = "/"
        print("     mode: installed with dpkg", flush=True)
    else:
        root = unpacked
        print("     mode: unpacked with dpkg-deb -x (not root, or TRELLIS_PACKAGES_NO_INSTALL)",
              flush=True)
    prefix = "" if root == "/" else root
    trellisd = prefix + "/usr/bin/trellisd"
    trellis = prefix + "/usr/bin/trellis"

    r = run([trellisd, "--print-example-config"])
    t.check(";migrations = /usr/share/trellis/sql" in r.stdout,
            "the packaged node's compiled-in migrations folder is /usr/share/trellis/sql")
    r = run([trellis, "--version"])
    t.check(r.returncode == 0 and r.stdout.startswith("trellis"), "the packaged agent runs",
            r.stdout + r.stderr)
    if install:
        user = pwd.getpwnam("trellis")
        t.check(user.pw_dir == "/var/lib/trellis" and user.pw_shell.endswith("nologin"),
                "postinst made the trellis system user (home /var/lib/trellis, no shell)")
        st = os.stat("/etc/trellis")
        t.check(st.st_uid == 0 and grp.getgrgid(st.st_gid).gr_name == "trellis"
                and st.st_mode & 0o777 == 0o750, "/etc/trellis is root:trellis 0750")
        st = os.stat("/var/lib/trellis")
        t.check(pwd.getpwuid(st.st_uid).pw_name == "trellis" and st.st_mode & 0o777 == 0o700,
                "/var/lib/trellis is the trellis user's, 0700")
        st = os.stat("/etc/trellis/trellisd.conf")
        t.check(grp.getgrgid(st.st_gid).gr_name == "trellis" and st.st_mode & 0o777 == 0o640,
                "/etc/trellis/trellisd.conf is root:trellis 0640")

    class PackagedPki(Pki):
        """The consortium's certificates, made by the packaged trellis command."""

        def run(self, *args, check=True):
            return subprocess.run([trellis, "pki", "--dir", self.dir, *args],
                                  check=check, capture_output=True, text=True)

    etc = prefix + "/etc/trellis"
    conf_path = os.path.join(etc, "trellisd.conf")
    creds = os.path.join(work, "credentials")
    with PgCluster("packages") as pg:
        pki = PackagedPki(os.path.join(work, "pki"))
        node = None
        try:
            node = Node(pki, pg, name="packaged")
            # What the operator's guide says to do: certificates in /etc/trellis, the key
            # root-only beside them, the database and the address into the config.
            # The guide's install commands (docs/operations.md, First start, step 2).
            for src, dst in ((node.certs["chain"], "node.crt"), (pki.ca, "ca.crt"),
                             (pki.crl, "crl.pem"), (node.certs["key"], "node.key")):
                mode = ["-m", "0644"]
                if dst == "node.key":
                    mode = (["-o", "root", "-g", "root"] if install else []) + ["-m", "0600"]
                subprocess.run(["install", *mode, src, os.path.join(etc, dst)], check=True)
            text = open(conf_path).read()
            text = re.sub(r"^listen = .*$", f"listen = 127.0.0.1:{node.port}", text, flags=re.M)
            text = re.sub(r"^url = .*$", f"url = {pg.url}", text, flags=re.M)
            if root != "/":
                # Unpacked: the packaged paths sit under the unpacked root.
                text = text.replace("/etc/trellis/", etc + "/")
                text = text.replace("/usr/share/trellis/sql", prefix + "/usr/share/trellis/sql")
            with open(conf_path, "w") as f:
                f.write(text)
            node.config_path = conf_path

            # systemd's LoadCredential=: a private copy of the key in a folder only the
            # service's user reads, named by $CREDENTIALS_DIRECTORY.
            os.makedirs(creds)
            shutil.copy(os.path.join(etc, "node.key"), os.path.join(creds, "node.key"))
            env = dict(os.environ, CREDENTIALS_DIRECTORY=creds)
            run_as = {}
            if install:
                u = pwd.getpwnam("trellis")
                for p in (creds, os.path.join(creds, "node.key")):
                    os.chown(p, u.pw_uid, u.pw_gid)
                os.chmod(creds, 0o500)
                os.chmod(os.path.join(creds, "node.key"), 0o400)
                os.chmod(work, 0o711)  # the trellis user walks to its credentials folder
                run_as = {"user": u.pw_uid, "group": u.pw_gid, "extra_groups": []}
                # Without the credential the trellis user cannot read the key at all.
                r = subprocess.run(["cat", "/etc/trellis/node.key"], capture_output=True,
                                   **run_as)
                t.check(r.returncode != 0, "the trellis user cannot read /etc/trellis/node.key "
                        "(root-only): only the credential carries it")

            def start_packaged(wait="ready"):
                node.account()
                node.log = open(node.log_path, "ab")
                node.proc = subprocess.Popen([trellisd, "--config", conf_path], env=env,
                                             stdout=node.log, stderr=node.log, **run_as)
                if wait:
                    node.wait(wait)
                return node

            node.start = start_packaged
            if install:
                # The guide's check before the first start: root, with /etc/trellis standing
                # in for the credentials folder.
                r = run(["sh", "-c", "CREDENTIALS_DIRECTORY=/etc/trellis trellisd --config "
                         "/etc/trellis/trellisd.conf --check-config"])
                t.check(r.returncode == 0 and "trellisd.conf is valid" in r.stdout + r.stderr,
                        "docs/operations.md's --check-config passes", r.stdout + r.stderr)
            r = subprocess.run([trellisd, "--config", conf_path, "--check-config"], env=env,
                               capture_output=True, text=True, **run_as)
            t.check(r.returncode == 0, "--check-config passes on the packaged config",
                    r.stdout + r.stderr)
            r = subprocess.run([trellisd, "--config", conf_path, "--check-config"],
                               env={k: v for k, v in env.items()
                                    if k != "CREDENTIALS_DIRECTORY"},
                               capture_output=True, text=True, **run_as)
            t.check(r.returncode == 1 and "$CREDENTIALS_DIRECTORY is not set" in r.stderr,
                    "outside systemd the packaged config says the credential is missing",
                    r.stderr)

            node.start()
            # One worker per core: start() saw one ready; the next request
            # may reach another that is still starting (503), so ask until
            # every worker has logged worker_ready.
            deadline = time.time() + 30
            while time.time() < deadline:
                ev = node.log_events()
                starts = [i for i, e in enumerate(ev) if e.get("event") == "workers_starting"]
                this = ev[starts[-1]:] if starts else ev  # this start's lines only
                want = this[0].get("workers", 1) if starts else 1
                if sum(e.get("event") == "worker_ready" for e in this) >= want:
                    break
                time.sleep(0.2)
            t.equal(node.curl("/readyz", agent=pki.agent("alpha", "laptop"))[0], 200,
                    "the packaged node, as the trellis user, is ready on the packaged paths")
            rows = pg.psql("SELECT count(*) FROM trellis_schema_migrations")
            migrations = glob.glob(os.path.join(SOURCE_DIR, "sql", "[0-9]*.sql"))
            t.equal(int(rows[0][0]), len(migrations),
                    "it applied every migration from /usr/share/trellis/sql")
            events = node.log_events()
            lines = [x for x in node.read_log().splitlines() if x.strip()]
            t.check(lines and len(events) == len(lines) and all(
                {"ts", "level", "event"} <= set(e) for e in events),
                    "its stderr (what journald keeps) is JSON lines", "\n".join(lines[:5]))
            t.equal(node.stop(), 0, "SIGTERM (systemctl stop) stops it with 0")

            # The unit's SystemCallFilter= cannot be tried without a running systemd: strace
            # lists what the packaged node calls through a start, requests, a reload and a
            # stop, and every call must be in the filter the unit sets.
            allowed = syscall_set("@system-service") - syscall_set("@privileged") \
                - syscall_set("@resources")
            t.check(len(allowed) > 100 and "openat" in allowed and "setuid" not in allowed,
                    "systemd-analyze lists the unit's system call filter", str(len(allowed)))
            t.check(re.search(r"^SystemCallFilter=@system-service$", unit, re.M) and
                    re.search(r"^SystemCallFilter=~@privileged @resources$", unit, re.M),
                    "the unit's filter is @system-service without @privileged and @resources")
            trace = os.path.join(work, "strace.out")
            log = open(node.log_path, "ab")
            strace = subprocess.Popen(
                ["strace", "-f", "-qq", "-o", trace] +
                (["-u", "trellis"] if install else []) + [trellisd, "--config", conf_path],
                env=env, stdout=log, stderr=log)
            node.proc = strace
            node.wait("ready")
            node.curl("/healthz")
            node.curl("/metrics")
            child = int(open(f"/proc/{strace.pid}/task/{strace.pid}/children").read().split()[0])

            # The agent, the same way, as its unit runs it: set up by the packaged trellis,
            # then traced through `agent status` and one round of `agent run` that takes an
            # export from the inbox, anonymises it, spools it and sends it to the node.
            adir = os.path.join(work, "agent")
            os.makedirs(adir)
            certs = pki.agent("alpha", "office")
            for src, dst in ((certs["chain"], "agent.crt"), (certs["key"], "agent.key"),
                             (pki.ca, "ca.crt")):
                shutil.copy(src, os.path.join(adir, dst))
            if install:
                for p in [adir] + [os.path.join(adir, f) for f in os.listdir(adir)]:
                    os.chown(p, run_as["user"], run_as["group"])
            aconf = os.path.join(adir, "agent.conf")
            r = subprocess.run(
                [trellis, "agent", "init", "--dir", adir, "--node", node.url,
                 "--ca", os.path.join(adir, "ca.crt"), "--cert", os.path.join(adir, "agent.crt"),
                 "--key", os.path.join(adir, "agent.key"), "--spool", os.path.join(adir, "spool"),
                 "--secret", os.path.join(adir, "secret"), "--inbox", os.path.join(adir, "inbox"),
                 "--outbox", os.path.join(adir, "outbox")],
                capture_output=True, text=True, **run_as)
            t.check(r.returncode == 0, "the packaged agent sets itself up (agent init)",
                    r.stdout + r.stderr)
            examples = prefix + "/usr/share/trellis/examples"
            with open(aconf, "a") as f:
                f.write(f"referrals*.csv = {examples}/referrals.map\n")
            shutil.copy(os.path.join(examples, "referrals.csv"),
                        os.path.join(adir, "inbox", "referrals-1.csv"))
            if install:
                os.chown(os.path.join(adir, "inbox", "referrals-1.csv"), run_as["user"],
                         run_as["group"])
            atrace = os.path.join(work, "strace-agent.out")
            as_trellis = ["-u", "trellis"] if install else []
            aenv = dict(os.environ, TRELLIS_POLL="1", TRELLIS_SETTLE="0")
            r = subprocess.run(["strace", "-f", "-qq", "-o", f"{atrace}.status", *as_trellis,
                                trellis, "agent", "status", "--config", aconf],
                               capture_output=True, text=True, timeout=300, env=aenv)
            t.check(r.returncode == 0, "traced agent: trellis agent status",
                    r.stdout[-1500:] + r.stderr[-1500:])
            alog = open(os.path.join(adir, "run.log"), "w")
            arun = subprocess.Popen(["strace", "-f", "-qq", "-o", f"{atrace}.run", *as_trellis,
                                     trellis, "agent", "run", "--config", aconf],
                                    env=aenv, stdout=alog, stderr=subprocess.STDOUT)
            deadline = time.time() + 60
            taken = os.path.join(adir, "inbox", "done", "referrals-1.csv")
            while time.time() < deadline and not os.path.exists(taken):
                time.sleep(0.2)
            time.sleep(2)  # its send round
            achild = int(open(f"/proc/{arun.pid}/task/{arun.pid}/children").read().split()[0])
            os.kill(achild, signal.SIGTERM)
            t.equal(arun.wait(60), 0, "traced agent: trellis agent run stops with 0 on SIGTERM")
            # The node answers for each record (it refuses these referrals: their services
            # are not in its directory, which does not matter to the system calls).
            text = open(os.path.join(adir, "run.log")).read()
            sent = sum(int(n) for n in re.findall(r"batch \d+: (\d+) sent", text))
            t.equal(sent, 10, "traced agent: it sent the export's 10 records to the node")
            t.check(os.path.exists(os.path.join(adir, "inbox", "done", "referrals-1.csv")),
                    "traced agent: the export was taken from the inbox")
            os.kill(child, signal.SIGHUP)
            deadline = time.time() + 20
            while time.time() < deadline and not any(
                    e.get("event") in ("tls_reloaded", "tls_reload_failed")
                    for e in node.log_events()):
                time.sleep(0.1)
            t.check(any(e.get("event") == "tls_reloaded" for e in node.log_events()),
                    "traced node: SIGHUP reloads the certificates")
            os.kill(child, signal.SIGTERM)
            t.equal(strace.wait(30), 0, "traced node: SIGTERM stops it with 0")
            strace.accounted = True
            called = set()
            for line in open(trace):
                m = re.match(r"^\d+\s+([a-z0-9_]+)\(", line)
                if m:
                    called.add(m.group(1))
            print(f"     the node made {len(called)} different system calls", flush=True)
            t.check(len(called) > 20, "strace saw the node's system calls", str(sorted(called)))
            t.equal(sorted(called - allowed - {"execve"}), [],
                    "every system call the packaged node made is in the unit's filter")
            agent_unit_filter = re.findall(r"^SystemCallFilter=(.*)$", agent_unit, re.M)
            t.equal(agent_unit_filter, ["@system-service", "~@privileged @resources"],
                    "the agent's unit sets the same filter")
            called = set()
            for name in ("status", "run"):
                for line in open(f"{atrace}.{name}"):
                    m = re.match(r"^\d+\s+([a-z0-9_]+)\(", line)
                    if m:
                        called.add(m.group(1))
            print(f"     the agent made {len(called)} different system calls", flush=True)
            if os.geteuid() == 0 and not install:
                # Run as root here, not as the unit's trellis user: SQLite then gives its
                # journal files the database's owner (fchown), which it never does otherwise.
                print("     agent traced as root: its fchown calls are not judged", flush=True)
                called -= {"fchown"}
            t.equal(sorted(called - allowed - {"execve"}), [],
                    "every system call the packaged agent made is in its unit's filter")
        finally:
            if node is not None:
                if node.proc and node.proc.poll() is None:
                    node.proc.kill()
                    node.proc.wait()
                if t.failed == 0:
                    shutil.rmtree(node.dir, ignore_errors=True)
                else:
                    print(f"     node log kept in {node.log_path}", flush=True)
            pki.close()
except SystemExit:
    pass  # a failed step the rest depends on: its check failed already
finally:
    if os.geteuid() == 0 and not os.environ.get("TRELLIS_PACKAGES_NO_INSTALL"):
        for f in ("node.crt", "ca.crt", "crl.pem", "node.key"):
            try:
                os.unlink(os.path.join("/etc/trellis", f))
            except OSError:
                pass
        r = run(["dpkg", "--purge", "trellisd", "trellis"])
        if r.returncode != 0:
            print(f"     dpkg --purge: {r.stderr.strip()}", flush=True)
    if t.failed == 0:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"     kept {work}", flush=True)

t.finish()
