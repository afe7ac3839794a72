#!/usr/bin/env python3
"""Fictional sample data for Trellis: three charities' directory services,
referrals between them with their events, and "you said, we did" feedback.

No real organisation's data: names, numbers and addresses are invented
(phone numbers from Ofcom's drama ranges, example.org.uk domains).

  sample_data.py ORG [--seed N] [--referrals N]  prints {"records": [...]}
  for one organisation, given the ids the other organisations use (the
  generator is deterministic per seed, so every node computes the same ids).
"""

import argparse
import json
import random
import sys
import uuid

ORGS = ["northside-womens-aid", "riverside-sv-centre", "eastgate-youth-project"]

NEEDS = ["refuge", "housing", "legal", "advocacy", "counselling", "children", "finance",
         "immigration", "health", "substance_use", "sexual_violence", "peer_support", "helpline",
         "mental_health"]
RISKS = ["standard", "medium", "high", "unknown"]
AGE_BANDS = ["under_16", "16_17", "18_24", "25_34", "35_44", "45_54", "55_64", "65_plus",
             "unknown"]
DISTRICTS = ["LS6", "LS7", "LS8", "LS9", "LS11", "LS12", "BD3", "BD7", "WF1", "E08000035",
             "E08000032", "HX1"]
ROUTES = ["self", "professional", "marac", "police", "health", "other"]
THEMES = ["access", "waiting_times", "communication", "safety", "staff_attitude",
          "accessibility", "information", "environment", "children", "language", "digital"]


def uid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def envelope(kind, rid, origin, body, version=1):
    return {"kind": kind, "id": rid, "origin": origin, "version": version, "body": body}


# Each organisation's services: (name, description, needs, genders, ages, confidential, extra).
SERVICES = {
    "northside-womens-aid": [
        ("Northside Refuge",
         "Safe, self-contained refuge accommodation for women and their children escaping "
         "domestic abuse. Spaces are offered through our 24-hour line.",
         ["refuge", "children", "advocacy", "housing"], ["women"], (16, 99), True, {}),
        ("Northside Independent Domestic Violence Advocates",
         "Independent advocates for women at high risk of serious harm: safety planning, "
         "support through court and with housing, and a seat at MARAC.",
         ["advocacy", "legal", "housing"], ["women"], (16, 99), False, {}),
        ("Clearview: support for women with learning disabilities",
         "Easy read information and one-to-one support for women with learning disabilities "
         "who have experienced abuse, at a pace that suits them.",
         ["advocacy", "peer_support", "counselling"], ["women"], (18, 99), False,
         {"accessibility": ["easy_read", "learning_disability_support", "step_free"]}),
    ],
    "riverside-sv-centre": [
        ("Riverside Independent Sexual Violence Advisers",
         "ISVAs support anyone who has experienced rape or sexual assault, recently or in the "
         "past, whether or not they report to the police.",
         ["sexual_violence", "advocacy", "legal"], ["all"], (13, 99), False, {}),
        ("Riverside Counselling",
         "Specialist trauma counselling for survivors of sexual violence, in person or by "
         "video, with sessions in the evening.",
         ["counselling", "sexual_violence", "mental_health"], ["all"], (16, 99), False, {}),
        ("Men's Advice Line North",
         "A confidential helpline for men experiencing domestic abuse, and for friends, family "
         "and professionals supporting them.",
         ["helpline", "advocacy"], ["men"], (16, 99), False, {"helpline": True}),
    ],
    "eastgate-youth-project": [
        ("Eastgate Young People's Service",
         "Support for young people aged 11 to 25 affected by domestic abuse at home or in their "
         "own relationships: one-to-one work, groups and a drop-in.",
         ["advocacy", "counselling", "peer_support", "children"], ["all"], (11, 25), False, {}),
        ("Eastgate Safe Space",
         "A confidential emergency space for 16 and 17 year olds who cannot stay at home "
         "safely, with a key worker every day.",
         ["refuge", "housing", "children"], ["all"], (16, 17), True, {}),
    ],
}

ORG_NAMES = {
    "northside-womens-aid": "Northside Women's Aid",
    "riverside-sv-centre": "Riverside Sexual Violence Centre",
    "eastgate-youth-project": "Eastgate Youth Project",
}


# An organisation's ORUK organization id is derived from its Trellis name
# (docs/directory.md): the version-5 UUID in Trellis's namespace.
TRELLIS_ORG_NAMESPACE = uuid.UUID("368c7d6a-652e-46cb-90f7-c60195cc2b70")


def org_id(org):
    return str(uuid.uuid5(TRELLIS_ORG_NAMESPACE, org))


def service_ids():
    """Stable ids of every org's services, the same on every node."""
    rng = random.Random("trellis-services")
    return {org: [uid(rng) for _ in SERVICES[org]] for org in ORGS}


def service_body(org, idx, sid, rng):
    name, desc, needs, genders, (lo, hi), confidential, extra = SERVICES[org][idx]
    slug = org.split("-")[0]
    org_uuid = org_id(org)
    body = {
        "id": sid, "name": name, "status": "active", "description": desc,
        "url": f"https://www.{slug}.example.org.uk/services/{idx + 1}",
        "email": f"help@{slug}.example.org.uk",
        "minimum_age": lo, "maximum_age": hi,
        "last_modified": "2026-11-02T09:30:00Z",
        "organization": {"id": org_uuid, "name": ORG_NAMES[org],
                         "description": f"{ORG_NAMES[org]} is a fictional charity of the "
                                        "Trellis demo consortium."},
        "service_areas": [{"id": uid(rng), "name": "Leeds and Bradford",
                           "extent_type": "text", "extent": "Leeds and Bradford"}],
        "phones": [{"id": uid(rng), "number": "0113 496 0%03d" % (100 + idx), "type": "voice"}],
        "languages": [{"id": uid(rng), "name": "English", "code": "en"},
                      {"id": uid(rng), "name": "Polish", "code": "pl"}],
        "trellis": {
            "for_genders": genders, "risk_levels": ["standard", "medium", "high"],
            "self_referral": True, "taking_referrals": rng.random() > 0.15,
            "accessibility": extra.get("accessibility", ["interpreters", "step_free"]),
            "needs": needs, "location_confidential": confidential,
        },
    }
    if not confidential and not extra.get("helpline"):
        loc = uid(rng)
        body["service_at_locations"] = [{
            "id": uid(rng),
            "location": {"id": loc, "location_type": "physical", "name": f"{name} office",
                         "addresses": [{"id": uid(rng), "address_1": f"{10 + idx} Market Street",
                                        "city": "Leeds", "state_province": "West Yorkshire",
                                        "postal_code": "LS1 6DT", "country": "GB",
                                        "address_type": "physical"}]}}]
    return body


def services(org):
    rng = random.Random("services-" + org)
    ids = service_ids()[org]
    return [envelope("directory.service", sid, org, service_body(org, i, sid, rng))
            for i, sid in enumerate(ids)]


def iso_week(rng):
    return "2026-W%02d" % rng.randint(20, 47)


def referrals(org, n, seed=1):
    """n referrals from org's services to the other organisations' services,
    with the events org may write (those of a sender). Returns (referrals,
    sender events, receiver events keyed by receiving org)."""
    rng = random.Random(f"referrals-{org}-{seed}")
    ids = service_ids()
    others = [o for o in ORGS if o != org]
    refs, mine, theirs = [], [], {o: [] for o in others}
    for _ in range(n):
        to_org = rng.choice(others)
        rid = uid(rng)
        body = {"from_service": rng.choice(ids[org]), "to_service": rng.choice(ids[to_org]),
                "to_org": to_org, "week": iso_week(rng), "needs": rng.sample(NEEDS, rng.randint(1, 3)),
                "risk": rng.choice(RISKS), "age_band": rng.choice(AGE_BANDS),
                "district": rng.choice(DISTRICTS), "route": rng.choice(ROUTES)}
        refs.append(envelope("pathway.referral", rid, org, body))

        def ev(who, status, days, reason=None):
            b = {"referral": rid, "status": status, "days": days}
            if reason:
                b["reason"] = reason
            return envelope("pathway.event", uid(rng), who, b)

        mine.append(ev(org, "sent", 0))
        fate = rng.random()
        if fate < 0.1:
            mine.append(ev(org, "withdrawn", rng.randint(1, 5), "referrer_withdrew"))
            continue
        if fate < 0.2:
            continue  # still waiting: a stalled referral for the pathway picture
        theirs[to_org].append(ev(to_org, "received", rng.randint(0, 2)))
        if fate < 0.4:
            theirs[to_org].append(ev(to_org, "declined", rng.randint(2, 9),
                                     rng.choice(["no_capacity", "not_eligible", "outside_area",
                                                 "unable_to_contact"])))
            continue
        d = rng.randint(1, 6)
        theirs[to_org].append(ev(to_org, "accepted", d))
        if fate < 0.6:
            continue
        theirs[to_org].append(ev(to_org, "contacted", d + rng.randint(0, 4)))
        if fate < 0.8:
            theirs[to_org].append(ev(to_org, "closed", d + rng.randint(10, 90),
                                     rng.choice(["support_completed", "moved_on", "disengaged",
                                                 "safety_achieved"])))
    return refs, mine, theirs


FEEDBACK = [
    ("service_user", ["waiting_times", "communication"], "consultation",
     "People said they waited too long to hear back after first contacting us.",
     "You told us you waited too long to hear back.",
     [("heard", None, None), ("changed",
                              "We now call everyone back within two working days.", None)]),
    ("peer_designer", ["accessibility", "information"], "co_design",
     "Peer designers asked for our leaflets in easy read and in Polish and Urdu.",
     "You asked for easy read leaflets in more languages.",
     [("agreed", None, None), ("in_progress", "Easy read leaflets are being drafted.", None)]),
    ("service_user", ["environment", "children"], "consultation",
     "Parents asked for a quiet room for children during appointments.",
     "You asked for a quiet room for children.",
     [("cannot_change", None, "The building has no spare room; we are looking for funding "
                              "to move to a larger one next year.")]),
    ("staff", ["digital", "safety"], "co_production",
     "Staff and survivors co-produced a safer way to offer video appointments.",
     "We made video appointments safer together.",
     [("changed", "Video links now expire after each session and no recordings are kept.",
       None)]),
    ("partner", ["information"], "consultation",
     "A partner agency asked for clearer information about who can self-refer.",
     "You asked us to explain who can refer themselves.",
     []),
]


def feedback(org):
    rng = random.Random("feedback-" + org)
    out = []
    for role, themes, level, summary, easy, responses in FEEDBACK:
        eid = uid(rng)
        week = iso_week(rng)
        out.append(envelope("feedback.entry", eid, org,
                            {"week": week, "source_role": role, "themes": themes,
                             "summary": summary, "easy_read": easy, "level": level}))
        for status, changed, why_not in responses:
            b = {"entry": eid, "week": week, "status": status}
            if changed:
                b["what_changed"] = changed
            if why_not:
                b["why_not"] = why_not
            out.append(envelope("feedback.response", uid(rng), org, b))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("org", choices=ORGS)
    ap.add_argument("--referrals", type=int, default=100)
    ap.add_argument("--part", default="own",
                    help="services: the org's directory services; own: its referrals, its "
                         "events as sender and its feedback; to:ORG: its referrals to ORG; "
                         "received: its events as receiver of the others' referrals")
    args = ap.parse_args()
    if args.part == "services":
        records = services(args.org)
    elif args.part == "own":
        refs, mine, _ = referrals(args.org, args.referrals)
        records = refs + mine + feedback(args.org)
    elif args.part.startswith("to:"):
        to_org = args.part[3:]
        ids = set(service_ids().get(to_org, []))
        records = [r for r in referrals(args.org, args.referrals)[0]
                   if r["body"]["to_service"] in ids]
    elif args.part == "received":
        records = []
        for other in ORGS:
            if other != args.org:
                records += referrals(other, args.referrals)[2][args.org]
    else:
        ap.error("--part must be services, own, to:ORG or received")
    json.dump({"records": records}, fp=sys.stdout)


if __name__ == "__main__":
    main()
