"""The README's first command: deploy/demo.sh up, used through its
federation.json (a directory service written on one node is read on another,
over the API and in that node's database), status, and down, which must
leave no process behind (a hung trellisd, SIGSTOPped here, is killed), then
down again. As root it runs in a folder of mode 0700 (what mktemp makes,
like /root), which PostgreSQL's own user cannot reach; and as a user other
than root (postgres here, which needs no runuser). The script takes this
build's binaries (TRELLIS_DEMO_BUILD_DIR) rather than building its own: the
nodes run with the sanitizers, and their logs are checked."""

import copy
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
import uuid

import fedkit as fk
from fedkit import sd
from harness import BUILD_DIR, SOURCE_DIR, Checks

t = Checks("test_demo")
DEMO = os.path.join(SOURCE_DIR, "deploy", "demo.sh")


def request(node, method, path, body=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(node["ca"])
    ctx.load_cert_chain(node["agent_cert"], node["agent_key"])
    host, port = node["api_url"][len("https://"):].rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), timeout=20, context=ctx)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"} if body is not None else {})
        r = conn.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def running(pid):
    """Alive and not a zombie (a reaped or zombie process has stopped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])


def port_open(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def demo(demo_dir, *args, user=None, timeout=240):
    env = dict(os.environ, TRELLIS_DEMO_DIR=demo_dir, TRELLIS_DEMO_BUILD_DIR=BUILD_DIR)
    cmd = [DEMO, *args]
    if user:
        # Another user: a plain PATH (no root's own tools) and its own HOME.
        env.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=pwd.getpwnam(user).pw_dir)
        cmd = [shutil.which("runuser"), "-u", user, "--"] + cmd
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def service_from(org):
    rec = copy.deepcopy(sd.services(org)[1])
    rec["id"] = rec["body"]["id"] = str(uuid.uuid4())
    rec["body"]["name"] = "Written through federation.json"
    return rec


def one_run(label, user=None, hang_one=False):
    demo_dir = tempfile.mkdtemp(prefix="trellis-demo-")
    if user:
        pw = pwd.getpwnam(user)
        os.chown(demo_dir, pw.pw_uid, pw.pw_gid)
    t.equal(oct(os.stat(demo_dir).st_mode & 0o777), "0o700", f"{label}: demo folder is 0700")
    pg_dirs, pids, pg_pids = [], {}, []
    try:
        r = demo(demo_dir, user=user)
        t.check(r.returncode == 0, f"{label}: demo.sh up exits 0", (r.stdout + r.stderr)[-1500:])
        with open(os.path.join(demo_dir, "federation.json")) as f:
            nodes = json.load(f)["nodes"]
        t.equal([n["org"] for n in nodes], sd.ORGS, f"{label}: federation.json lists three nodes")
        for n in nodes:
            with open(n["pid_file"]) as f:
                pids[n["org"]] = int(f.read())
        t.check(all(running(p) for p in pids.values()), f"{label}: the three trellisd run")
        for org in sd.ORGS:
            pg = os.path.realpath(os.path.join(demo_dir, org, "pg"))
            pg_dirs.append(pg)
            with open(os.path.join(pg, "data", "postmaster.pid")) as f:
                pg_pids.append(int(f.readline()))
        me = pwd.getpwnam(user).pw_uid if user else os.geteuid()
        pg_uid = pwd.getpwnam("postgres").pw_uid if me == 0 else me
        t.equal({uid_of(p) for p in pg_pids}, {pg_uid},
                f"{label}: PostgreSQL runs as {pwd.getpwuid(pg_uid).pw_name}")
        t.equal({uid_of(p) for p in pids.values()}, {me},
                f"{label}: trellisd runs as {pwd.getpwuid(me).pw_name}")

        # A record written on one node is read on another.
        rec = service_from(nodes[0]["org"])
        status, reply = request(nodes[0], "POST", "/v1/records", {"records": [rec]})
        t.check(status == 200 and reply["stored"] == 1,
                f"{label}: a directory service is stored on {nodes[0]['org']}", str(reply)[:300])
        got = fk.wait_for(lambda: (lambda r: r if r[0] == 200 else None)(
            request(nodes[1], "GET", f"/v1/records/directory.service/{rec['id']}")), 20)
        status, doc = got if got else (None, None)
        t.check(status == 200 and doc and doc["body"] == rec["body"] and
                doc["origin"] == nodes[0]["org"],
                f"{label}: {nodes[1]['org']} serves it, unchanged", f"{status} {str(doc)[:200]}")
        rows = subprocess.run(["psql", "-X", "-qAt", nodes[1]["database_url"], "-c",
                               f"SELECT origin FROM directory_services WHERE id = '{rec['id']}'"],
                              capture_output=True, text=True).stdout.split()
        t.equal(rows, [nodes[0]["org"]], f"{label}: and holds it in its database")
        n_refs = subprocess.run(["psql", "-X", "-qAt", nodes[2]["database_url"], "-c",
                                 "SELECT count(*) FROM pathway_referrals"],
                                capture_output=True, text=True).stdout.strip()
        t.equal(n_refs, "300", f"{label}: the sample referrals of all three reached the third")

        # Each node's viewer, on loopback without a proxy, named in federation.json.
        for n in nodes:
            try:
                with urllib.request.urlopen(n["viewer_url"] + "feedback", timeout=20) as resp:
                    page, ctype = resp.read().decode(), resp.headers.get("Content-Type", "")
            except (OSError, KeyError) as e:
                page, ctype = str(e), ""
            t.check(n.get("viewer_url", "").startswith("http://127.0.0.1:")
                    and ctype.startswith("text/html") and "Feedback log" in page
                    and "People said they waited too long to hear back" in page,
                    f"{label}: {n['org']}'s viewer_url serves its feedback log", page[:200])
        r = demo(demo_dir, "status", user=user)
        t.equal(r.stdout.count("running (pid"), 3, f"{label}: demo.sh status shows three running")

        if hang_one:
            os.kill(pids[sd.ORGS[2]], signal.SIGSTOP)
        r = demo(demo_dir, "down", user=user)
        t.equal(r.returncode, 0, f"{label}: demo.sh down exits 0")
        if hang_one:
            t.check("did not stop on SIGTERM: killed" in r.stderr,
                    f"{label}: down says it killed the hung trellisd", r.stderr)
        time.sleep(0.2)
        left = [p for p in list(pids.values()) + pg_pids if running(p)]
        t.equal(left, [], f"{label}: down leaves no trellisd or PostgreSQL running")
        ports = [int(n["api_url"].rsplit(":", 1)[1]) for n in nodes] + \
                [int(n["database_url"].split(":")[2].split("/")[0]) for n in nodes]
        t.equal([p for p in ports if port_open(p)], [], f"{label}: and nothing listens on its ports")
        t.check(not any(os.path.exists(n["pid_file"]) for n in nodes),
                f"{label}: pid files removed")
        for n in nodes if not hang_one else nodes[:2]:
            events = [json.loads(x) for x in open(n["log_file"]) if x.startswith("{")]
            t.check(events and events[-1].get("event") == "stopped" and
                    events[-1].get("exit_code") == 0, f"{label}: {n['org']} stopped cleanly")
        for n in nodes:
            bad = [x for x in open(n["log_file"], errors="replace") if fk.SANITIZER.search(x)]
            t.equal(bad, [], f"{label}: {n['org']}'s log holds no sanitizer report")
        r = demo(demo_dir, "down", user=user)
        t.check(r.returncode == 0 and "stopped" not in r.stderr,
                f"{label}: down again is a no-op", r.stderr)
    finally:
        demo(demo_dir, "down", user=user, timeout=60)
        # Whatever down left (it is a failure above): stopped here, not left running.
        for pid, sig in [(p, signal.SIGKILL) for p in pids.values()] + \
                [(p, signal.SIGQUIT) for p in pg_pids]:
            if running(pid):
                os.kill(pid, sig)
        shutil.rmtree(demo_dir, ignore_errors=True)
        for d in pg_dirs:
            if d.startswith("/var/tmp/trellis-demo-pg."):
                shutil.rmtree(d, ignore_errors=True)


if os.geteuid() == 0:
    one_run("as root")
    one_run("as postgres", user="postgres", hang_one=True)
else:
    # Not root: only this user's run is possible (runuser needs root).
    print("note: not root, so the root run and the other-user run are not made", flush=True)
    one_run("as " + pwd.getpwuid(os.geteuid()).pw_name, hang_one=True)
t.finish()
