"""`trellis directory pull` and `watch` against a real node: the shared
directory as JSON and as CSV; watch keeps its file current as services
change, across a node restart, replacing the file whole; `agent run` with
[agent] directory_out keeps it too, through the long-poll feed in a thread
of its own: a change reaches the file long before the agent's next look at
the inbox, across a node restart, and the inbox is not held up by it."""

import copy
import csv
import json
import os
import signal
import subprocess
import sys
import time

from agent_harness import Agent
from harness import Checks, Node, PgCluster, Pki, api

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "deploy"))
import sample_data as sd  # noqa: E402

t = Checks("test_agent_directory")
ORG = sd.ORGS[0]


def wait_for(cond, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


with PgCluster("directory") as pg:
    pki = Pki()
    node = agent = watch = None
    try:
        node = Node(pki, pg, org=ORG, name="node").start()
        agent = Agent(pki, node, ORG)
        services = sd.services(ORG)
        status, _, reply = api(node, agent.certs, "POST", "/v1/records", {"records": services})
        t.check(status == 200 and reply["stored"] == len(services), "the services are on the node",
                str(reply)[:300])

        out = os.path.join(agent.dir, "directory.json")
        r = agent.run("directory", "pull", "--out", out)
        doc = load(out)
        t.check(r.returncode == 0 and isinstance(doc, list) and len(doc) == 3
                and sorted(s["name"] for s in doc) == [s["name"] for s in doc],
                "directory pull: the services as ORUK objects, sorted by name", r.stdout + r.stderr)
        t.check(all(s.get("trellis_origin") == ORG and "organization" in s for s in doc),
                "each with its origin and organisation")
        outcsv = os.path.join(agent.dir, "directory.csv")
        r = agent.run("directory", "pull", "--out", outcsv, "--format", "csv")
        with open(outcsv, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        t.check(r.returncode == 0 and len(rows) == 3 and rows[0]["name"]
                and rows[0]["organisation"] == sd.ORG_NAMES[ORG] and ";" in rows[0]["needs"],
                "directory pull --format csv: a row per service", str(rows[:1]))
        r = agent.run("directory", "pull")
        t.equal(r.returncode, 2, "pull without --out is a usage error")

        # --- watch: changes reach the file, across a node restart ---
        wout = os.path.join(agent.dir, "watched.json")
        log = open(os.path.join(agent.dir, "watch.log"), "w")
        watch = agent.popen("directory", "watch", "--out", wout, stdout=log,
                            stderr=subprocess.STDOUT)
        t.check(wait_for(lambda: load(wout) and len(load(wout)) == 3), "watch writes the file")

        def taking(path, sid):
            for s in load(path) or []:
                if s["id"] == sid:
                    return s["trellis"]["taking_referrals"]
            return None

        svc = copy.deepcopy(services[0])
        sid = svc["id"]
        for version, value in ((2, not svc["body"]["trellis"]["taking_referrals"]),):
            svc["version"] = version
            svc["body"]["trellis"]["taking_referrals"] = value
            api(node, agent.certs, "POST", "/v1/records", {"records": [svc]})
        t.check(wait_for(lambda: taking(wout, sid) == svc["body"]["trellis"]["taking_referrals"],
                         timeout=20), "a changed service reaches the watched file")
        node.stop()
        time.sleep(1.5)
        node.start()
        svc["version"] = 3
        svc["body"]["trellis"]["taking_referrals"] = not svc["body"]["trellis"]["taking_referrals"]
        api(node, agent.certs, "POST", "/v1/records", {"records": [svc]})
        t.check(wait_for(lambda: taking(wout, sid) == svc["body"]["trellis"]["taking_referrals"],
                         timeout=60), "after a node restart, watch carries on and updates it")
        t.check(not os.path.exists(wout + ".tmp"), "no temporary file left beside it")
        watch.send_signal(signal.SIGTERM)
        try:
            rc = watch.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
        t.equal(rc, 0, "SIGTERM stops watch")

        # --- the running agent keeps it too ---
        os.makedirs(agent.inbox, exist_ok=True)
        aout = os.path.join(agent.dir, "agent-directory.csv")
        r = agent.run("agent", "run", "--once", env={"TRELLIS_DIRECTORY_OUT": aout,
                                                     "TRELLIS_DIRECTORY_FORMAT": "csv"})
        t.check(r.returncode == 0 and os.path.exists(aout) and "directory: wrote" in r.stderr,
                "agent run --once with directory_out writes the directory", r.stderr)

        # --- agent run keeps it current by the long poll (its inbox look is 5 minutes off) ---
        def bump(value):
            svc["version"] += 1
            svc["body"]["trellis"]["taking_referrals"] = value
            status, _, reply = api(node, agent.certs, "POST", "/v1/records", {"records": [svc]})
            return status == 200 and reply.get("stored") == 1

        jout = os.path.join(agent.dir, "agent-directory.json")
        alog = open(os.path.join(agent.dir, "agent-run.log"), "w")
        run = agent.popen("agent", "run", env={"TRELLIS_DIRECTORY_OUT": jout, "TRELLIS_POLL": "300"},
                          stdout=alog, stderr=subprocess.STDOUT)
        try:
            t.check(wait_for(lambda: load(jout) and len(load(jout)) == 3),
                    "agent run writes the directory file")
            want = not taking(jout, sid)
            t.check(bump(want) and wait_for(lambda: taking(jout, sid) == want, timeout=15),
                    "a changed service reaches the agent's file within seconds (long poll)")
            node.stop()
            time.sleep(1.5)
            node.start()
            want = not want
            t.check(bump(want) and wait_for(lambda: taking(jout, sid) == want, timeout=60),
                    "and again after a node restart")
            started = time.time()
            run.send_signal(signal.SIGTERM)
            try:
                rc = run.wait(20)
            except subprocess.TimeoutExpired:
                rc = None
            t.check(rc == 0 and time.time() - started < 10,
                    "SIGTERM stops agent run promptly, its long poll cut short",
                    f"rc {rc} after {time.time() - started:.1f} s")
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
            alog.close()

        # --- ... and the inbox is not held up by the long poll ---
        run = agent.popen("agent", "run", env={"TRELLIS_DIRECTORY_OUT": jout, "TRELLIS_POLL": "1",
                                               "TRELLIS_SETTLE": "0"},
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)  # the directory thread is waiting on the feed by now
            with open(os.path.join(agent.inbox, "unmapped.csv"), "w") as f:
                f.write("a,b\n1,2\n")
            t.check(wait_for(lambda: os.path.exists(os.path.join(agent.inbox, "failed",
                                                                 "unmapped.csv")), timeout=10),
                    "an inbox file is taken while the directory thread long-polls")
            want = not want
            t.check(bump(want) and wait_for(lambda: taking(jout, sid) == want, timeout=15),
                    "while the directory is still kept")
        finally:
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(20)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()
    finally:
        if watch and watch.poll() is None:
            watch.kill()
            watch.wait()
        for x in (agent, node):
            if x:
                x.close()
        pki.close()

t.finish()
