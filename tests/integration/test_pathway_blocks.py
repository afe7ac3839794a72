"""The pathways page's sums by block of weeks (sql/017, kept by the fold in
sql/functions/15, read through sql/functions/16) against the weekly sums.

Random referrals between six organisations over 2024-W01 .. 2027-W20 (2026
has a W53), stored by plain INSERTs in several statements (the triggers'
fold), then random events that move their outcomes, in more statements (so
the blocks move by differences, out and in). Then:

- every block row equals its weeks' rows added up, and no block is missing;
- for random periods, and the awkward ones (one week, a W53 edge, a year
  that is not aligned, several years), each trellis_pathway_*_sums result
  equals what SQL over pathway_*_weekly with week BETWEEN from AND to gives;
- the page itself, with the small-number rule set to show every count as
  it is (threshold 1, rounding 1), shows for random periods exactly the
  flows, outcomes and medians worked out here from the weekly rows;
- the page keeps its sums while only other kinds are stored (a renamed
  service shows its new name over the kept sums), here or by another
  process on the database (NOTIFY payloads), and drops them when pathway
  records are (or a NOTIFY does not say what was stored)."""

import csv
import datetime
import io
import random
import time
import uuid
from collections import defaultdict

import fedkit as fk
from fedkit import sd
from harness import Checks, Pki, PgCluster
from viewkit import get, viewer_node

t = Checks("test_pathway_blocks")
ORGS = [f"member-{c}" for c in "abcdef"]
rng = random.Random(9017)


def week_of(n):
    """Weeks from 2024-W01 on, as ISO week text (2026 has 53)."""
    d = datetime.date.fromisocalendar(2024, 1, 1) + datetime.timedelta(weeks=n)
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


WEEKS = [week_of(n) for n in range(0, 177)]  # 2024-W01 .. 2027-W20
SERVICES = {o: [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(4)]
            for o in ORGS}
seq = [0]


def q(v):
    return "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"


def referrals_sql(refs):
    rows = []
    for rid, origin, to_org, frm, to, week in refs:
        seq[0] += 1
        rows.append(f"({q(rid)}, {q(origin)}, 1, '{'0' * 64}', {seq[0]}, '{{}}', {q(frm)}, "
                    f"{q(to)}, {q(to_org)}, {q(week)}, '{{housing}}', 'medium', '25_34', "
                    "'LS6', 'professional')")
    return ("INSERT INTO pathway_referrals (id, origin, version, hash, seq, doc, from_service, "
            "to_service, to_org, week, needs, risk, age_band, district, route) VALUES "
            + ", ".join(rows))


def events_sql(evs):
    rows = []
    for eid, origin, ref, status, reason, days in evs:
        seq[0] += 1
        rows.append(f"({q(eid)}, {q(origin)}, 1, '{'0' * 64}', {seq[0]}, '{{}}', {q(ref)}, "
                    f"{q(status)}, {q(reason)}, {days})")
    return ("INSERT INTO pathway_events (id, origin, version, hash, seq, doc, referral, status, "
            "reason, days) VALUES " + ", ".join(rows))


def new_id():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rows_of(pg, sql):
    return sorted(tuple(r) for r in pg.psql(sql))


# The weekly answer and the blocks' answer of each kind for a period.
WEEKLY = {
    "org": "SELECT from_org, to_org, sum(referrals), sum(accepted), sum(declined), "
           "sum(withdrawn), sum(waiting) FROM pathway_org_weekly WHERE week BETWEEN {f} AND {t} "
           "GROUP BY 1, 2 HAVING sum(referrals) <> 0",
    "reasons": "SELECT to_org, reason, sum(declines) FROM pathway_reasons_weekly "
               "WHERE week BETWEEN {f} AND {t} GROUP BY 1, 2 HAVING sum(declines) <> 0",
    "days": "SELECT to_org, measure, days, sum(referrals) FROM pathway_days_weekly "
            "WHERE week BETWEEN {f} AND {t} GROUP BY 1, 2, 3 HAVING sum(referrals) <> 0",
    "service": "SELECT from_service, to_service, sum(referrals) FROM pathway_service_weekly "
               "WHERE from_org = {a} AND to_org = {b} AND week BETWEEN {f} AND {t} "
               "GROUP BY 1, 2 HAVING sum(referrals) <> 0",
}
BLOCKS = {
    "org": "SELECT * FROM trellis_pathway_org_sums({f}, {t}) WHERE referrals <> 0",
    "reasons": "SELECT * FROM trellis_pathway_reasons_sums({f}, {t}) WHERE declines <> 0",
    "days": "SELECT * FROM trellis_pathway_days_sums({f}, {t}) WHERE referrals <> 0",
    "service": "SELECT * FROM trellis_pathway_service_sums({f}, {t}, {a}, {b}) "
               "WHERE referrals <> 0",
}
# The spans of the blocks (sql/017, sql/020).
SPANS = "(VALUES (2), (4), (8), (16), (32), (64)) s(span)"
# Every block row is its weeks added up (sql/017's numbering of weeks).
BLOCKS_FROM_WEEKS = {
    "pathway_org_blocks": (
        "SELECT span, first_week, from_org, to_org, referrals, accepted, declined, withdrawn, "
        "waiting FROM pathway_org_blocks WHERE (referrals, accepted, declined, withdrawn, "
        "waiting) <> (0, 0, 0, 0, 0)",
        "SELECT s.span, trellis_week_block(trellis_week_index(week), s.span), from_org, to_org, "
        "sum(referrals), sum(accepted), sum(declined), sum(withdrawn), sum(waiting) "
        "FROM pathway_org_weekly, " + SPANS + " GROUP BY 1, 2, 3, 4 "
        "HAVING (sum(referrals), sum(accepted), sum(declined), sum(withdrawn), "
        "sum(waiting)) <> (0, 0, 0, 0, 0)"),
    "pathway_reasons_blocks": (
        "SELECT span, first_week, to_org, reason, declines FROM pathway_reasons_blocks "
        "WHERE declines <> 0",
        "SELECT s.span, trellis_week_block(trellis_week_index(week), s.span), to_org, reason, "
        "sum(declines) FROM pathway_reasons_weekly, " + SPANS + " "
        "GROUP BY 1, 2, 3, 4 HAVING sum(declines) <> 0"),
    "pathway_days_blocks": (
        "SELECT span, first_week, to_org, measure, days, referrals FROM pathway_days_blocks "
        "WHERE referrals <> 0",
        "SELECT s.span, trellis_week_block(trellis_week_index(week), s.span), to_org, measure, "
        "days, sum(referrals) FROM pathway_days_weekly, " + SPANS + " "
        "GROUP BY 1, 2, 3, 4, 5 HAVING sum(referrals) <> 0"),
}


def blocks_match(pg, what, empty=()):
    """empty: the tables that hold nothing yet (no answer, no decline)."""
    for table, (got_sql, want_sql) in BLOCKS_FROM_WEEKS.items():
        got, want = rows_of(pg, got_sql), rows_of(pg, want_sql)
        t.check(got == want and bool(want) == (table not in empty), f"{what}: {table} is its weeks added up ({len(want)} rows)",
                f"extra {sorted(set(got) - set(want))[:3]} missing "
                f"{sorted(set(want) - set(got))[:3]}")


def median(hist):
    """The lower median of {days: referrals}, as pw_median_days works it out."""
    total = sum(hist.values())
    upto = 0
    for d in sorted(hist):
        upto += hist[d]
        if upto * 2 >= total:
            return str(d)
    return "none"


def page_table(node, f, to, name):
    status, _, body = get(node, f"/viewer/pathways?from={f}&to={to}&format=csv&table={name}")
    t.check(status == 200, f"{f}..{to} {name}: CSV served", f"{status} {body[:200]}")
    rows = list(csv.reader(io.StringIO(body)))
    return rows[0], {r[0]: r[1:] for r in rows[1:]}


def page_matches(pg, node, f, to):
    """The page's flows, outcomes and medians for f..to against the weekly rows."""
    flows = defaultdict(int)
    outs = defaultdict(lambda: [0, 0, 0, 0])
    for fo, tg, n, a, d, w, wt in pg.psql(WEEKLY["org"].format(f=q(f), t=q(to))):
        flows[(fo, tg)] += int(n)
        for k, v in enumerate((a, d, w, wt)):
            outs[tg][k] += int(v)
    head, rows = page_table(node, f, to, "orgs")
    cols = head[1:-1]
    got = {(fo, tg): int(rows[fo][j]) for fo in rows if fo != "Total"
           for j, tg in enumerate(cols) if rows[fo][j] != "0"}
    t.equal(got, {k: v for k, v in flows.items() if v}, f"{f}..{to}: the page's flows")
    _, rows = page_table(node, f, to, "outcomes")
    got = {o: [int(x) for x in rows[o][:4]] for o in rows if o != "All organisations"}
    t.equal(got, dict(outs), f"{f}..{to}: the page's outcomes")
    hist = defaultdict(lambda: defaultdict(int))
    for org, measure, days, n in pg.psql(WEEKLY["days"].format(f=q(f), t=q(to))):
        hist[(org, measure)][int(days)] += int(n)
        hist[("All organisations", measure)][int(days)] += int(n)
    _, rows = page_table(node, f, to, "days")
    want = {o: [median(hist[(o, "accepted")]), median(hist[(o, "contact")])]
            for o in {o for o, _ in hist}}
    got = {o: r[:2] for o, r in rows.items() if o in want}
    t.equal(got, want, f"{f}..{to}: the page's medians")


with PgCluster("blocks") as pg:
    pki = Pki()
    node = None
    try:
        node = viewer_node(pki, pg, ORGS[0], "a",
                           viewer={"small_number_threshold": "1", "rounding": "1"})
        node.start()

        # ---- random referrals, then events in several statements ----
        refs = []
        for _ in range(15):
            batch = []
            for _ in range(200):
                o, to_org = rng.choice(ORGS), rng.choice(ORGS)
                batch.append((new_id(), o, to_org, rng.choice(SERVICES[o]),
                              rng.choice(SERVICES[to_org]), rng.choice(WEEKS)))
            pg.psql(referrals_sql(batch))
            refs += batch
        blocks_match(pg, "after the referrals", ("pathway_reasons_blocks", "pathway_days_blocks"))
        for _ in range(16):
            evs = []
            for rid, origin, to_org, *_ in rng.sample(refs, 300):
                status = rng.choice(["accepted", "accepted", "declined", "withdrawn",
                                     "contacted", "contacted"])
                reason = {"declined": rng.choice(["no_capacity", "not_eligible", None]),
                          "withdrawn": "referrer_withdrew"}.get(status)
                evs.append((new_id(), rng.choice([origin, to_org]), rid, status, reason,
                            rng.randint(0, 40)))
            pg.psql(events_sql(evs))
        (outcomes,), = pg.psql("SELECT string_agg(DISTINCT outcome, ',' ORDER BY outcome) "
                               "FROM pathway_facts")
        t.equal(outcomes, "accepted,declined,waiting,withdrawn", "every outcome is there")
        blocks_match(pg, "after the events")

        # ---- the sums of periods: blocks and edge weeks against the weeks ----
        periods = [("2026-W01", "2026-W52"), ("2026-W01", "2026-W53"), ("2026-W53", "2027-W01"),
                   ("2025-W10", "2025-W10"), ("2024-W01", "2027-W20"), ("2023-W40", "2028-W05"),
                   ("2025-W50", "2026-W49"), ("2024-W53", "2025-W02"), ("2025-W53", "2026-W01")]
        for _ in range(24):
            a, b = sorted(rng.sample(range(len(WEEKS)), 2))
            periods.append((WEEKS[a], WEEKS[b]))
        pairs = [(ORGS[0], ORGS[1]), (ORGS[2], ORGS[2]), (ORGS[5], ORGS[3])]
        wrong = []
        for f, to in periods:
            for kind in WEEKLY:
                for a, b in (pairs if kind == "service" else [(None, None)]):
                    args = {"f": q(f), "t": q(to), "a": q(a), "b": q(b)}
                    want = rows_of(pg, WEEKLY[kind].format(**args))
                    got = rows_of(pg, BLOCKS[kind].format(**args))
                    if got != want or (kind == "org" and f <= "2027-W20" and to >= "2024-W01"
                                       and not want):
                        wrong.append((f, to, kind, a, b, len(got), len(want)))
        t.equal(wrong, [], f"{len(periods)} periods x 4 kinds: the blocks' sums are the weeks' "
                           "sums")
        (pieces,), = pg.psql("SELECT count(*) FROM trellis_pathway_cover('2025-W50', "
                             "'2026-W49')")
        t.check(int(pieces) <= 8, "a year not aligned is a handful of pieces", pieces)
        # Every 52 weeks, wherever they start (64 starts, each alignment):
        # at most 8 pieces with spans of every power of two up to 64 (4, 16
        # and 64 alone needed up to 10), 5.7 on average.
        (most, mean), = pg.psql(
            "SELECT max(n), round(avg(n), 1) FROM generate_series(0, 63) g, LATERAL ("
            "SELECT count(*) AS n FROM trellis_pathway_cover("
            "trellis_week_text(trellis_week_index('2025-W01') + g), "
            "trellis_week_text(trellis_week_index('2025-W01') + g + 51))) c")
        t.equal((int(most), mean), (8, "5.7"),
                "52 weeks anywhere: at most 8 pieces, 5.7 on average")
        (weeks,), = pg.psql("SELECT sum(span) FROM trellis_pathway_cover('2024-W01', "
                            "'2027-W20')")
        t.equal(int(weeks), len(WEEKS), "the pieces of a period cover each of its weeks once")

        # ---- the page, every count as it is ----
        for f, to in periods[:3] + rng.sample(periods[3:], 5):
            page_matches(pg, node, f, to)

        fk.stop_checked(t, node)
        node.close()
        node = None

        # ---- what a store drops: the sums only for pathway records ----
        A = sd.ORGS[0]
        pg.create_db("inv")
        node = viewer_node(pki, pg, A, "inv", db="inv",
                           viewer={"small_number_threshold": "1", "rounding": "1"})
        node.start()
        agent = pki.agent(A, "office")
        fk.post(node, agent, sd.services(A))
        s0, s1 = sd.service_ids()[A][:2]
        refs = [sd.envelope("pathway.referral", new_id(), A,
                            {"from_service": s0, "to_service": s1, "to_org": A, "week": "2026-W10",
                             "needs": ["housing"], "risk": "medium", "age_band": "25_34",
                             "district": "LS6", "route": "professional"}) for _ in range(3)]
        fk.post(node, agent, refs + [fk.event(A, r["id"], "sent", 0) for r in refs])

        def flow():
            _, rows = page_table(node, "2026-W01", "2026-W52", "orgs")
            return rows.get(A, [None])[0]

        def from_services():
            _, rows = page_table(node, "2026-W01", "2026-W52", "services")
            return sorted(k for k in rows if k != "Total")

        def sums_moved(delta):
            """The sums changed under the node, telling no one (as if kept from before)."""
            for table in ("pathway_org_weekly", "pathway_org_blocks"):
                pg.psql(f"UPDATE {table} SET referrals = referrals + {delta} "
                        f"WHERE from_org = '{A}' AND to_org = '{A}'", db="inv")

        # The node LISTENs a moment after it starts; until then another
        # process's NOTIFY reaches no one. Wait for it: the sums read while
        # moved, put back, read again once a NOTIFY (or the LISTEN's own
        # wake) drops them.
        sums_moved(100)
        t.equal(flow(), "103", "the page reads the sums as they stand")
        sums_moved(-100)

        def heard():
            pg.psql("SELECT pg_notify('trellis_changes', 'pathway.event')", db="inv")
            time.sleep(0.3)
            return flow() == "3"
        t.check(fk.wait_for(heard, 30), "the node hears other processes on the database")
        name0 = sd.services(A)[0]["body"]["name"]
        t.equal((flow(), from_services()), ("3", [name0]), "the page: A's 3 referrals from s0")
        sums_moved(100)
        t.equal(flow(), "3", "kept: the sums are not read again while nothing is stored")
        renamed = dict(sd.services(A)[0])
        renamed["body"] = dict(renamed["body"], name="Renamed Refuge")
        renamed["version"] = 2
        fk.post(node, agent, [renamed] + sd.feedback(A)[:1])
        t.equal((flow(), from_services()), ("3", ["Renamed Refuge"]),
                "a directory record and feedback stored: the sums kept, the new name shown")
        pg.psql("SELECT pg_notify('trellis_changes', 'directory.service,feedback.entry')",
                db="inv")
        time.sleep(1)
        t.equal(flow(), "3", "another process stored directory and feedback records: kept")
        pg.psql("SELECT pg_notify('trellis_changes', 'pathway.event')", db="inv")
        t.check(fk.wait_for(lambda: flow() == "103", 10),
                "another process stored pathway events: the sums are read again", flow())
        sums_moved(-100)
        fk.post(node, agent, [fk.event(A, refs[0]["id"], "accepted", 2)])
        t.equal(flow(), "3", "a pathway record stored here: the sums are read again")
        sums_moved(100)
        pg.psql("SELECT pg_notify('trellis_changes', '')", db="inv")
        t.check(fk.wait_for(lambda: flow() == "103", 10),
                "a NOTIFY that does not say what was stored drops the sums", flow())
        sums_moved(-100)
        pg.psql(events_sql([(new_id(), A, refs[1]["id"], "accepted", None, 1)]), db="inv")
        t.check(fk.wait_for(lambda: flow() == "3", 10),
                "a plain INSERT of events (the triggers' fold) drops the sums", flow())

        # ---- the names of the services shown: only the busiest 30 a side
        # are looked up (trellis_pathway_shown_names), so they must be the
        # 30 the page picks (most referrals, then the id), ties at the 30th
        # place included; the rest are "Other services" ----
        many = []
        for k in range(36):
            sid = new_id()
            body = sd.service_body(A, 1, sid, random.Random(k))
            body["name"] = f"Pathway service {k:02d}"
            many.append(sd.envelope("directory.service", sid, A, body))
        fk.post(node, agent, many)
        ids = [s["id"] for s in many]
        name_of = {s["id"]: s["body"]["name"] for s in many}
        sent_from, sent_to = defaultdict(int), defaultdict(int)
        refs2 = []
        for k, sid in enumerate(ids):
            for j in range(1 + k // 4):  # 1 to 9 referrals, in fours: ties everywhere
                to = ids[(k + 1 + j * 5 % 35) % len(ids)]  # never sid itself
                sent_from[sid] += 1
                sent_to[to] += 1
                refs2.append(sd.envelope("pathway.referral", new_id(), A, {
                    "from_service": sid, "to_service": to, "to_org": A, "week": "2025-W10",
                    "needs": ["housing"], "risk": "medium", "age_band": "25_34",
                    "district": "LS6", "route": "professional"}))
        fk.post(node, agent, refs2)

        def shown(sent):
            top = sorted(sent, key=lambda i: (-sent[i], i))[:30]
            return [name_of[i] for i in top] + ["Other services"]

        def labels():
            status, _, body = get(node, f"/viewer/pathways?from=2025-W01&to=2025-W52&from_org={A}"
                                        f"&to_org={A}&format=csv&table=services")
            rows = list(csv.reader(io.StringIO(body)))
            return rows[0][1:-1], [r[0] for r in rows[1:-1]]

        t.equal(labels(), (shown(sent_to), shown(sent_from)),
                "services: the busiest 30 a side by name, the rest as Other services")
        # A shown service renamed: the kept sums, its names asked for again.
        top = sorted(sent_from, key=lambda i: (-sent_from[i], i))[29]
        renamed = dict(many[ids.index(top)], version=2)
        renamed["body"] = dict(renamed["body"], name="Renamed at the 30th place")
        fk.post(node, agent, [renamed])
        name_of[top] = "Renamed at the 30th place"
        t.equal(labels(), (shown(sent_to), shown(sent_from)),
                "services: the names asked for again over kept sums, the 30th renamed")
        fk.stop_checked(t, node)
    finally:
        fk.close_nodes(node)
        pki.close()

t.finish()
