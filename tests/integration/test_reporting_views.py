"""The reporting views for BI tools (sql/009_reporting.sql, docs/reporting.md):
a login granted trellis_reporting reads every view and nothing else, and the
counts come out as the small-number rule says. Referrals and events go in
through the API from an agent; the expected figures below are worked out by
hand from what the test posts, not read back from the database."""

import subprocess
import uuid

import fedkit as fk
from fedkit import sd
from harness import Checks, Node, PgCluster, Pki

t = Checks("test_reporting_views")
A = sd.ORGS[0]
VIEWS = ["reporting_pathway_flows", "reporting_pathway_outcomes", "reporting_decline_reasons",
         "reporting_pathway_days", "reporting_feedback"]
NOT_VIEWS = ["pathway_referrals", "pathway_events", "pathway_facts", "pathway_org_weekly",
             "pathway_service_weekly", "pathway_org_blocks", "pathway_reasons_blocks",
             "pathway_days_blocks", "directory_services", "feedback_entries",
             "trellis_changes", "trellis_node", "signer_certs", "trellis_reporting_rule"]


def as_login(pg, sql):
    """Run sql as the BI tool's login; (ok, output or error)."""
    p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                        "-h", "127.0.0.1", "-p", str(pg.port), "-U", "bi_reader",
                        "-d", "trellis", "-c", sql], capture_output=True, text=True)
    return p.returncode == 0, (p.stdout if p.returncode == 0 else p.stderr)


def referral(frm, to, week):
    return sd.envelope("pathway.referral", str(uuid.uuid4()), A,
                       {"from_service": frm, "to_service": to, "to_org": A, "week": week,
                        "needs": ["housing"], "risk": "medium", "age_band": "25_34",
                        "district": "LS6", "route": "professional"})


with PgCluster("reporting") as pg:
    pki = Pki()
    node = None
    try:
        node = Node(pki, pg, org=A, name="a").start()
        agent = pki.agent(A, "office")
        fk.post(node, agent, sd.services(A))
        s0, s1, s2 = sd.service_ids()[A][:3]

        records = []

        def refer(frm, to, week, *events):
            r = referral(frm, to, week)
            records.append(r)
            records.append(fk.event(A, r["id"], "sent", 0))
            for ev in events:
                records.append(fk.event(A, r["id"], *ev))

        # 2026-W10: 12 from s0 to s1 (9 accepted on day 2, 3 declined for
        # no_capacity on day 4); 3 from s0 to s2 that nobody has answered.
        for _ in range(9):
            refer(s0, s1, "2026-W10", ("accepted", 2))
        for _ in range(3):
            refer(s0, s1, "2026-W10", ("declined", 4, "no_capacity"))
        for _ in range(3):
            refer(s0, s2, "2026-W10")
        # 2026-W11: 22 from s0 to s1: 10 accepted on day 1, 10 on day 3 (5 of
        # those contacted on day 5), 2 withdrawn before an answer.
        for i in range(10):
            refer(s0, s1, "2026-W11", ("accepted", 1))
        for i in range(10):
            refer(s0, s1, "2026-W11", ("accepted", 3), *([("contacted", 5)] if i < 5 else []))
        for _ in range(2):
            refer(s0, s1, "2026-W11", ("withdrawn", 1, "referrer_withdrew"))
        for i in range(0, len(records), 500):
            fk.post(node, agent, records[i:i + 500])
        # Two feedback entries on one theme: a small count.
        fk.post(node, agent, [fk.entry(A, "Evening appointments, please."),
                              fk.entry(A, "The waiting room is too open.")])

        pg.psql("CREATE ROLE bi_reader LOGIN IN ROLE trellis_reporting")
        (attrs,) = pg.psql("SELECT rolcanlogin::text FROM pg_roles "
                           "WHERE rolname = 'trellis_reporting'")
        t.equal(attrs, ("false",), "the migrations made trellis_reporting, NOLOGIN")

        for v in VIEWS:
            ok, out = as_login(pg, f"SELECT count(*) FROM {v}")
            t.check(ok, f"a trellis_reporting login reads {v}", out.strip()[:200])
        for tbl in NOT_VIEWS:
            ok, out = as_login(pg, f"SELECT 1 FROM {tbl} LIMIT 1")
            t.check(not ok and "permission denied" in out,
                    f"a trellis_reporting login cannot read {tbl}", out.strip()[:200])
        for sql in ["UPDATE trellis_reporting_rule SET threshold = 1",
                    "INSERT INTO pathway_facts (referral, origin, to_org, from_service, "
                    "to_service, week, outcome) VALUES (gen_random_uuid(), 'x', 'x', "
                    "gen_random_uuid(), gen_random_uuid(), '2026-W01', 'waiting')",
                    "CREATE TABLE mine (x int)",
                    "DELETE FROM pathway_referrals"]:
            ok, out = as_login(pg, sql)
            t.check(not ok and "permission denied" in out,
                    f"a trellis_reporting login cannot: {sql[:40]}", out.strip()[:200])

        def rows(sql):
            ok, out = as_login(pg, sql)
            t.check(ok, f"reads: {sql[:60]}", out[:200])
            return [tuple(line.split("\t")) for line in out.splitlines() if line]

        # Flows: in W10 the 3 to s2 are fewer than 8, and alone in A's week,
        # so the 12 to s1 are hidden too (12 - the total of A's week would
        # give the 3 back). W11's 22 show as 20.
        got = rows("SELECT week, to_service::text, coalesce(referrals::text, 'NULL'), "
                   "referrals_shown FROM reporting_pathway_flows ORDER BY week, to_service")
        want = sorted([("2026-W10", s1, "NULL", "not shown"),
                       ("2026-W10", s2, "NULL", "fewer than 8"),
                       ("2026-W11", s1, "20", "20")])
        t.equal(sorted(got), want, "flows: small cells fewer than 8, a lone one's sibling hidden")

        # Outcomes: W10 accepted 9 -> 10, declined 3 and waiting 3 small (two
        # small: nothing more to hide), withdrawn 0. W11: withdrawn 2 small and
        # alone, so accepted (20) is hidden; declined and waiting are 0.
        got = rows("SELECT week, outcome, coalesce(referrals::text, 'NULL'), referrals_shown "
                   "FROM reporting_pathway_outcomes WHERE to_org = '" + A + "'")
        want = [("2026-W10", "accepted", "10", "10"),
                ("2026-W10", "declined", "NULL", "fewer than 8"),
                ("2026-W10", "waiting", "NULL", "fewer than 8"),
                ("2026-W10", "withdrawn", "0", "0"),
                ("2026-W11", "accepted", "NULL", "not shown"),
                ("2026-W11", "declined", "0", "0"),
                ("2026-W11", "waiting", "0", "0"),
                ("2026-W11", "withdrawn", "NULL", "fewer than 8")]
        t.equal(sorted(got), want, "outcomes: rounded, small hidden, a lone small one protected")

        got = rows("SELECT week, reason, coalesce(declines::text, 'NULL'), declines_shown "
                   "FROM reporting_decline_reasons")
        t.equal(got, [("2026-W10", "no_capacity", "NULL", "fewer than 8")],
                "decline reasons: 3 declines are fewer than 8")

        # Medians: W10 acceptance over 9 referrals, all on day 2; W11 over 20,
        # 10 on day 1 and 10 on day 3: the lower median is 1. First contact in
        # W11 over 5 referrals only: no median.
        got = rows("SELECT week, measure, coalesce(median_days::text, 'NULL'), referrals_shown "
                   "FROM reporting_pathway_days ORDER BY week, measure")
        t.equal(got, [("2026-W10", "accepted", "2", "10"),
                      ("2026-W11", "accepted", "1", "20"),
                      ("2026-W11", "contact", "NULL", "fewer than 8")],
                "days: medians over 8 referrals or more only")

        got = rows("SELECT theme, status, coalesce(entries::text, 'NULL'), entries_shown "
                   "FROM reporting_feedback")
        t.equal(got, [("safety", "open", "NULL", "fewer than 8")],
                "feedback: 2 open entries on safety are fewer than 8")

        # The rule is the table's: exact counts from 3 up.
        pg.psql("UPDATE trellis_reporting_rule SET threshold = 3, rounding = 1")
        got = rows("SELECT outcome, coalesce(referrals::text, 'NULL') FROM "
                   "reporting_pathway_outcomes WHERE week = '2026-W11' ORDER BY outcome")
        t.equal(got, [("accepted", "NULL"), ("declined", "0"), ("waiting", "0"),
                      ("withdrawn", "NULL")],
                "threshold 3: the 2 withdrawn still small, accepted still its complement")
        got = rows("SELECT referrals_shown FROM reporting_pathway_flows WHERE week = '2026-W10' "
                   "ORDER BY referrals_shown")
        t.equal(got, [("12",), ("3",)], "threshold 3, rounding 1: W10's flows exact")

        fk.stop_checked(t, node)
    finally:
        fk.close_nodes(node)
        pki.close()
t.finish()
