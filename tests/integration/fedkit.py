"""Helpers for the federation and limits tests that came with issue 13: what a
node's database holds (each record with its sequence number), records made
fresh for a test, the sync status, waiting on a condition, and stopping a
node with its exit status and its log checked for sanitizer reports."""

import os
import re
import sys
import time
import uuid

from harness import SOURCE_DIR, api

sys.path.insert(0, os.path.join(SOURCE_DIR, "deploy"))
import sample_data as sd  # noqa: E402

KIND_TABLES = {
    "directory.service": "directory_services",
    "pathway.referral": "pathway_referrals",
    "pathway.event": "pathway_events",
    "feedback.entry": "feedback_entries",
    "feedback.response": "feedback_responses",
}

SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: UndefinedBehaviorSanitizer")


def held(pg, db):
    """{(kind, id): (seq, hash, origin)} of every record a node's database holds."""
    out = {}
    for kind, table in KIND_TABLES.items():
        for rid, seq, h, origin in pg.psql(f"SELECT id, seq, hash, origin FROM {table}", db=db):
            out[(kind, rid)] = (int(seq), h, origin)
    return out


def seq_last(pg, db):
    """The change sequence's last value (0 when none was ever taken)."""
    (value, called), = pg.psql("SELECT last_value, is_called FROM trellis_change_seq", db=db)
    return int(value) if called == "t" else 0


def keys(records):
    """(kind, id) of records as posted."""
    return {(r["kind"], r["id"]) for r in records}


def post(node, agent, records):
    """POST records; raises with the reply unless the node stored every one."""
    status, _, reply = api(node, agent, "POST", "/v1/records", {"records": records})
    if status != 200 or reply.get("stored") != len(records) or \
            [r.get("result") for r in reply.get("results", [])] != ["stored"] * len(records):
        raise RuntimeError(f"POST /v1/records to {node.name}: {status} {str(reply)[:600]}")
    return keys(records)


def entry(org, text="A fresh entry."):
    return sd.envelope("feedback.entry", str(uuid.uuid4()), org,
                       {"week": "2026-W47", "source_role": "staff", "themes": ["safety"],
                        "summary": text, "easy_read": text, "level": "consultation"})


def response(org, entry_id, status="heard"):
    return sd.envelope("feedback.response", str(uuid.uuid4()), org,
                       {"entry": entry_id, "week": "2026-W48", "status": status})


def event(org, referral_id, status, days, reason=None):
    body = {"referral": referral_id, "status": status, "days": days}
    if reason:
        body["reason"] = reason
    return sd.envelope("pathway.event", str(uuid.uuid4()), org, body)


def fed_status(node, agent):
    """{peer name: its /v1/fed/status entry}."""
    status, _, st = api(node, agent, "GET", "/v1/fed/status")
    if status != 200:
        raise RuntimeError(f"/v1/fed/status on {node.name}: {status} {st}")
    return {p["peer"]: p for p in st["peers"]}


def wait_for(cond, timeout=30, interval=0.2):
    """Poll cond() until it returns something true; returns it, or None after timeout."""
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            return None
        time.sleep(interval)


def stop_checked(t, node, what=None):
    """SIGTERM a node; check it exits 0 and its log holds no sanitizer report."""
    what = what or node.name
    rc = node.stop()
    t.equal(rc, 0, f"{what}: trellisd exits 0 on SIGTERM")
    reports = [line for line in node.read_log().splitlines() if SANITIZER.search(line)]
    t.equal(reports, [], f"{what}: no sanitizer report in its log")


def close_nodes(*nodes):
    """For a test's finally: stop whatever still runs (a failed check or an
    exception must not leave trellisd behind) and remove the nodes' folders."""
    for n in nodes:
        if n is not None:
            n.close()
