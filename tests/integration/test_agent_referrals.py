"""Caseworker commands across two federated nodes: Northside's caseworker
refers to a Riverside service (`trellis refer`, a full postcode cut to its
district at source), Riverside's agent sees it arrive (`trellis referrals
--in`, the outbox CSV, once each), accepts it (`trellis referral update`),
and Northside sees the status (`referrals --out`); more than a page of the
node's view (500) is listed whole, page by page. Feedback: `feedback add`
refuses text with personal data before anything is stored, adds clean
feedback, `respond` closes the loop, `list` shows it. Errors name the flag."""

import csv
import glob
import json
import os
import sys
import time

from agent_harness import Agent
from harness import Checks, Node, PgCluster, Pki, api

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "deploy"))
import sample_data as sd  # noqa: E402

t = Checks("test_agent_referrals")
NW, RS = sd.ORGS[0], sd.ORGS[1]


def wait_for(cond, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.3)
    return False


with PgCluster("referrals") as pg:
    pki = Pki()
    nodes, agents = [], []
    try:
        for db in ("nw", "rs"):
            pg.create_db(db)
        a = Node(pki, pg, org=NW, name="nw", db="nw")
        b = Node(pki, pg, org=RS, name="rs", db="rs")
        a.add_peer(b)
        b.add_peer(a)
        nodes = [a.start(), b.start()]
        nw = Agent(pki, a, NW)
        rs = Agent(pki, b, RS)
        agents = [nw, rs]
        for node, agent, org in ((a, nw, NW), (b, rs, RS)):
            st, _, reply = api(node, agent.certs, "POST", "/v1/records",
                               {"records": sd.services(org)})
            t.check(st == 200 and reply["stored"] == 3, f"{org}: its services are stored")
        nw_svc, rs_svc = sd.service_ids()[NW][1], sd.service_ids()[RS][0]

        # --- refer: errors in plain words, naming the flag ---
        base = ["refer", "--from", nw_svc, "--to", rs_svc, "--needs", "sexual_violence,advocacy",
                "--risk", "high", "--age-band", "25_34", "--route", "professional"]
        r = nw.run(*base, "--district", "LS6", "--risk", "severe")
        t.check(r.returncode == 2 and "--risk: is not one of the allowed values" in r.stderr,
                "refer with a wrong value: exit 2, the flag named", r.stderr)
        r = nw.run(*base)
        t.check(r.returncode == 2 and "--district is missing" in r.stderr,
                "refer without --district: says so", r.stderr)
        r = nw.run(*base, "--district", "LS6 1AA")
        ref_id = r.stdout.strip()
        t.check(r.returncode == 0 and len(ref_id) == 36, "refer prints the new referral's id",
                r.stdout + r.stderr)
        rows = pg.psql(f"SELECT district, doc::text FROM pathway_referrals WHERE id = '{ref_id}'",
                       db="nw")
        t.check(rows and rows[0][0] == "LS6" and "1AA" not in rows[0][1],
                "a full postcode is cut to its district before it is stored", str(rows))

        # --- Riverside sees it arrive ---
        t.check(wait_for(lambda: ref_id in rs.run("referrals", "--in").stdout),
                "referrals --in on the receiving charity lists it")
        r = rs.run("referrals", "--in", "--format", "json")
        items = json.loads(r.stdout) if r.returncode == 0 else []
        t.check(items and items[0]["status"] == "sent", "with its status", r.stdout[:300])
        r = rs.run("outbox")
        files = glob.glob(os.path.join(rs.outbox, "referrals-in-*.csv"))
        with open(files[0], newline="") as f:
            got = list(csv.DictReader(f)) if files else []
        t.check(r.returncode == 0 and len(files) == 1 and got[0]["referral_id"] == ref_id
                and got[0]["district"] == "LS6", "outbox: the referral as CSV for the CMS",
                r.stdout + r.stderr + str(got))
        r = rs.run("outbox")
        t.check(r.returncode == 0 and "0 new referrals" in r.stdout
                and len(glob.glob(os.path.join(rs.outbox, "referrals-in-*.csv"))) == 1,
                "and only once", r.stdout)

        # --- Riverside accepts; Northside sees it ---
        r = rs.run("referral", "update", ref_id, "--status", "declined")
        t.check(r.returncode == 2 and "--reason" in r.stderr,
                "declined without --reason: exit 2, --reason named", r.stderr)
        r = rs.run("referral", "update", ref_id, "--status", "accepted")
        t.check(r.returncode == 0 and "accepted" in r.stdout, "referral update: accepted",
                r.stdout + r.stderr)

        def nw_status():
            r = nw.run("referrals", "--out", "--format", "json")
            items = json.loads(r.stdout) if r.returncode == 0 else []
            return [i["status"] for i in items if i["referral"]["id"] == ref_id]
        t.check(wait_for(lambda: nw_status() == ["accepted"]),
                "the referring charity sees it accepted", str(nw_status()))
        r = nw.run("referrals", "--out", "--format", "csv")
        got = list(csv.DictReader(r.stdout.splitlines()))
        t.check(r.returncode == 0 and got and got[0]["referral_id"] == ref_id
                and got[0]["status"] == "accepted" and "days_waiting" in got[0],
                "referrals --format csv", r.stdout[:200])
        r = nw.run("referral", "update", ref_id, "--status", "withdrawn", "--reason",
                   "person_withdrew", "--days", "3")
        t.check(r.returncode == 0, "the referrer may withdraw it", r.stderr)

        # --- more than the node's 500 a page: the agent follows the cursor ---
        many, _, _ = sd.referrals(NW, 620, seed=7)
        for k in range(0, len(many), 300):
            st, _, reply = api(a, nw.certs, "POST", "/v1/records", {"records": many[k:k + 300]})
            t.check(st == 200 and not reply.get("refused"), f"620 referrals stored ({k})",
                    str(reply)[:200])
        want = {x["id"] for x in many} | {ref_id}
        st, _, page = api(a, nw.certs, "GET", "/v1/referrals?direction=out&limit=500")
        st2, _, page2 = api(a, nw.certs, "GET", "/v1/referrals?direction=out&limit=500&after="
                            + (page or {}).get("next", ""))
        ids = [i["referral"]["id"] for i in page["referrals"] + page2.get("referrals", [])]
        t.check(st == 200 and len(page["referrals"]) == 500 and page.get("next")
                and st2 == 200 and "next" not in page2 and len(ids) == len(want)
                and set(ids) == want,
                "/v1/referrals: 500 a page, a next cursor, the rest after it, none twice",
                f"{len(ids)} {str(page2)[:200]}")
        st, _, prob = api(a, nw.certs, "GET", "/v1/referrals?direction=out&after=2026-W01.x.y")
        t.check(st == 400 and "after" in prob.get("detail", ""), "a malformed cursor: 400",
                str(prob))
        r = nw.run("referrals", "--out", "--format", "json")
        items = json.loads(r.stdout) if r.returncode == 0 else []
        t.check(len(items) == len(want) and {i["referral"]["id"] for i in items} == want,
                f"referrals --out lists all {len(want)}", r.stderr + r.stdout[-200:])
        r = nw.run("referrals", "--out", "--format", "csv")
        got = list(csv.DictReader(r.stdout.splitlines()))
        t.check(r.returncode == 0 and len(got) == len(want), "and as CSV", str(len(got)))

        # --- feedback ---
        fb = ["feedback", "add", "--role", "service_user", "--themes", "waiting_times",
              "--level", "consultation", "--easy-read", "You waited too long."]
        r = nw.run(*fb, "--summary", "Mrs Okafor said she waited too long; call 07700 900123")
        t.check(r.returncode == 2 and "--summary contains" in r.stderr
                and "Okafor" not in r.stderr and "07700" not in r.stderr,
                "feedback with personal data is refused here, without echoing it", r.stderr)
        t.equal(pg.psql("SELECT count(*) FROM feedback_entries", db="nw")[0][0], "0",
                "and nothing was stored")
        r = nw.run(*fb, "--summary", "People said they waited too long for a first call.")
        entry = r.stdout.strip()
        t.check(r.returncode == 0 and len(entry) == 36, "feedback add prints the entry's id",
                r.stderr)
        r = nw.run("feedback", "respond", entry, "--status", "cannot_change")
        t.check(r.returncode == 2 and "--why-not" in r.stderr,
                "cannot_change without --why-not: says so", r.stderr)
        r = nw.run("feedback", "respond", entry, "--status", "changed", "--changed",
                   "We now call everyone back within two working days.")
        t.check(r.returncode == 0, "feedback respond: changed", r.stderr)
        r = nw.run("feedback", "list")
        t.check(r.returncode == 0 and entry in r.stdout and "changed" in r.stdout,
                "feedback list shows the entry and its status", r.stdout)
    finally:
        for x in agents + nodes:
            x.close()
        pki.close()

t.finish()
