"""Directory services for bench_viewer.sh: N services of 30 member
organisations, bodies made like the demo's (deploy/sample_data.py) with a
name, description, needs and area of their own, as CSV rows (id, origin, doc)
that the bench loads with COPY and turns into directory_services rows with
the same expressions as trellis_store."""

import csv
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "deploy"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sample_data as sd  # noqa: E402
import bench_vocab  # noqa: E402

WORDS = ["refuge", "advocacy", "counselling", "outreach", "helpline", "housing", "legal",
         "children", "peer support", "recovery", "drop-in", "group work"]
PLACES = ["Leeds", "Bradford", "Wakefield", "Halifax", "Huddersfield", "Keighley", "Dewsbury",
          "Otley", "Pudsey", "Morley"]


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    rng = random.Random("bench-viewer")
    templates = [(org, i) for org in sd.ORGS for i in range(len(sd.SERVICES[org]))]
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        for k in range(n):
            org, idx = templates[k % len(templates)]
            origin = "member-%02d" % (k % 30)
            sid = sd.uid(rng)
            body = sd.service_body(org, idx, sid, rng)
            word, place = rng.choice(WORDS), rng.choice(PLACES)
            # Words from a realistic vocabulary (bench_vocab.py), so that a
            # search string recurs only by chance, as between caseworkers.
            body["name"] = f"{place} {word} {bench_vocab.name(rng, k)}"
            body["description"] = f"{body['description']} Based in {place}; {word} for people " \
                                  f"affected by domestic abuse or sexual violence. " \
                                  f"{bench_vocab.description(rng)}"
            body["organization"]["id"] = sd.org_id(origin)
            body["organization"]["name"] = f"Member {k % 30:02d}"
            body["trellis"]["needs"] = rng.sample(sd.NEEDS, 3)
            doc = {"kind": "directory.service", "id": sid, "origin": origin, "version": 1,
                   "audience": "consortium", "body": body}
            w.writerow([sid, origin, json.dumps(doc, separators=(",", ":"))])


main()
