"""The pathway sums (pathway_facts and the pathway_*_weekly tables, kept by
sql/functions/15_trellis_pathway_fold.sql) against a fold from scratch
worked out here, in Python, from the rows of pathway_referrals and
pathway_events (and the sums by block of weeks of sql/017 against the
weekly ones): after concurrent ingest through the API from several
clients while other sessions INSERT events directly (the \\copy path and
its triggers), after a referral and its event committed by two sessions
racing each other (both orders), after events stored before their referral
(a pull), and after every batch delivered again. The sums must equal the
recomputation exactly, every time."""

import json
import random
import subprocess
import threading
import time
import uuid
from collections import defaultdict

import fedkit as fk
from fedkit import sd
from harness import Checks, Node, PgCluster, Pki, api

t = Checks("test_pathway_sums")
A, B, C = sd.ORGS
WEEKS = ["2026-W10", "2026-W11", "2026-W12"]  # few weeks: concurrent folds share rows
CLIENTS = 4
BATCHES = 6


def referral(rng, frm, to, to_org):
    return sd.envelope("pathway.referral", str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                       A, {"from_service": frm, "to_service": to, "to_org": to_org,
                           "week": rng.choice(WEEKS), "needs": ["housing"], "risk": "medium",
                           "age_band": "25_34", "district": "LS6", "route": "professional"})


def answer(rng, org, rid):
    """An event that may move the referral's outcome, on a random day. A
    decline without a reason (counted as "other") only from a direct INSERT:
    the API requires one."""
    status = rng.choice(["accepted", "accepted", "declined", "withdrawn", "contacted", "received"])
    declines = ["no_capacity", "outside_area"] + ([None] if org != A else [])
    reason = {"declined": rng.choice(declines), "withdrawn": "referrer_withdrew"}.get(status)
    return fk.event(org, rid, status, rng.randint(0, 9), reason)


def sql_text(v):
    return "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"


def insert_events_sql(events):
    """A plain INSERT of events, as \\copy or a restore stores them."""
    rows = []
    for e in events:
        b = e["body"]
        rows.append(f"({sql_text(e['id'])}, {sql_text(e['origin'])}, 1, '{'0' * 64}', "
                    f"nextval('trellis_change_seq'), '{{}}', {sql_text(b['referral'])}, "
                    f"{sql_text(b['status'])}, {sql_text(b.get('reason'))}, {b['days']})")
    return ("INSERT INTO pathway_events (id, origin, version, hash, seq, doc, referral, status, "
            "reason, days) VALUES " + ", ".join(rows))


def insert_referral_sql(r):
    b = r["body"]
    return ("INSERT INTO pathway_referrals (id, origin, version, hash, seq, doc, from_service, "
            "to_service, to_org, week, needs, risk, age_band, district, route) VALUES "
            f"({sql_text(r['id'])}, {sql_text(r['origin'])}, 1, '{'0' * 64}', "
            f"nextval('trellis_change_seq'), '{{}}', {sql_text(b['from_service'])}, "
            f"{sql_text(b['to_service'])}, {sql_text(b['to_org'])}, {sql_text(b['week'])}, "
            "'{housing}', 'medium', '25_34', 'LS6', 'professional')")


def store_sql(records, replicating):
    """trellis_store called as the pull calls it (sql/functions/20_trellis_apply.sql)."""
    def arr(vals, typ):
        return "ARRAY[" + ", ".join(vals) + "]::" + typ + "[]"
    return ("SELECT count(*) FROM trellis_store("
            + arr([str(i) for i in range(len(records))], "int") + ", "
            + arr([sql_text(r["kind"]) for r in records], "text") + ", "
            + arr([sql_text(r["id"]) for r in records], "uuid") + ", "
            + arr([sql_text(r["origin"]) for r in records], "text") + ", "
            + arr(["1" for _ in records], "bigint") + ", "
            + arr([sql_text(uuid.uuid4().hex * 2) for _ in records], "text") + ", "
            + arr([sql_text(json.dumps(r)) for r in records], "jsonb") + ", "
            + ("true" if replicating else "false") + ")")


def recompute(pg):
    """The facts and the four weekly sums, folded from scratch from the rows
    (the rule of docs/records.md, "Referral lifecycle": only the parties'
    events; the first acceptance or decline by days, then status, then id,
    unless a withdrawal came first; first contact on or after acceptance)."""
    refs = pg.psql("SELECT id, origin, coalesce(to_org, '\\N'), from_service, to_service, week "
                   "FROM pathway_referrals")
    evs = defaultdict(list)
    for eid, origin, ref, status, days, reason in pg.psql(
            "SELECT id, origin, referral, status, days, coalesce(reason, '\\N') "
            "FROM pathway_events"):
        evs[ref].append((int(days), status, uuid.UUID(eid), origin,
                         None if reason == "\\N" else reason))
    facts, org, svc, reasons, days = {}, defaultdict(lambda: [0] * 5), defaultdict(int), \
        defaultdict(int), defaultdict(int)
    for rid, origin, to_org, frm, to, week in refs:
        mine = [e for e in evs[rid] if e[3] == origin or e[3] == to_org]
        answers = sorted(e for e in mine if e[1] in ("accepted", "declined"))
        first = answers[0] if answers else None
        withdrawn = min((e[0] for e in mine if e[1] == "withdrawn"), default=None)
        contact, reason, decision = None, None, None
        if first and (withdrawn is None or first[0] <= withdrawn):
            outcome, decision = first[1], first[0]
            if outcome == "declined":
                reason = first[4]
            else:
                contact = min((e[0] for e in mine if e[1] == "contacted" and e[0] >= first[0]),
                              default=None)
        elif withdrawn is not None:
            outcome = "withdrawn"
        else:
            outcome = "waiting"
        to_org = "" if to_org == "\\N" else to_org
        facts[(rid, origin)] = (to_org, frm, to, week, outcome, decision, reason, contact)
        o = org[(week, origin, to_org)]
        o[0] += 1
        o[1 + ["accepted", "declined", "withdrawn", "waiting"].index(outcome)] += 1
        svc[(origin, to_org, week, frm, to)] += 1
        if outcome == "declined":
            reasons[(week, to_org, reason or "other")] += 1
        if outcome == "accepted":
            days[(week, to_org, "accepted", decision)] += 1
        if contact is not None:
            days[(week, to_org, "contact", contact)] += 1
    return {"facts": facts, "org": {k: tuple(v) for k, v in org.items()}, "svc": dict(svc),
            "reasons": dict(reasons), "days": dict(days)}


def stored_sums(pg):
    """The same, as the node keeps them (rows that add up to nothing left out)."""
    def num(v):
        return None if v == "" else int(v)
    facts = {(r[0], r[1]): (r[2], r[3], r[4], r[5], r[6], num(r[7]),
                            None if r[8] == "\\N" else r[8], num(r[9]))
             for r in pg.psql("SELECT referral, origin, to_org, from_service, to_service, week, "
                              "outcome, decision_days, coalesce(decline_reason, '\\N'), "
                              "contact_days FROM pathway_facts")}
    org = {(r[0], r[1], r[2]): tuple(int(x) for x in r[3:])
           for r in pg.psql("SELECT week, from_org, to_org, referrals, accepted, declined, "
                            "withdrawn, waiting FROM pathway_org_weekly WHERE (referrals, "
                            "accepted, declined, withdrawn, waiting) <> (0, 0, 0, 0, 0)")}
    svc = {tuple(r[:5]): int(r[5])
           for r in pg.psql("SELECT from_org, to_org, week, from_service, to_service, "
                            "referrals FROM pathway_service_weekly WHERE referrals <> 0")}
    reasons = {tuple(r[:3]): int(r[3])
               for r in pg.psql("SELECT week, to_org, reason, declines "
                                "FROM pathway_reasons_weekly WHERE declines <> 0")}
    days = {(r[0], r[1], r[2], int(r[3])): int(r[4])
            for r in pg.psql("SELECT week, to_org, measure, days, referrals "
                             "FROM pathway_days_weekly WHERE referrals <> 0")}
    return {"facts": facts, "org": org, "svc": svc, "reasons": reasons, "days": days}


# Each block table of sql/017 against its weekly table added up by block.
BLOCKS = {
    "pathway_org_blocks": ("span, first_week, from_org, to_org",
                           "referrals, accepted, declined, withdrawn, waiting",
                           "pathway_org_weekly"),
    "pathway_reasons_blocks": ("span, first_week, to_org, reason", "declines",
                               "pathway_reasons_weekly"),
    "pathway_days_blocks": ("span, first_week, to_org, measure, days", "referrals",
                            "pathway_days_weekly"),
}


def blocks_of_weeks(pg, what):
    for table, (keys, sums, weekly) in BLOCKS.items():
        nonzero = " OR ".join(f"{c} <> 0" for c in sums.split(", "))
        got = sorted(pg.psql(f"SELECT {keys}, {sums} FROM {table} WHERE {nonzero}"))
        wkeys = keys.replace("span, first_week",
                             "s.span, trellis_week_block(trellis_week_index(week), s.span)")
        cols = sums.split(", ")
        wsums = ", ".join(f"sum({c}) AS s{i}" for i, c in enumerate(cols))
        group = ", ".join(str(i + 1) for i in range(len(keys.split(", "))))
        want = sorted(pg.psql(
            f"SELECT * FROM (SELECT {wkeys}, {wsums} FROM {weekly}, "
            f"(VALUES (2), (4), (8), (16), (32), (64)) s(span) GROUP BY {group}) x WHERE "
            + " OR ".join(f"x.s{i} <> 0" for i in range(len(cols)))))
        t.check(got == want, f"{what}: {table} is the weekly sums by block ({len(want)} rows)",
                f"extra {sorted(set(got) - set(want))[:2]} missing "
                f"{sorted(set(want) - set(got))[:2]}")


def same_as_scratch(pg, what):
    blocks_of_weeks(pg, what)
    want, got = recompute(pg), stored_sums(pg)
    for table in want:
        missing = {k: v for k, v in want[table].items() if got[table].get(k) != v}
        extra = {k: v for k, v in got[table].items() if k not in want[table]}
        t.check(not missing and not extra, f"{what}: {table} equals the fold from scratch "
                f"({len(want[table])} rows)", f"differ: {list(missing.items())[:3]} "
                f"got {[got[table].get(k) for k in list(missing)[:3]]}; "
                f"extra: {list(extra.items())[:3]}")
    return got


with PgCluster("sums") as pg:
    pki = Pki()
    node = None
    try:
        node = Node(pki, pg, org=A, name="a").start()
        agent = pki.agent(A, "office")
        fk.post(node, agent, sd.services(A))
        mine = sd.service_ids()[A][:4]
        theirs = sd.service_ids()[B][:2]  # B's services: not held here, so not refused

        # 1. Several clients posting at once, each batch new referrals (to A
        # itself and to B) with their "sent" events and answers to referrals
        # any client stored before; meanwhile two sessions INSERT B's and C's
        # events (C is no party: the fold must leave them out) as \copy would.
        stored = []  # referrals the node said it stored
        lock = threading.Lock()
        batches = []
        errors = []

        def client(n):
            rng = random.Random(f"client-{n}")
            try:
                for _ in range(BATCHES):
                    batch = []
                    for _ in range(40):
                        frm, to = rng.sample(mine, 2)  # never to the service it left
                        if rng.random() < 0.3:
                            r = referral(rng, frm, rng.choice(theirs), B)
                        else:
                            r = referral(rng, frm, to, A)
                        batch += [r, fk.event(A, r["id"], "sent", 0)]
                    with lock:
                        earlier = rng.sample(stored, min(len(stored), 60))
                    batch += [answer(rng, A, r["id"]) for r in earlier]
                    fk.post(node, agent, batch)
                    with lock:
                        stored.extend(r for r in batch if r["kind"] == "pathway.referral")
                        batches.append(batch)
            except Exception as e:  # noqa: BLE001 -- reported as a failed check below
                errors.append(f"client {n}: {e}")

        def direct(n):
            rng = random.Random(f"direct-{n}")
            try:
                while True:  # as long as the clients post, and once after
                    last = clients_done.is_set()
                    with lock:
                        earlier = rng.sample(stored, min(len(stored), 30))
                    evs = [answer(rng, rng.choice([B, C]), r["id"]) for r in earlier]
                    if evs:
                        pg.psql(insert_events_sql(evs))
                    if last:
                        break
                    time.sleep(0.1)
            except Exception as e:  # noqa: BLE001
                errors.append(f"direct {n}: {e}")

        clients_done = threading.Event()
        clients = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        directs = [threading.Thread(target=direct, args=(i,)) for i in range(2)]
        for th in clients + directs:
            th.start()
        for th in clients:
            th.join()
        clients_done.set()
        for th in directs:
            th.join()
        t.equal(errors, [], "every concurrent write went through")
        (n_refs,), = pg.psql("SELECT count(*) FROM pathway_referrals")
        t.equal(int(n_refs), CLIENTS * BATCHES * 40, "every posted referral is stored")
        (n_forged,), = pg.psql(f"SELECT count(*) FROM pathway_events WHERE origin = '{C}'")
        t.check(int(n_forged) > 0, "C's events (no party) were stored beside the others",
                n_forged)
        got = same_as_scratch(pg, "after concurrent ingest")
        outcomes = {f[4] for f in got["facts"].values()}
        t.equal(outcomes, {"accepted", "declined", "withdrawn", "waiting"},
                "the ingest moved referrals to every outcome")

        # 2. A referral and its event in two sessions that race: the first
        # holds its transaction open while the second stores; whichever
        # commits second must fold both. Then the other way round.
        rng = random.Random("race")
        for first_kind in ("referral", "event"):
            r = referral(rng, mine[0], mine[1], A)
            ev = fk.event(A, r["id"], "accepted", 3)
            ref_sql, ev_sql = insert_referral_sql(r), insert_events_sql([ev])
            first, second = (ref_sql, ev_sql) if first_kind == "referral" else (ev_sql, ref_sql)
            slow = subprocess.Popen(
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                 str(pg.port), "-U", "trellis", "-d", "trellis",
                 "-c", f"BEGIN; {first}; SELECT pg_sleep(1.5); COMMIT"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(0.5)
            pg.psql(second)
            _, err = slow.communicate(timeout=30)
            t.check(slow.returncode == 0, f"race, {first_kind} first: the slow session commits",
                    err)
            (outcome,), = pg.psql(f"SELECT outcome FROM pathway_facts WHERE referral = "
                                  f"'{r['id']}'")
            t.equal(outcome, "accepted",
                    f"race, {first_kind} first: the event is folded into its referral")
        same_as_scratch(pg, "after the races")

        # 3. A pull: events stored before their referral (trellis_store with
        # replicating), B's among them; then the referrals, in a batch with
        # an event of its own; then, in the same transaction as a store, a
        # plain INSERT (the triggers fold again once trellis_store returns).
        rng = random.Random("pull")
        refs = [referral(rng, mine[2], theirs[0], B) for _ in range(20)]
        early = [fk.event(B, r["id"], "accepted", 2) for r in refs[:10]]
        early += [fk.event(A, r["id"], "withdrawn", 1, "referrer_withdrew") for r in refs[5:15]]
        pg.psql(store_sql(early, True))
        (facts,), = pg.psql("SELECT count(*) FROM pathway_facts f JOIN unnest(ARRAY[" +
                            ", ".join(sql_text(r["id"]) for r in refs) + "]::uuid[]) AS a(id) "
                            "ON f.referral = a.id")
        t.equal(facts, "0", "events without their referral make no facts yet")
        pg.psql(store_sql(refs + [fk.event(B, refs[15]["id"], "declined", 4, "no_capacity")],
                          True))
        late = refs[16]
        pg.psql(store_sql([fk.event(B, late["id"], "accepted", 1)], True) + "; " +
                insert_events_sql([fk.event(A, late["id"], "withdrawn", 0)]))
        got = same_as_scratch(pg, "after a pull")
        t.equal([got["facts"][(r["id"], A)][4] for r in (refs[0], refs[7], refs[12], refs[15],
                                                          refs[16], refs[19])],
                ["accepted", "withdrawn", "withdrawn", "declined", "withdrawn", "waiting"],
                "the pulled referrals' outcomes, worked out by hand")

        # 4. Every API batch delivered again, by the clients at once: nothing
        # stored, nothing moved.
        before = stored_sums(pg)
        replies = []

        def redeliver(part):
            for batch in part:
                status, _, reply = api(node, agent, "POST", "/v1/records", {"records": batch})
                replies.append((status, reply.get("stored"), reply.get("unchanged"),
                                len(batch)))

        threads = [threading.Thread(target=redeliver, args=(batches[i::CLIENTS],))
                   for i in range(CLIENTS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        t.equal([r for r in replies if r[:3] != (200, 0, r[3])], [],
                "every batch delivered again is unchanged")
        t.equal(len(replies), len(batches), "every batch was delivered again")
        t.check(stored_sums(pg) == before, "the sums did not move on redelivery")
        same_as_scratch(pg, "after redelivery")

        fk.stop_checked(t, node)
    finally:
        fk.close_nodes(node)
        pki.close()

t.finish()
