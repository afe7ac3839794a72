"""The client agent against a real node over real TLS into real PostgreSQL:
`trellis agent init` and `agent status`; `trellis push` of the example
exports (dry run, for real, twice), quarantine and refusals, files the agent
must refuse; directly and through a real HTTP proxy (tinyproxy); with the
node down, then up. What reaches the node is checked in its database."""

import json
import os
import shutil
import stat
import subprocess
import time

from agent_harness import Agent, Proxy, publish_services
from harness import Checks, Node, PgCluster, Pki

t = Checks("test_agent_push")
ORG = "northside-womens-aid"
EXAMPLES = os.path.join(os.environ.get("TRELLIS_SOURCE_DIR", os.path.join(
    os.path.dirname(__file__), "..", "..")), "deploy", "examples")
REF_MAP = os.path.join(EXAMPLES, "referrals.map")
REF_CSV = os.path.join(EXAMPLES, "referrals.csv")
FB_MAP = os.path.join(EXAMPLES, "feedback.map")
FB_CSV = os.path.join(EXAMPLES, "feedback.csv")
# Everything identifying in the example exports: none may reach the node.
NEVER = ["Jane", "Example", "Sample", "Priya", "Maria", "Tom", "07700", "0113496",
         "LS6 1AA", "BD7 1DP", "LS11 5QT", "NWA-2026", "FB-10", "14/03/1988", "1988-03-14",
         "Street", "Road", "Lane", "female worker", "thank you", "maria@"]


def counts(pg):
    return {tbl: int(pg.psql(f"SELECT count(*) FROM {tbl}")[0][0])
            for tbl in ("pathway_referrals", "pathway_events", "feedback_entries")}


def node_text(pg):
    rows = pg.psql("SELECT doc::text FROM pathway_referrals UNION ALL "
                   "SELECT doc::text FROM pathway_events UNION ALL "
                   "SELECT doc::text FROM feedback_entries")
    return "\n".join(r[0] for r in rows)

with PgCluster("agent") as pg:
    pki = Pki()
    node = agent = proxy = None
    try:
        node = Node(pki, pg, org=ORG, name="node").start()
        publish_services(pki, node, ORG)
        agent = Agent(pki, node, ORG)

        # --- init: a commented agent.conf, a secret only we may read ---
        conf = open(agent.conf).read()
        t.check(conf.startswith("; Trellis agent configuration") and f"url = {node.url}" in conf,
                "agent init writes a commented agent.conf with the node's URL")
        st = os.stat(agent.secret)
        t.check(stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 65,
                "the local secret is 32 bytes in hex, mode 0600")
        secret = open(agent.secret).read()
        r = agent.run("agent", "init", "--dir", agent.dir, config=False)
        t.check(r.returncode == 5 and "exists already" in r.stderr,
                "a second init refuses to replace agent.conf", r.stderr)
        r = agent.run("agent", "init", "--dir", agent.dir, "--force", "--node", node.url,
                      "--ca", pki.ca, "--cert", agent.certs["chain"], "--key",
                      agent.certs["key"], "--spool", agent.spool, "--secret", agent.secret,
                      config=False)
        t.check(r.returncode == 0 and open(agent.secret).read() == secret,
                "init --force rewrites agent.conf and keeps the secret", r.stderr)

        # --- status: the node's health and who it sees ---
        r = agent.run("agent", "status", "--json")
        doc = json.loads(r.stdout) if r.returncode == 0 else {}
        t.check(doc.get("node", {}).get("health") == "ready"
                and doc["node"].get("sees_us_as", {}).get("org") == ORG
                and doc.get("certificate", {}).get("org") == ORG,
                "agent status: the node is ready and sees the agent's organisation",
                r.stdout + r.stderr)
        r = agent.run("agent", "status")
        t.check(r.returncode == 0 and "node sees:   agent office of " + ORG in r.stdout,
                "agent status in words", r.stdout)

        # Flags beat the environment, which beats the file.
        r = agent.run("agent", "status", "--node", "https://127.0.0.1:1",
                      env={"TRELLIS_NODE": node.url})
        t.equal(r.returncode, 4, "a flag beats TRELLIS_NODE (and an unreachable node is exit 4)")
        r = agent.run("agent", "status", env={"TRELLIS_NODE": "https://127.0.0.1:1"})
        t.equal(r.returncode, 4, "TRELLIS_NODE beats the file")
        r = agent.run("agent", "bogus")
        t.equal(r.returncode, 2, "an unknown subcommand is a usage error (2)")

        # --- push: a dry run sends nothing and shows what would go ---
        r = agent.run("push", "--mapping", REF_MAP, "--dry-run", REF_CSV)
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        t.check(r.returncode == 0 and len(lines) == 10
                and {x["kind"] for x in lines} == {"pathway.referral", "pathway.event"},
                "push --dry-run prints the 10 records the example export makes",
                r.stdout[:300] + r.stderr)
        t.check(not any(w in r.stdout for w in NEVER), "the dry run shows nothing identifying")
        t.equal(counts(pg)["pathway_referrals"], 0, "the dry run sent nothing")
        t.check(not os.path.exists(os.path.join(agent.spool, "spool.db"))
                or agent.spool_sql("SELECT count(*) FROM queue")[0][0] == 0,
                "the dry run spooled nothing")

        # --- push for real ---
        r = agent.run("push", "--mapping", REF_MAP, REF_CSV)
        t.check(r.returncode == 0 and "node: 10 sent, 10 stored, 0 unchanged, 0 refused"
                in r.stdout, "push: the example referrals are stored", r.stdout + r.stderr)
        t.equal(counts(pg), {"pathway_referrals": 4, "pathway_events": 6, "feedback_entries": 0},
                "the node's database holds 4 referrals and their 6 events")
        t.check("trellis: batch 1: 10 sent, 10 stored" in r.stderr,
                "not a terminal: one plain progress line per batch", r.stderr)
        r = agent.run("push", "--mapping", REF_MAP, REF_CSV)
        t.check(r.returncode == 0 and "10 unchanged" in r.stdout,
                "the same export again: every record unchanged", r.stdout + r.stderr)
        t.equal(counts(pg)["pathway_events"], 6, "and nothing doubled on the node")
        t.equal(agent.spool_sql("SELECT count(*) FROM queue")[0][0], 0,
                "the spool is empty once the node answered for everything")
        modes = {f: oct(stat.S_IMODE(os.stat(os.path.join(agent.spool, f)).st_mode))
                 for f in os.listdir(agent.spool) if f.startswith("spool.db")}
        t.check(modes and set(modes.values()) == {"0o600"},
                "the spool's files are readable by the agent's user only", repr(modes))

        # --- feedback: a phone number in free text is quarantined, never sent ---
        r = agent.run("push", "--mapping", FB_MAP, FB_CSV)
        t.check(r.returncode == 3 and "1 quarantined" in r.stdout
                and "feedback.csv line 4, column 'What They Said': quarantined" in r.stderr,
                "push feedback: exit 3, the quarantined row named by file, line and column",
                r.stdout + r.stderr)
        t.check("07700" not in r.stdout + r.stderr and "Tom" not in r.stdout + r.stderr,
                "the report never shows the value")
        t.equal(counts(pg)["feedback_entries"], 3, "the 3 clean feedback rows are on the node")
        r = agent.run("quarantine", "list")
        t.check(r.returncode == 0 and "feedback.csv line 4" in r.stdout
                and "UK phone number" in r.stdout and "07700" not in r.stdout,
                "quarantine list: where and what kind of data, not the value", r.stdout)
        qid = r.stdout.split()[0] if r.stdout.strip() else "0"
        r = agent.run("quarantine", "show", qid)
        t.check(r.returncode == 0 and "07700 900789" in r.stdout,
                "quarantine show: the held record, for the person fixing it", r.stdout)
        r = agent.run("quarantine", "drop", qid)
        r2 = agent.run("quarantine", "list")
        t.check(r.returncode == 0 and "nothing quarantined" in r2.stdout, "quarantine drop",
                r.stdout + r2.stdout)
        text = node_text(pg)
        leaked = [w for w in NEVER if w in text]
        t.check(not leaked and text.count("pathway.referral") == 4,
                "nothing identifying is in the node's database", str(leaked))

        # --- a corpus with identifiers planted in free text, as NDJSON ---
        work = os.path.join(agent.dir, "work")
        os.makedirs(work)
        planted = ["Leila said the refuge was the first place she felt safe",
                   "spoke to LEILA HASSAN on the phone", "Mrs Hassan was grateful",
                   "her son Idris needs a school place", "DOB 03/04/1990, worried",
                   "born 3rd April 1990", "lives at 27 Rosemary Gardens",
                   "moved to LS7 3QB last month", "ring 0113 496 0123", "call +44 7700 900321",
                   "email leila.h@example.com", "NHS no 943 476 5919", "NI AB123456C",
                   "case NWA-2026-0777 reopened"]
        clean = ["The group on Wednesdays helped a lot.",
                 "We would like longer opening hours on Saturdays.",
                 "Please have leaflets in Arabic and Urdu.",
                 "It took 3 weeks to get a first appointment."]
        corpus = os.path.join(work, "feedback-corpus.ndjson")
        with open(corpus, "w") as f:
            for i, text in enumerate(planted + clean):
                f.write(json.dumps({"Feedback ID": f"NWA-2026-{i:04d}" if i else "NWA-2026-0777",
                                    "Date Received": "20/11/2026", "Name": "Leila Hassan",
                                    "Contact": "Idris", "Who": "Client", "Themes": ["Safety"],
                                    "What They Said": text, "Easy Read": "Short and clear.",
                                    "Involvement": "Consultation"}) + "\n")
        auto_map = os.path.join(work, "feedback-auto.map")
        with open(FB_MAP) as f:
            open(auto_map, "w").write(f.read().replace("format = csv", "format = auto"))
        r = agent.run("push", "--mapping", auto_map, corpus)
        t.check(r.returncode == 3 and f"{len(planted)} quarantined" in r.stdout
                and f"{len(clean)} records spooled" in r.stdout,
                "NDJSON corpus: every planted identifier quarantined, clean text sent",
                r.stdout + r.stderr[-800:])
        text = node_text(pg)
        leaked = [w for w in ("Leila", "Hassan", "Idris", "Rosemary", "LS7 3QB", "0113 496",
                              "7700 900321", "example.com", "943 476", "AB123456C", "1990",
                              "NWA-2026") if w in text]
        t.check(not leaked and all(c in text for c in clean),
                "the node's database holds the clean feedback and none of the planted data",
                str(leaked))
        agent.run("quarantine", "drop", "--all")

        # --- a record the node refuses goes to the refused list with its errors ---
        changed = os.path.join(work, "referrals.csv")
        with open(REF_CSV, newline="") as f:
            data = f.read()
        with open(changed, "w", newline="") as f:
            f.write(data.replace(",Medium,Police,", ",High,Police,"))
        r = agent.run("push", "--mapping", REF_MAP, changed)
        t.check(r.returncode == 3 and "1 refused" in r.stdout,
                "a referral changed after it was sent is refused by the node (exit 3)",
                r.stdout + r.stderr)
        r = agent.run("refused", "list")
        t.check(r.returncode == 0 and "pathway.referral" in r.stdout
                and "write_once" in r.stdout.replace("write-once", "write_once"),
                "refused list: the record and the node's errors", r.stdout)
        r = agent.run("refused", "drop", "--all")
        t.check(r.returncode == 0 and "dropped 1" in r.stdout, "refused drop --all", r.stdout)

        # --- files the agent refuses, with the line ---
        missing = os.path.join(work, "missing.csv")
        with open(missing, "w") as f:
            f.write("Case Ref,Referral Date\r\nX1,01/11/2026\r\n")
        r = agent.run("push", "--mapping", REF_MAP, missing)
        t.check(r.returncode == 5 and "line 1: the header has no column" in r.stderr,
                "a mapped column missing from the header: exit 5, named with the line", r.stderr)
        empty = os.path.join(work, "empty.csv")
        open(empty, "w").close()
        r = agent.run("push", "--mapping", REF_MAP, empty)
        t.check(r.returncode == 5 and "the file is empty" in r.stderr, "an empty file: exit 5",
                r.stderr)
        r = agent.run("push", REF_CSV)
        t.equal(r.returncode, 2, "push without --mapping is a usage error")
        r = agent.run("agent", "status", "--json")
        sp = json.loads(r.stdout).get("spool", {}) if r.stdout else {}
        t.check(sp.get("queued") == 0 and sp.get("refused") == 0 and sp.get("quarantined") == 0
                and sp.get("last_push_result") == "ok",
                "agent status shows the spool and the last push", r.stdout)

        # --- through a real proxy: the config key, then https_proxy ---
        proxy = Proxy([node.port])
        r = agent.run("agent", "status", "--proxy", proxy.url)
        t.check(r.returncode == 0 and "CONNECT" in proxy.read_log(),
                "status through tinyproxy given by --proxy", r.stderr + proxy.read_log()[-500:])
        before = proxy.read_log().count("CONNECT")
        r = agent.run("agent", "status", env={"https_proxy": proxy.url})
        t.check(r.returncode == 0 and proxy.read_log().count("CONNECT") > before,
                "status through the proxy given by https_proxy", r.stderr)
        before = proxy.read_log().count("CONNECT")
        r = agent.run("agent", "status", env={"https_proxy": proxy.url, "no_proxy": "127.0.0.1"})
        t.check(r.returncode == 0 and proxy.read_log().count("CONNECT") == before,
                "no_proxy keeps the node's address off the proxy", r.stderr)
        r = agent.run("agent", "status", "--proxy", "none", env={"https_proxy": "http://127.0.0.1:1"})
        t.equal(r.returncode, 0, "proxy = none ignores https_proxy")
        before = proxy.read_log().count("CONNECT")
        r = agent.run("status", "--json", "--proxy", proxy.url)
        t.check(r.returncode == 0 and "peers" in json.loads(r.stdout or "{}")
                and proxy.read_log().count("CONNECT") > before,
                "trellis status (the federation) goes through the proxy too, with agent.conf",
                r.stdout + r.stderr)
        r = agent.run("status", "--proxy", "http://127.0.0.1:1", "--retry-for", "0")
        t.check(r.returncode == 4 and len(r.stderr.splitlines()) == 1,
                "trellis status with the node unreachable: exit 4, one line", r.stderr)
        before = proxy.read_log().count("CONNECT")
        r = agent.run("push", "--mapping", REF_MAP, REF_CSV, env={"https_proxy": proxy.url})
        t.check(r.returncode == 0 and "10 unchanged" in r.stdout
                and proxy.read_log().count("CONNECT") > before,
                "push through the proxy", r.stdout + r.stderr)

        # --- node down: exit 4, the records stay spooled; node up: they go ---
        node.stop()
        r = agent.run("agent", "status")
        t.check(r.returncode == 4 and "unreachable" in r.stdout, "node down: status says "
                "unreachable, exit 4", r.stdout + r.stderr)
        r = agent.run("push", "--mapping", FB_MAP, "--retry-for", "2", FB_CSV)
        t.check(r.returncode == 4 and "retrying" in r.stderr,
                "push with the node down: retries, then exit 4", r.stdout + r.stderr)
        queued = agent.spool_sql("SELECT count(*) FROM queue")[0][0]
        t.equal(queued, 3, "what could not be sent stays in the spool")
        node.start()
        r = agent.run("sync")
        t.check(r.returncode == 0 and "3 unchanged" in r.stdout,
                "node up again: trellis sync sends the spool", r.stdout + r.stderr)
        # A push that starts while the node is down finishes when it comes back.
        node.stop()
        p = agent.popen("push", "--mapping", REF_MAP, REF_CSV, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        node.start()
        out, err = p.communicate(timeout=120)
        t.check(p.returncode == 0 and "10 unchanged" in out,
                "a push waiting for a node that was down finishes once it is up", out + err)
    finally:
        for x in (proxy, agent, node):
            if x:
                x.close()
        pki.close()

t.finish()
