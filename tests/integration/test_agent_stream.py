"""A streaming `trellis push` against a real node: an export of many chunks
is sent while it is still being read (the progress shows batches sent before
the whole file was queued), every record reaches the node exactly once, with
its events; a large file malformed at its very end still spools and sends
nothing (it is checked before the chunks are committed)."""

import os
import re
import subprocess
import sys

from agent_harness import Agent, publish_services
from harness import Checks, Node, PgCluster, Pki

t = Checks("test_agent_stream")
ORG = "northside-womens-aid"
SRC = os.environ.get("TRELLIS_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
REF_MAP = os.path.join(SRC, "deploy", "examples", "referrals.map")
ROWS = 6000


def counts(pg):
    return tuple(int(pg.psql(f"SELECT count(*) FROM {tbl}")[0][0])
                 for tbl in ("pathway_referrals", "pathway_events"))


with PgCluster("agentstream") as pg:
    pki = Pki()
    node = agent = None
    try:
        node = Node(pki, pg, org=ORG, name="node").start()
        publish_services(pki, node, ORG)
        agent = Agent(pki, node, ORG)
        work = agent.dir
        export = os.path.join(work, "export.csv")
        # The benchmark's generator: the CMS dialect of deploy/examples, every
        # third row with a later "accepted" status (an event record).
        subprocess.run([sys.executable, os.path.join(SRC, "tests", "bench", "bench_agent_data.py"),
                        str(ROWS), export, "1"], check=True)
        events = len(range(0, ROWS, 3))

        # --- a file of many chunks (batch 50, 2 in parallel: 100 rows a chunk) ---
        r = agent.run("push", "--batch", "50", "--parallel", "2", "--mapping", REF_MAP, export)
        total = ROWS + events
        t.check(r.returncode == 0
                and f"node: {total} sent, {total} stored, 0 unchanged, 0 refused" in r.stdout,
                "the whole export is stored", r.stdout + r.stderr[-600:])
        t.equal(counts(pg), (ROWS, events), "the node holds every referral and event once")
        # Each batch line says how many were sent of how many were queued at
        # the time: below the file's total, the sending started before the
        # reading ended.
        of = [int(m) for m in re.findall(r"\(\d+ of (\d+)\)", r.stderr)]
        t.check(len(of) >= total // 50 and min(of) < total,
                "batches were sent while the file was still being read",
                f"{len(of)} batch lines, first queued totals {of[:5]}")
        t.equal(agent.spool_sql("SELECT count(*) FROM queue")[0][0], 0,
                "the spool is empty once the node answered for everything")

        # --- the same file again: every record unchanged, nothing doubled ---
        r = agent.run("push", "--batch", "50", "--mapping", REF_MAP, export)
        t.check(r.returncode == 0 and f"{total} unchanged" in r.stdout,
                "pushed again: every record unchanged", r.stdout + r.stderr[-300:])
        t.equal(counts(pg), (ROWS, events), "and nothing doubled on the node")

        # --- malformed at its very end: nothing of it spooled or sent ---
        bad = os.path.join(work, "bad.csv")
        subprocess.run([sys.executable, os.path.join(SRC, "tests", "bench", "bench_agent_data.py"),
                        str(ROWS), bad], check=True)
        with open(bad, "r", encoding="utf-8-sig", newline="") as f:
            text = f.read().replace("BENCH-", "LATE-")
        with open(bad, "w", encoding="utf-8-sig", newline="") as f:
            f.write(text + 'LATE-X,"an unterminated quote,01/01/1990\r\n')
        r = agent.run("push", "--batch", "50", "--parallel", "2", "--mapping", REF_MAP, bad)
        t.check(r.returncode == 5 and "nothing of this file was spooled" in r.stderr,
                "a file malformed at its end: exit 5, nothing of it spooled", r.stderr[-400:])
        t.equal(counts(pg), (ROWS, events), "none of its rows reached the node")
        t.equal(agent.spool_sql("SELECT count(*) FROM queue")[0][0], 0,
                "and none wait in the spool")
    finally:
        for x in (agent, node):
            if x:
                x.close()
        pki.close()

t.finish()
