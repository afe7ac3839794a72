"""Exactly once, the hard way: `trellis push` killed with SIGKILL at random
moments mid-push, 25 times, then resumed; then the node killed with
SIGKILL mid-push and restarted, 5 times. At the end every record the export
stands for is on the node exactly once (checked in its database against the
ids a dry run lists) and the spool is empty."""

import json
import os
import random
import signal
import subprocess
import time

from agent_harness import Agent, publish_services
from harness import Checks, Node, PgCluster, Pki

t = Checks("test_agent_durability")
ORG = "northside-womens-aid"
SRC = os.environ.get("TRELLIS_SOURCE_DIR",
                     os.path.join(os.path.dirname(__file__), "..", ".."))
REF_MAP = os.path.join(SRC, "deploy", "examples", "referrals.map")
HEADER = ("Case Ref,Client Name,Date of Birth,Address,Postcode,Phone,Referral Date,"
          "Referring Team,Referred To,Support Needs,DASH Risk,Referral Source,Date Accepted,"
          "Date Declined,Decline Reason,Date First Contact,Date Closed,Closure Reason,"
          "Worker Notes")
TEAMS = ["Refuge Team", "IDVA Service", "Clearview"]
PARTNERS = ["Riverside ISVA", "Riverside Counselling", "Eastgate Young People",
            "Eastgate Safe Space"]
NEEDS = ["Housing", "Legal advice", "Counselling", "Refuge accommodation", "Mental health"]


def export(path, prefix, n, seed):
    rng = random.Random(seed)
    with open(path, "w", newline="") as f:
        f.write(HEADER + "\r\n")
        for i in range(n):
            day = 1 + i % 20
            accepted = declined = contacted = ""
            fate = rng.random()
            if fate < 0.4:
                accepted = f"{day + 1:02d}/10/2026"
                if fate < 0.2:
                    contacted = f"{day + 3:02d}/10/2026"
            elif fate < 0.6:
                declined = f"{day + 2:02d}/10/2026"
            f.write(f"{prefix}-{i:05d},Client {i},01/0{1 + i % 9}/19{60 + i % 40},"
                    f"\"{i} Some Street, Leeds\",LS{1 + i % 20} {1 + i % 9}AB,0770090{i % 10000:04d},"
                    f"{day:02d}/10/2026,{rng.choice(TEAMS)},{rng.choice(PARTNERS)},"
                    f"{rng.choice(NEEDS)};{rng.choice(NEEDS)},High,Police,{accepted},{declined},"
                    f"{'Out of area' if declined else ''},{contacted},,,\"note {i}\"\r\n")


def expected_ids(agent, path):
    r = agent.run("push", "--mapping", REF_MAP, "--dry-run", path)
    assert r.returncode == 0, r.stderr
    return {(d["kind"], d["id"]) for d in map(json.loads, r.stdout.splitlines())}


def node_ids(pg):
    rows = pg.psql("SELECT 'pathway.referral', id FROM pathway_referrals UNION ALL "
                   "SELECT 'pathway.event', id FROM pathway_events")
    return rows


with PgCluster("durable") as pg:
    pki = Pki()
    node = agent = None
    try:
        node = Node(pki, pg, org=ORG, name="node").start()
        publish_services(pki, node, ORG)
        agent = Agent(pki, node, ORG, extra=["--batch", "100"])
        rng = random.Random(8)

        # --- the agent killed mid-push, 25 times ---
        first = os.path.join(agent.dir, "first.csv")
        export(first, "DUR", 2500, 1)
        want = expected_ids(agent, first)
        kills = runs = 0
        while kills < 25 and runs < 60:
            # Mostly a fresh push (re-spools the file, killed while reading or
            # sending), sometimes a sync (only sends what is left).
            args = ("sync",) if runs % 4 == 3 else ("push", "--mapping", REF_MAP, first)
            p = agent.popen(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.05, 1.2))
            runs += 1
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            p.wait()
        t.check(kills >= 25, f"the agent was killed with SIGKILL mid-push {kills} times "
                f"({runs} runs)")
        r = agent.run("push", "--mapping", REF_MAP, first)
        t.check(r.returncode == 0, "a last push after the kills finishes", r.stdout + r.stderr)
        got = node_ids(pg)
        t.equal(len(got), len(want), f"the node holds exactly the {len(want)} records")
        t.check({(k, i) for k, i in got} == want, "every record on the node is one of the "
                "export's, and every one of the export's is there")
        t.equal(agent.spool_sql("SELECT count(*) FROM queue")[0][0], 0, "the spool is empty")
        t.equal(agent.spool_sql("SELECT count(*) FROM refused")[0][0], 0,
                "nothing refused: an event that overtook its referral in a parallel batch was "
                "held back and sent again")

        # --- the node killed mid-push, 5 times ---
        second = os.path.join(agent.dir, "second.csv")
        export(second, "NODEKILL", 2500, 2)
        want |= expected_ids(agent, second)
        restarts = 0
        for i in range(5):
            p = agent.popen("push", "--mapping", REF_MAP, second, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
            time.sleep(rng.uniform(0.3, 1.5))
            node.stop(signal.SIGKILL)
            time.sleep(rng.uniform(0.2, 1.0))
            node.start()
            restarts += 1
            out, err = p.communicate(timeout=300)
            if p.returncode != 0:
                t.check(False, f"push {i} with the node killed under it finishes",
                        out + err[-500:])
        t.equal(restarts, 5, "the node was killed and restarted under 5 pushes")
        got = node_ids(pg)
        t.equal(len(got), len(want), f"the node holds exactly the {len(want)} records")
        t.check({(k, i) for k, i in got} == want, "and they are the exports' records")
        t.equal(agent.spool_sql("SELECT count(*) FROM queue")[0][0], 0, "the spool is empty")
    finally:
        for x in (agent, node):
            if x:
                x.close()
        pki.close()

t.finish()
