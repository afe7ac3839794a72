#!/usr/bin/env python3
"""A referral export of N rows in the CSV dialect of deploy/examples/
referrals.csv (what a CMS's report looks like), for bench_agent.sh.
  bench_agent_data.py N OUT.csv [EVENTS]   EVENTS=1: some rows have a later status"""

import random
import sys

TEAMS = ["Refuge Team", "IDVA Service", "Clearview"]
PARTNERS = ["Riverside ISVA", "Riverside Counselling", "Men's Advice Line North",
            "Eastgate Young People", "Eastgate Safe Space"]
NEEDS = ["Refuge accommodation", "Housing", "Legal advice", "IDVA support", "Counselling",
         "Children's support", "Money and debt", "Mental health", "Peer support group"]
RISKS = ["Standard", "Medium", "High", "High (MARAC)", "Not assessed"]
SOURCES = ["Self-referral", "Professional", "MARAC", "Police", "GP", "Housing officer"]
HEADER = ("Case Ref,Client Name,Date of Birth,Address,Postcode,Phone,Referral Date,"
          "Referring Team,Referred To,Support Needs,DASH Risk,Referral Source,Date Accepted,"
          "Date Declined,Decline Reason,Date First Contact,Date Closed,Closure Reason,"
          "Worker Notes")


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    events = len(sys.argv) > 3 and sys.argv[3] == "1"
    rng = random.Random(42)
    with open(out, "w", newline="", buffering=1 << 20) as f:
        f.write("\ufeff" + HEADER + "\r\n")
        for i in range(n):
            day, month = 1 + i % 28, 1 + (i // 28) % 12
            acc = f"{min(day + 2, 28):02d}/{month:02d}/2026" if events and i % 3 == 0 else ""
            f.write(f"BENCH-{i:08d},Client {i},{1 + i % 28:02d}/{1 + i % 12:02d}/{1950 + i % 55},"
                    f"\"{i % 300} Example Street, Leeds\",LS{1 + i % 28} {1 + i % 9}AB,"
                    f"07700 9{i % 100000:05d},{day:02d}/{month:02d}/2026,{rng.choice(TEAMS)},"
                    f"{rng.choice(PARTNERS)},\"{rng.choice(NEEDS)};{rng.choice(NEEDS)}\","
                    f"{rng.choice(RISKS)},{rng.choice(SOURCES)},{acc},,,,,,"
                    f"\"Spoke to client {i}, follow up next week\"\r\n")


main()
