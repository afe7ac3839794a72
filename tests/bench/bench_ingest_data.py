#!/usr/bin/env python3
"""Make the ingest benchmark's rows: N pathway.referral records as JSON batches
of 1,000 (for POST /v1/records) and the same rows as CSV (for psql \\copy),
with every column trellisd would store; and services.json, the origin's 50
directory services the referrals go between (a referral leaves from a service
of its origin, so the node must hold them first)."""

import csv
import hashlib
import json
import os
import random
import sys
import uuid

n, out = int(sys.argv[1]), sys.argv[2]
origin = sys.argv[3] if len(sys.argv) > 3 else "bench"
rng = random.Random(42)
needs = ["refuge", "housing", "legal", "advocacy", "counselling", "children", "finance"]
services = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(50)]
os.makedirs(os.path.join(out, "batches"), exist_ok=True)
# The origin's ORUK organization id (docs/directory.md).
org_id = str(uuid.uuid5(uuid.UUID("368c7d6a-652e-46cb-90f7-c60195cc2b70"), origin))
with open(os.path.join(out, "services.json"), "w") as f:
    json.dump({"records": [
        {"kind": "directory.service", "id": sid, "origin": origin, "version": 1,
         "body": {"id": sid, "name": f"Service {i}", "status": "active",
                  "organization": {"id": org_id, "name": "Bench", "description": "Bench."},
                  "trellis": {"location_confidential": False}}}
        for i, sid in enumerate(services)]}, f)
batch = []
with open(os.path.join(out, "rows.csv"), "w", newline="") as f:
    w = csv.writer(f)
    for i in range(n):
        rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        a, b = rng.sample(services, 2)
        body = {"from_service": a, "to_service": b, "to_org": origin, "week": "2026-W%02d" % rng.randint(1, 47),
                "needs": rng.sample(needs, rng.randint(1, 3)),
                "risk": rng.choice(["standard", "medium", "high", "unknown"]),
                "age_band": rng.choice(["18_24", "25_34", "35_44", "45_54"]),
                "district": rng.choice(["LS6", "LS7", "BD3", "WF1", "E08000035"]),
                "route": rng.choice(["self", "professional", "police", "health"])}
        doc = {"kind": "pathway.referral", "id": rid, "origin": origin, "version": 1,
               "body": body}
        canon = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        w.writerow([rid, origin, 1, hashlib.sha256(canon.encode()).hexdigest(), i + 1, canon,
                    a, b, body["week"], "{" + ",".join(body["needs"]) + "}", body["risk"],
                    body["age_band"], body["district"], body["route"]])
        batch.append(doc)
        if len(batch) == 1000 or i == n - 1:
            with open(os.path.join(out, "batches", "%06d.json" % (i // 1000)), "w") as bf:
                json.dump({"records": batch}, bf, separators=(",", ":"))
            batch = []
