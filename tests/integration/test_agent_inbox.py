"""`trellis agent run` over a real node: files dropped in the inbox are
taken once complete (a file still being written is left alone until it
stops changing), pushed with the mapping their name matches, and moved to
done/ or failed/ with a .why file; temporary names are ignored; with the
node down the files are spooled and sent when it is back; SIGTERM stops it
cleanly."""

import os
import shutil
import signal
import subprocess
import time

from agent_harness import Agent, publish_services
from harness import Checks, Node, PgCluster, Pki

t = Checks("test_agent_inbox")
ORG = "northside-womens-aid"
SRC = os.environ.get("TRELLIS_SOURCE_DIR",
                     os.path.join(os.path.dirname(__file__), "..", ".."))
EX = os.path.join(SRC, "deploy", "examples")


def wait_for(cond, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def count(pg, table):
    return int(pg.psql(f"SELECT count(*) FROM {table}")[0][0])


with PgCluster("inbox") as pg:
    pki = Pki()
    node = agent = run = None
    try:
        node = Node(pki, pg, org=ORG, name="node").start()
        publish_services(pki, node, ORG)
        agent = Agent(pki, node, ORG)
        os.makedirs(agent.inbox, exist_ok=True)
        with open(agent.conf, "a") as f:
            f.write(f"referrals*.csv = {EX}/referrals.map\nfeedback*.csv = {EX}/feedback.map\n")
        env = {"TRELLIS_POLL": "1", "TRELLIS_SETTLE": "4"}
        log = open(os.path.join(agent.dir, "run.log"), "w")
        run = agent.popen("agent", "run", env=env, stdout=log, stderr=subprocess.STDOUT)
        inbox = agent.inbox
        done = os.path.join(inbox, "done")
        failed = os.path.join(inbox, "failed")

        # A file written slowly: never taken before it is complete.
        lines = open(os.path.join(EX, "referrals.csv"), newline="").read().split("\r\n")
        slow = os.path.join(inbox, "referrals-2026-11-20.csv")
        with open(slow, "w", newline="") as f:
            for i, line in enumerate(lines):
                f.write(line + ("\r\n" if i < len(lines) - 1 else ""))
                f.flush()
                time.sleep(0.5)
                if os.path.exists(os.path.join(done, "referrals-2026-11-20.csv")):
                    break
        t.check(not os.path.exists(os.path.join(done, "referrals-2026-11-20.csv"))
                and os.path.exists(slow), "a file still being written is left in the inbox")
        t.check(wait_for(lambda: os.path.exists(os.path.join(done, "referrals-2026-11-20.csv"))),
                "once complete, the export is taken and moved to done/")
        t.check(wait_for(lambda: count(pg, "pathway_events") == 6)
                and count(pg, "pathway_referrals") == 4,
                "all of it reached the node: 4 referrals, 6 events")

        # A temporary name is never taken; renamed, it is.
        part = os.path.join(inbox, "feedback-nov.csv.part")
        shutil.copy(os.path.join(EX, "feedback.csv"), part)
        time.sleep(6)
        t.check(os.path.exists(part), "a .part file is left alone")
        os.rename(part, os.path.join(inbox, "feedback-nov.csv"))
        why = os.path.join(done, "feedback-nov.csv.why")
        t.check(wait_for(lambda: os.path.exists(why)), "the renamed file is taken")
        text = open(why).read() if os.path.exists(why) else ""
        t.check("line 4, column 'What They Said': quarantined" in text and "07700" not in text,
                "a .why beside it names the quarantined row, not its value", text)
        t.check(wait_for(lambda: count(pg, "feedback_entries") == 3), "the clean feedback is sent")

        # A file the agent cannot read, and one no mapping matches: failed/ with a .why.
        with open(os.path.join(inbox, "referrals-bad.csv"), "w") as f:
            f.write("Case Ref,Referral Date\r\nX1,01/11/2026\r\n")
        with open(os.path.join(inbox, "minutes.docx"), "w") as f:
            f.write("not an export")
        t.check(wait_for(lambda: os.path.exists(os.path.join(failed, "referrals-bad.csv.why"))
                         and os.path.exists(os.path.join(failed, "minutes.docx.why"))),
                "unreadable and unmapped files go to failed/ with a .why")
        text = open(os.path.join(failed, "referrals-bad.csv.why")).read()
        t.check("line 1: the header has no column" in text, "the .why says what and where", text)

        # The node down: the file is spooled and moved; sent once the node is back.
        node.stop()
        feb = os.path.join(inbox, "feedback-dec.csv")
        with open(feb, "w", newline="") as f:
            f.write(open(os.path.join(EX, "feedback.csv"), newline="").read()
                    .replace("FB-1", "FB-2"))
        t.check(wait_for(lambda: os.path.exists(os.path.join(done, "feedback-dec.csv"))),
                "with the node down, the file is still spooled and moved to done/")
        t.check(wait_for(lambda: agent.spool_sql("SELECT count(*) FROM queue")[0][0] == 3),
                "its records wait in the spool")
        node.start()
        t.check(wait_for(lambda: count(pg, "feedback_entries") == 6, timeout=180),
                "node back: the running agent sends them")

        run.send_signal(signal.SIGTERM)
        try:
            rc = run.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
        t.equal(rc, 0, "SIGTERM stops the agent cleanly")
        log.close()
        out = open(os.path.join(agent.dir, "run.log")).read()
        t.check("Tom" not in out and "07700" not in out and "Jane" not in out,
                "the agent's log holds no personal data")
    finally:
        if run and run.poll() is None:
            run.kill()
            run.wait()
        for x in (agent, node):
            if x:
                x.close()
        pki.close()

t.finish()
