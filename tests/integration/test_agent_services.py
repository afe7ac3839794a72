"""A charity's own services spreadsheet into the shared directory, end to
end: `trellis push --mapping directory.map services.csv` (deploy/examples/)
to a real node, read back through the node's Open Referral UK API (/oruk/)
and `trellis directory pull`; pushed again unchanged; a changed row
replaces the node's copy at a higher version; a confidential service with a
street address is refused by the agent with its line and never reaches the
node (checked in the node's database)."""

import csv
import json
import os
import uuid

from agent_harness import Agent
from harness import SOURCE_DIR, Checks, Node, PgCluster, Pki, api

t = Checks("test_agent_services")
ORG = "northside-womens-aid"
EXAMPLES = os.path.join(SOURCE_DIR, "deploy", "examples")
DIR_MAP = os.path.join(EXAMPLES, "directory.map")
SERVICES = os.path.join(EXAMPLES, "services.csv")
ORG_UUID = str(uuid.uuid5(uuid.UUID("368c7d6a-652e-46cb-90f7-c60195cc2b70"), ORG))
REFUGE = "31aa1dea-fc94-4452-baab-29197d7b0bb1"
IDVA = "308affc3-883f-45e8-ab09-71d636d602d6"


def node_services(pg):
    """id -> (version, body) of every directory service in the node's database."""
    rows = pg.psql("SELECT id, version, doc::text FROM directory_services")
    return {r[0]: (int(r[1]), json.loads(r[2])["body"]) for r in rows}


def rows_of(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def write_rows(path, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\r\n").writerows(rows)


with PgCluster("services") as pg:
    pki = Pki()
    node = agent = None
    try:
        node = Node(pki, pg, org=ORG, name="node").start()
        agent = Agent(pki, node, ORG)

        # --- a dry run shows the services and sends nothing ---
        r = agent.run("push", "--mapping", DIR_MAP, "--dry-run", SERVICES)
        docs = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        t.check(r.returncode == 0 and len(docs) == 4
                and all(d["kind"] == "directory.service" for d in docs),
                "push --dry-run prints a directory.service per row", r.stderr)
        t.equal(node_services(pg), {}, "the dry run sent nothing")

        # --- pushed for real: stored under the origin's own organisation ---
        r = agent.run("push", "--mapping", DIR_MAP, SERVICES)
        t.check(r.returncode == 0 and "4 stored" in r.stdout,
                "push --mapping directory.map services.csv stores four services",
                r.stdout + r.stderr)
        stored = node_services(pg)
        t.equal(len(stored), 4, "four services in the node's database")
        t.check(all(d["organization"]["id"] == ORG_UUID for _, d in stored.values()),
                "each under the organisation id derived from the origin")
        text = json.dumps([d for _, d in stored.values()])
        t.check("Jo Bloggs" not in text and "07700" not in text and "Staff Contact" not in text,
                "a column the mapping does not name never reaches the node")
        refuge = stored.get(REFUGE, (0, {}))[1]
        t.check(refuge.get("trellis", {}).get("location_confidential") is True
                and "service_at_locations" not in refuge
                and refuge.get("service_areas", [{}])[0].get("name") == "Leeds and Bradford",
                "the refuge is stored with its area only", json.dumps(refuge)[:300])

        # --- read back through the node's ORUK API ---
        status, _, svc = api(node, agent.certs, "GET", f"/oruk/services/{IDVA}")
        addr = (svc or {}).get("service_at_locations", [{}])[0].get("location", {}) \
            .get("addresses", [{}])[0]
        t.check(status == 200 and svc["name"] == "IDVA Service"
                and svc["organization"]["name"] == "Northside Women's Aid"
                and addr.get("postal_code") == "LS1 6DT"
                and svc["trellis"]["needs"] == ["advocacy", "legal"]
                and any(p["number"] == "0113 496 0101" for p in svc.get("phones", [])),
                "/oruk/services/{id} serves the spreadsheet's service as ORUK", str(svc)[:400])
        status, _, page = api(node, agent.certs, "GET", "/oruk/services?per_page=10")
        t.check(status == 200 and page["total_items"] == 4, "/oruk/services lists the four",
                str(page)[:200])

        # --- and through `trellis directory pull` ---
        out = os.path.join(agent.dir, "directory.json")
        r = agent.run("directory", "pull", "--out", out)
        pulled = json.load(open(out)) if r.returncode == 0 else []
        t.check(sorted(s["name"] for s in pulled) ==
                ["Clearview", "IDVA Service", "Northside Helpline", "Northside Refuge"]
                and all(s["trellis_origin"] == ORG for s in pulled),
                "directory pull writes them back", r.stderr)

        # --- the same spreadsheet again changes nothing ---
        versions = {k: v for k, (v, _) in stored.items()}
        r = agent.run("push", "--mapping", DIR_MAP, SERVICES)
        t.check(r.returncode == 0 and "4 unchanged" in r.stdout,
                "pushed again: every service unchanged", r.stdout + r.stderr)
        t.equal({k: v for k, (v, _) in node_services(pg).items()}, versions,
                "no version moved")

        # --- a changed row replaces the node's copy, at a higher version ---
        rows = rows_of(SERVICES)
        head = rows[0]
        col = {name: i for i, name in enumerate(head)}
        idva = next(row for row in rows if row[col["Trellis ID"]] == IDVA)
        idva[col["Taking Referrals"]] = "No"
        changed = os.path.join(agent.dir, "services.csv")
        write_rows(changed, rows)
        r = agent.run("push", "--mapping", DIR_MAP, changed)
        now = node_services(pg)
        t.check(r.returncode == 0 and "1 stored" in r.stdout and "3 unchanged" in r.stdout
                and now[IDVA][0] > versions[IDVA]
                and now[IDVA][1]["trellis"]["taking_referrals"] is False,
                "a changed row is stored at a higher version", r.stdout + r.stderr)

        # --- a confidential service with a street address: refused here ---
        secret_row = [""] * len(head)
        secret_row[col["Service Ref"]] = "SAFEHOUSE"
        secret_row[col["Service"]] = "Second Refuge"
        secret_row[col["Status"]] = "Open"
        secret_row[col["Area Served"]] = "Bradford"
        secret_row[col["Confidential Location"]] = "Yes"
        secret_row[col["Address Line 1"]] = "7 Hidden Lane"
        secret_row[col["Town"]] = "Bradford"
        bad = os.path.join(agent.dir, "bad.csv")
        write_rows(bad, rows + [secret_row])
        r = agent.run("push", "--mapping", DIR_MAP, bad)
        t.check(r.returncode == 3 and "bad.csv line 6, column 'Address Line 1'" in r.stderr
                and "confidential" in r.stderr and "Hidden" not in r.stderr + r.stdout,
                "a confidential service with a street address is refused with its line",
                r.stderr)
        now = node_services(pg)
        t.check(len(now) == 4 and "Hidden Lane" not in json.dumps([d for _, d in now.values()])
                and not pg.psql("SELECT 1 FROM directory_services WHERE name = 'Second Refuge'"),
                "and never reaches the node")
        t.check(not any("Hidden" in (doc or "")
                        for (doc,) in agent.spool_sql("SELECT doc FROM queue UNION ALL "
                                                      "SELECT doc FROM refused")),
                "nor the agent's spool")
    finally:
        for x in (agent, node):
            if x:
                x.close()
        pki.close()

t.finish()
