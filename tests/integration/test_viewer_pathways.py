"""The viewer's pathways page (GET /viewer/pathways): referrals and their
events pushed through the API by the agents of two organisations, each on its
own node, then the page's tables (read as the CSV files it offers, which hold
exactly what the page shows) checked against figures worked out here from
what was posted: counts rounded to 5, 1 to 7 as "fewer than 8", hidden cells
that no total gives away, and the same shared figure in the same state in
every table."""

import csv
import datetime
import io
import uuid

import fedkit as fk
from fedkit import sd
from harness import Checks, Pki, PgCluster
from viewkit import get, viewer_node

t = Checks("test_viewer_pathways")
A, B = sd.ORGS[0], sd.ORGS[1]
WEEK = "2026-W10"
PERIOD = "from=2026-W01&to=2026-W52"


def rnd(n):
    """The rule: 0 stays 0, 1-7 small, the rest to the nearest 5."""
    return "0" if n == 0 else "fewer than 8" if n < 8 else str((n + 2) // 5 * 5)


def table(node, name, extra=""):
    status, headers, body = get(node, f"/viewer/pathways?{PERIOD}{extra}&format=csv&table={name}")
    t.check(status == 200 and headers.get("content-type", "").startswith("text/csv"),
            f"{name}: CSV served", f"{status} {body[:200]}")
    rows = list(csv.reader(io.StringIO(body)))
    return rows[0], {r[0]: r[1:] for r in rows[1:]}


def determinable(hidden, n_rows, n_cols, r, c):
    """Whether hidden cell (r, c) of a table with its totals ((n_rows + 1) x
    (n_cols + 1), hidden a set of cells) can be worked out from the shown
    ones: exactly when no other chain of hidden cells joins its row and its
    column (each row and column adds up to its total)."""
    seen, todo = {("r", r)}, [("r", r)]
    while todo:
        kind, i = todo.pop()
        if (kind, i) == ("c", c):
            return False
        for k in range(n_cols + 1 if kind == "r" else n_rows + 1):
            cell = (i, k) if kind == "r" else (k, i)
            nxt = ("c", k) if kind == "r" else ("r", k)
            if cell != (r, c) and cell in hidden and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return True


def check_protected(name, grid):
    """grid: rows of published cells, totals last. No hidden cell can be worked out."""
    hidden = {(i, j) for i, row in enumerate(grid) for j, v in enumerate(row)
              if v in ("fewer than 8", "not shown")}
    bad = [cell for cell in hidden
           if determinable(hidden, len(grid) - 1, len(grid[0]) - 1, *cell)]
    t.equal(bad, [], f"{name}: no hidden cell can be worked out from the totals")


with PgCluster("pathways") as pg:
    pki = Pki()
    a = b = None
    try:
        pg.create_db("b")
        a = viewer_node(pki, pg, A, "a")
        b = viewer_node(pki, pg, B, "b", db="b")
        a.add_peer(b, share="all")
        b.add_peer(a, share="all")
        a.start()
        b.start()
        ag = {A: pki.agent(A, "office"), B: pki.agent(B, "office")}
        fk.post(a, ag[A], sd.services(A))
        fk.post(b, ag[B], sd.services(B))
        sa, sb = sd.service_ids()[A], sd.service_ids()[B]

        def referral(org, frm, to, to_org):
            return sd.envelope("pathway.referral", str(uuid.uuid4()), org,
                               {"from_service": frm, "to_service": to, "to_org": to_org,
                                "week": WEEK, "needs": ["housing"], "risk": "medium",
                                "age_band": "25_34", "district": "LS6", "route": "professional"})

        # What each side writes: (sender's records, receiver's events as (referral, fate)).
        plan = []  # (from_org, from_service, to_org, to_service, fate)
        for i in range(30):  # A's first service to B's first: 20 accepted, 6 declined, 4 waiting
            fate = (("accepted", 2 if i < 10 else 4, i < 12) if i < 20 else
                    ("declined", 3, "no_capacity") if i < 26 else None)
            plan.append((A, sa[0], B, sb[0], fate))
        for i in range(12):  # A's second to B's second: 9 accepted on day 3, 3 not eligible
            plan.append((A, sa[1], B, sb[1],
                         ("accepted", 3, False) if i < 9 else ("declined", 3, "not_eligible")))
        for i in range(3):  # A's first to B's second: 3 waiting
            plan.append((A, sa[0], B, sb[1], None))
        for i in range(10):  # B's first to A's first: 10 accepted on day 1
            plan.append((B, sb[0], A, sa[0], ("accepted", 1, False)))

        sent = {A: [], B: []}
        answers = {A: [], B: []}
        for frm_org, frm, to_org, to, fate in plan:
            r = referral(frm_org, frm, to, to_org)
            sent[frm_org] += [r, fk.event(frm_org, r["id"], "sent", 0)]
            if fate and fate[0] == "accepted":
                answers[to_org].append(fk.event(to_org, r["id"], "accepted", fate[1]))
                if fate[2]:
                    answers[to_org].append(fk.event(to_org, r["id"], "contacted", 6))
            elif fate:
                answers[to_org].append(fk.event(to_org, r["id"], "declined", fate[1], fate[2]))
        fk.post(a, ag[A], sent[A])
        fk.post(b, ag[B], sent[B])
        # Each receiver answers once the referrals have reached it.
        for node, org, other in ((b, B, A), (a, A, B)):
            ids = {r["id"] for r in sent[other] if r["kind"] == "pathway.referral"}
            got = fk.wait_for(lambda: ids <= {k[1] for k in fk.held(pg, "b" if org == B else
                                                                    "trellis")
                                              if k[0] == "pathway.referral"}, 60)
            t.check(got, f"{org}'s node has the referrals sent to it")
            fk.post(node, ag[org], answers[org])
        n_events = sum(len(v) for v in sent.values()) // 2 + sum(len(v) for v in answers.values())
        got = fk.wait_for(lambda: len([k for k in fk.held(pg, "trellis")
                                       if k[0] == "pathway.event"]) >= n_events, 60)
        t.check(got, "A's node has every event, its own and B's")

        # ---- flows between organisations: 45 from A to B, 10 back; no small count ----
        head, rows = table(a, "orgs")
        t.equal(head, ["From \\ to", B, A, "Total"], "orgs: the busiest receiver first")
        t.equal(rows.get(A), ["45", "0", "45"], "orgs: A to B 45, to itself 0")
        t.equal(rows.get(B), ["0", "10", "10"], "orgs: B to A 10")
        t.equal(rows.get("Total"), ["45", "10", "55"], "orgs: totals")

        # ---- outcomes by receiving organisation ----
        # Received by B: accepted 29, declined 9, withdrawn 0, waiting 7 (45);
        # by A: accepted 10, nothing else. The 7 waiting is small, and so is
        # its column total: cells are hidden round it until none can be worked
        # out. Shown cells must be the rounded truth.
        truth = {B: [29, 9, 0, 7, 45], A: [10, 0, 0, 0, 10], "All organisations": [39, 9, 0, 7, 55]}
        head, rows = table(a, "outcomes")
        t.equal(head[:6], ["Receiving organisation", "Accepted", "Declined",
                           "Withdrawn before an answer", "Waiting for an answer", "Referrals"],
                "outcomes: columns")
        grid = []
        for org in (B, A, "All organisations"):
            got = rows.get(org, [""] * 7)[:5]
            grid.append(got)
            for k, (shown, n) in enumerate(zip(got, truth[org])):
                if shown == "not shown":
                    t.check(not 1 <= n <= 7, f"outcomes {org}[{k}]: a hidden complement, not small")
                else:
                    t.equal(shown, rnd(n), f"outcomes {org}[{k}] is the rule's {n}")
        t.equal(rows[B][3], "fewer than 8", "outcomes: B's 7 waiting are fewer than 8")
        t.equal(rows["All organisations"][4], "55", "outcomes: 55 referrals in all")
        check_protected("outcomes", grid)
        # Percentages from the published counts only.
        t.equal(rows["All organisations"][5], "73%", "outcomes: 40 accepted of 55 shown is 73%")

        # ---- decline reasons: 6 no capacity, 3 not eligible. Both small; their
        # total (9) is the outcomes' declined total, so it is hidden here
        # exactly when it is hidden there. ----
        head, rows = table(a, "reasons")
        t.equal(rows.get("No capacity", [""])[0], "fewer than 8", "reasons: 6 no capacity small")
        t.equal(rows.get("Not eligible", [""])[0], "fewer than 8", "reasons: 3 not eligible small")
        _, outs = table(a, "outcomes")
        declined_all = outs["All organisations"][1]
        want = "not shown" if declined_all == "not shown" else declined_all
        t.equal(rows.get("All reasons", [""])[0], want,
                "reasons: the total declines as the outcomes table shows them")

        # ---- services of the busiest pair (A to B) ----
        # A0->B0 30, A0->B1 3, A1->B1 12, A1->B0 0: the 3 is small, and a
        # cycle of hidden cells protects it; the totals 33 -> 35, 12 -> 10,
        # 30, 15, 45 stay.
        head, rows = table(a, "services")
        names = {s["id"]: s["body"]["name"] for s in sd.services(A) + sd.services(B)}
        t.equal(head[1:], [names[sb[0]], names[sb[1]], "Total"], "services: B's, busiest first")
        t.equal(rows.get(names[sa[0]], [""] * 3)[1:], ["fewer than 8", "35"],
                "services: A0 to B1 fewer than 8, A0's total 35")
        t.equal(rows.get("Total"), ["30", "15", "45"], "services: column totals")
        grid = [rows[names[sa[0]]], rows[names[sa[1]]], rows["Total"]]
        check_protected("services", grid)

        # ---- medians: B accepts 29 (10 on day 2, 9 on day 3, 10 on day 4):
        # the lower median is 3; 12 first contacts on day 6; A accepts 10 on
        # day 1 and has no contact; in all, 39 acceptances: median 2. ----
        head, rows = table(a, "days")
        t.equal(rows.get(B), ["3", "6"], "days: B's medians")
        t.equal(rows.get(A), ["1", "none"], "days: A's median, no contact")
        t.equal(rows.get("All organisations"), ["2", "6"], "days: in all")

        # ---- waiting: B's two services have unanswered referrals from WEEK ----
        head, rows = table(a, "waiting")
        monday = datetime.date.fromisocalendar(2026, 10, 1)
        weeks = (datetime.date.today() - monday).days // 7
        t.equal(sorted(rows), sorted([names[sb[0]], names[sb[1]]]),
                "waiting: B's two services with unanswered referrals")
        t.check(all(r[1] == WEEK and abs(int(r[2]) - weeks) <= 1 for r in rows.values()),
                "waiting: sent in the week, waiting since", str(rows))

        # ---- the page itself ----
        status, headers, page = get(a, f"/viewer/pathways?{PERIOD}")
        t.equal(status, 200, "the page is served")
        t.check(page.count("<svg") == 2 and 'role="img"' in page,
                "the page draws both matrices as SVG with a name")
        t.check("Referrals between organisations" in page and "<table" in page,
                "the tables are beside the drawings")
        for name in ("orgs", "services", "outcomes", "reasons", "days", "waiting"):
            t.check(f"table={name}" in page.replace("&amp;", "&"), f"a CSV link for {name}")
        # The same figures on B's node, which holds the same records.
        t.equal(table(b, "orgs")[1], table(a, "orgs")[1], "B's viewer shows the same flows")

        # ---- bad requests: 400 with a problem ----
        for q in ("from=2026-W60", "from=2026-W10&to=2026-W01", "table=secrets",
                  "from_org=Not%20An%20Org", "colour=red"):
            status, headers, body = get(a, f"/viewer/pathways?{q}")
            t.check(status == 400, f"?{q}: 400", f"{status} {body[:200]}")

        fk.stop_checked(t, a)
        fk.stop_checked(t, b)
    finally:
        fk.close_nodes(a, b)
        pki.close()
t.finish()
