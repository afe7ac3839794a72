"""The views count only the parties' events. A node stores what a peer's
node sends in that node's own name without asking whether that organisation
is a party to the referral or the feedback entry (records may arrive before
what they refer to), so a third member's node -- compromised, or running
other code -- can put events on A's referrals and responses on A's entries
into every database. Here C's database is written directly, with records
signed by C's node key as a compromised node would sign them (its own node
would refuse such records from its agents); A pulls them, stores them, and
/v1/referrals and /v1/feedback on A must still fold only the events of the
referral's sender and receiver, and the responses of the entry's
organisation. Expected values come from what the parties wrote."""

import json
import uuid

import fedkit as fk
from fakepeer import sign
from fedkit import sd
from harness import Checks, Node, PgCluster, Pki, api

t = Checks("test_views_parties")
A, B, C = sd.ORGS


def referral(frm, to):
    return sd.envelope("pathway.referral", str(uuid.uuid4()), A,
                       {"from_service": frm, "to_service": to, "to_org": B, "week": "2026-W40",
                        "needs": ["housing"], "risk": "high", "age_band": "25_34",
                        "district": "LS6", "route": "professional"})


def forge_on_c(pg, c, rec, table, cols):
    """Store rec, signed with C's node key, in C's database as if C's node
    had accepted it, and wake C's feed as a commit by its node would."""
    rec = sign(rec, c.certs)
    names = ", ".join(cols)
    vals = ", ".join("'" + str(v).replace("'", "''") + "'" for v in cols.values())
    doc = json.dumps(rec).replace("'", "''")
    pg.psql(f"INSERT INTO {table} (id, origin, version, hash, seq, doc, {names}) VALUES "
            f"('{rec['id']}', '{rec['origin']}', 1, '{'0' * 64}', nextval('trellis_change_seq'), "
            f"'{doc}', {vals}); SELECT pg_notify('trellis_changes', '')", db="c")


with PgCluster("views") as pg:
    pki = Pki()
    a = b = c = None
    try:
        for db in ("a", "b", "c"):
            pg.create_db(db)
        a = Node(pki, pg, org=A, name="a", db="a")
        b = Node(pki, pg, org=B, name="b", db="b")
        c = Node(pki, pg, org=C, name="c", db="c")
        a.add_peer(b, share="all")
        a.add_peer(c, share="none")
        b.add_peer(a, share="all")
        b.add_peer(c, share="none")
        c.add_peer(a, share="all")
        c.add_peer(b, share="all")
        for n in (a, b, c):
            n.start()
        ag = {o: pki.agent(o, "office") for o in (A, B, C)}

        fk.post(a, ag[A], sd.services(A))
        fk.post(b, ag[B], sd.services(B))
        sa, sb = sd.service_ids()[A][0], sd.service_ids()[B][0]
        r1, r2 = referral(sa, sb), referral(sa, sb)
        entry = fk.entry(A, "Asked for evening appointments.")
        answer = fk.response(A, entry["id"], "heard")
        fk.post(a, ag[A], [r1, r2, fk.event(A, r1["id"], "sent", 0),
                           fk.event(A, r2["id"], "sent", 0), entry, answer])
        got = fk.wait_for(lambda: {("pathway.referral", r1["id"]), ("directory.service", sa)}
                          <= set(fk.held(pg, "b")), 20)
        t.check(got, "B has A's referrals to its service")
        b_events = [fk.event(B, r1["id"], "received", 1), fk.event(B, r1["id"], "accepted", 2)]
        fk.post(b, ag[B], b_events)

        # C is no party to r1, r2 or the entry. Its own node refuses such records:
        status, _, reply = api(c, ag[C], "POST", "/v1/records",
                               {"records": [fk.event(C, r1["id"], "closed", 40,
                                                     "support_completed")]})
        t.check(status == 200 and reply["refused"] == 1,
                "C's node refuses an event on a referral C is no party to", str(reply)[:300])
        # ... so they are written into its database directly.
        forged = [fk.event(C, r1["id"], "closed", 40, "support_completed"),
                  fk.event(C, r2["id"], "received", 1),
                  fk.event(C, r2["id"], "declined", 2, "no_capacity")]
        for e in forged:
            body = e["body"]
            cols = {"referral": body["referral"], "status": body["status"], "days": body["days"]}
            if "reason" in body:
                cols["reason"] = body["reason"]
            forge_on_c(pg, c, e, "pathway_events", cols)
        bad_answer = sd.envelope("feedback.response", str(uuid.uuid4()), C,
                                 {"entry": entry["id"], "week": "2026-W49", "status": "changed",
                                  "what_changed": "Nothing, this answer is not A's."})
        forge_on_c(pg, c, bad_answer, "feedback_responses",
                   {"entry": entry["id"], "week": "2026-W49", "status": "changed"})

        want = fk.keys(b_events + forged + [bad_answer])
        got = fk.wait_for(lambda: want <= set(fk.held(pg, "a")), 30)
        t.check(got, "A holds B's events and C's events and response (stored, as designed)",
                str(want - set(fk.held(pg, "a"))))

        status, _, view = api(a, ag[A], "GET", "/v1/referrals?direction=out")
        by_id = {x["referral"]["id"]: x for x in view.get("referrals", [])} if status == 200 else {}
        t.equal(sorted(by_id), sorted([r1["id"], r2["id"]]), "A's out view lists its two referrals")
        got1 = by_id.get(r1["id"], {})
        t.equal((got1.get("status"), got1.get("events")), ("accepted", 3),
                "r1: sent by A, received and accepted by B -- C's 'closed' is not counted")
        got2 = by_id.get(r2["id"], {})
        t.equal((got2.get("status"), got2.get("events")), ("sent", 1),
                "r2: only sent by A -- C's 'received' and 'declined' are not counted")

        want = fk.keys(forged)
        got = fk.wait_for(lambda: want <= set(fk.held(pg, "b")), 30)
        t.check(got, "B, the receiver, holds C's events too")
        status, _, view = api(b, ag[B], "GET", "/v1/referrals?direction=in")
        by_id = {x["referral"]["id"]: x for x in view.get("referrals", [])} if status == 200 else {}
        t.equal({k: (v["status"], v["events"]) for k, v in by_id.items()},
                {r1["id"]: ("accepted", 3), r2["id"]: ("sent", 1)},
                "B's in view: the same folds, C's events not counted")

        status, _, view = api(a, ag[A], "GET", "/v1/feedback")
        items = {x["entry"]["id"]: x for x in view.get("feedback", [])} if status == 200 else {}
        got = items.get(entry["id"], {})
        t.equal(got.get("status"), "heard",
                "the entry's status is A's own answer, not C's 'changed'")
        t.equal([r["id"] for r in got.get("responses", [])], [answer["id"]],
                "the entry lists A's response only")
        status, _, view = api(a, ag[A], "GET", "/v1/feedback?status=changed")
        t.equal([x["entry"]["id"] for x in view.get("feedback", [])], [],
                "no entry of A's shows as changed")
        for n in (a, b, c):
            fk.stop_checked(t, n)
    finally:
        fk.close_nodes(a, b, c)
        pki.close()

t.finish()
