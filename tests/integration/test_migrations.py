"""Each migration N >= 2 tested from the previous schema with data in it
(issue 11).

A reference: two peered nodes on today's schema store records of every
kind (services, referrals with both parties' events, feedback entries with
responses), relay each other's, keep cursors and signer certificates. Then,
for each N: a fresh database gets migrations 1..N-1 (applied as migrate.c
does: each file in one transaction, recorded in trellis_schema_migrations),
is filled with the reference's rows restricted to the tables and columns
that schema has (what a node of that version held), and a real trellisd
applies N.. to the end. Every table of today's schema must then hold what
the reference holds (what N.. add is backfilled from the data: the fold,
the reporting tables of 009, to_org and audience of 006, ...), the
sequence must stand where it stood, and the node must serve the records.

Forward-only: a database at a version the binary does not know is refused
at start with a clear error, and the node exits."""

import os
import subprocess

import fedkit as fk
from fedkit import sd
from harness import SOURCE_DIR, Checks, Node, PgCluster, Pki, api

t = Checks("test_migrations")
A, B = sd.ORGS[0], sd.ORGS[1]
SQL = os.path.join(SOURCE_DIR, "sql")
MIGRATIONS = sorted((int(f.split("_")[0]), f) for f in os.listdir(SQL)
                    if f[0].isdigit() and f.endswith(".sql"))
# Rows the node itself adds at every start (a new feed epoch), or the
# bookkeeping of the migrations: compared apart.
SKIP = {"trellis_schema_migrations", "trellis_feed_epochs"}
# A node's federation state, not derived from its records: a schema without
# these tables held none, and the migration that makes them starts them empty.
STATE = {"peer_cursors", "signer_certs"}
# Columns that record when a row was written, not what it holds.
WHEN = {"stored_at", "applied_at", "updated_at", "created_at"}


def columns_by_table(pg, db):
    """Every base table of the public schema with its stored columns, in
    order, in one query."""
    out = {x: [] for x in tables(pg, db)}
    for table, column in pg.psql(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
            "AND c.is_generated = 'NEVER' ORDER BY 1, c.ordinal_position", db=db):
        out[table].append(column)
    return out


def tables(pg, db):
    return [r[0] for r in pg.psql("SELECT table_name FROM information_schema.tables "
                                  "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
                                  "ORDER BY 1", db=db)]


def psql_cmd(pg, db):
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(pg.port),
            "-U", "trellis", "-d", db]


def apply_prefix(pg, db, upto):
    """A database at migrations 1..upto, as server/migrate.c applies them.
    Each prefix is kept as a template (prefix_N: prefix_M, the one before,
    and migration N), so every migration file runs once for the whole test,
    not once for each later migration."""
    before = [v for v, _ in MIGRATIONS if v < upto]
    if f"prefix_{upto}" not in apply_prefix.made:
        if before:
            pg.psql(f"CREATE DATABASE prefix_{upto} TEMPLATE prefix_{before[-1]}", db="postgres")
        else:
            pg.create_db(f"prefix_{upto}")
            pg.psql("CREATE TABLE trellis_schema_migrations (version int PRIMARY KEY, name text "
                    "NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                    db=f"prefix_{upto}")
        name = dict(MIGRATIONS)[upto]
        subprocess.run(psql_cmd(pg, f"prefix_{upto}") +
                       ["--single-transaction", "-f", os.path.join(SQL, name)],
                       check=True, capture_output=True)
        pg.psql(f"INSERT INTO trellis_schema_migrations VALUES ({upto}, '{name}')",
                db=f"prefix_{upto}")
        apply_prefix.made.add(f"prefix_{upto}")
    pg.psql(f"CREATE DATABASE {db} TEMPLATE prefix_{upto}", db="postgres")


apply_prefix.made = set()


class Reference:
    """What the reference database holds, read once: it does not change
    after it is made, and every migration's case compares with it."""

    def __init__(self, pg, db):
        self.pg, self.db = pg, db
        self.columns = columns_by_table(pg, db)
        self.copies = {}

    def copy_out(self, table, col_list):
        if (table, col_list) not in self.copies:
            self.copies[(table, col_list)] = subprocess.run(
                psql_cmd(self.pg, self.db) + ["-c", f"COPY (SELECT {col_list} FROM {table}) "
                                                    "TO STDOUT"],
                check=True, capture_output=True).stdout
        return self.copies[(table, col_list)]


def copy_rows(pg, ref, dst):
    """The reference's rows into dst, for each table and column dst has, with
    triggers off (the rows are as that version stored them: derived tables
    that exist in dst are copied too) and the change sequence where it was."""
    for table, dst_cols in columns_by_table(pg, dst).items():
        if table == "trellis_schema_migrations":
            continue
        have = set(ref.columns.get(table, []))
        cols = [c for c in dst_cols if c in have]
        if not cols:
            continue
        col_list = ", ".join(cols)
        out = ref.copy_out(table, col_list)
        # Through a temporary table: an identity column GENERATED ALWAYS
        # takes the reference's values only with OVERRIDING SYSTEM VALUE.
        r = subprocess.run(psql_cmd(pg, dst) + [
            "-c", "SET session_replication_role = replica",
            "-c", f"CREATE TEMP TABLE copied AS SELECT {col_list} FROM {table} WITH NO DATA",
            "-c", f"COPY copied ({col_list}) FROM STDIN",
            # What the migrations seeded (a first feed epoch, the reporting
            # rule) is in the reference too: its rows replace them.
            "-c", f"DELETE FROM {table}",
            "-c", f"INSERT INTO {table} ({col_list}) OVERRIDING SYSTEM VALUE "
                  f"SELECT {col_list} FROM copied"],
            input=out, capture_output=True)
        if r.returncode:
            raise RuntimeError(f"copying {table}: {r.stderr.decode()[-400:]}")
    for (seq,) in pg.psql("SELECT sequence_name FROM information_schema.sequences "
                          "WHERE sequence_schema = 'public'", db=dst):
        got = pg.psql(f"SELECT last_value, is_called FROM {seq}", db=ref.db)
        if got:
            pg.psql(f"SELECT setval('{seq}', {got[0][0]}, {got[0][1] == 't'})", db=dst)


def contents(pg, db, table, cols):
    cols = [c for c in cols if c not in WHEN]
    col_list = ", ".join(f"{c}::text" for c in cols)
    return sorted(pg.psql(f"SELECT {col_list} FROM {table}", db=db))


with PgCluster("migrations") as pg:
    pki = Pki()
    for org in (A, B):
        pki.add_org(org)
    a = b = node = None
    try:
        # ---- the reference: today's schema, filled by real nodes ----
        for db in ("ref_a", "ref_b"):
            pg.create_db(db)
        share = {"sharing": {k: "consortium" for k in fk.KIND_TABLES}}
        a = Node(pki, pg, org=A, name="ref-a", db="ref_a", config=share)
        b = Node(pki, pg, org=B, name="ref-b", db="ref_b", config=share)
        a.add_peer(b)
        b.add_peer(a)
        a.start()
        b.start()
        agent_a, agent_b = pki.agent(A, "office"), pki.agent(B, "office")
        refs, mine, theirs = sd.referrals(A, 20)
        refs = [r for r in refs if r["body"]["to_org"] == B]
        ids = {r["id"] for r in refs}
        written = fk.post(a, agent_a, sd.services(A) + sd.feedback(A) + refs +
                          [e for e in mine if e["body"]["referral"] in ids])
        written |= fk.post(b, agent_b, sd.services(B) + sd.feedback(B))
        t.check(fk.wait_for(lambda: written <= set(fk.held(pg, "ref_b")), 60),
                "reference: B holds A's records")
        written |= fk.post(b, agent_b, [e for e in theirs[B] if e["body"]["referral"] in ids])
        t.check(fk.wait_for(lambda: written <= set(fk.held(pg, "ref_a")), 60),
                "reference: A holds B's records and its answers")
        fk.stop_checked(t, a)
        fk.stop_checked(t, b)
        kinds = {k for k, _ in fk.held(pg, "ref_a")}
        t.equal(kinds, set(fk.KIND_TABLES), "reference: records of every kind")
        t.check(pg.psql("SELECT count(*) FROM pathway_facts", db="ref_a")[0][0] != "0"
                and pg.psql("SELECT count(*) FROM peer_cursors", db="ref_a")[0][0] != "0",
                "reference: the fold's facts and a peer cursor are there")
        ref_tables = [x for x in tables(pg, "ref_a") if x not in SKIP]
        ref = Reference(pg, "ref_a")
        reference = {x: contents(pg, "ref_a", x, ref.columns[x]) for x in ref_tables}
        ref_seq = pg.psql("SELECT last_value FROM trellis_change_seq", db="ref_a")
        held = fk.held(pg, "ref_a")
        probe = {kind: next(rid for (k, rid), v in held.items() if k == kind and v[2] == A)
                 for kind in fk.KIND_TABLES}

        # ---- each migration from the schema before it ----
        # Numbers may have gaps (a branch's migration that never landed):
        # each one is applied from the schema of the one before it.
        for (prev, _), (version, name) in zip(MIGRATIONS, MIGRATIONS[1:]):
            db = f"from_{prev}"
            apply_prefix(pg, db, prev)
            copy_rows(pg, ref, db)
            had = set(tables(pg, db))
            before = {k for k in fk.KIND_TABLES.values() if k in had}
            node = Node(pki, pg, org=A, name=f"mig-{version}", db=db)
            node.start()
            agent = pki.agent(A, "office")
            _, _, ready = api(node, agent, "GET", "/readyz")
            t.equal(ready.get("schema_version"), MIGRATIONS[-1][0],
                    f"{name} from version {prev}: the node migrates to the end and is ready")
            if not before:
                # Nothing to carry: the schema comes up empty and the node serves it.
                t.equal([x for x in fk.KIND_TABLES.values()
                         if pg.psql(f"SELECT count(*) FROM {x}", db=db) != [("0",)]], [],
                        f"{name} from version {prev} (no record tables yet): empty tables")
                fk.stop_checked(t, node)
                node.close()
                node = None
                continue
            wrong = {}
            for x in ref_tables:
                if x in STATE and x not in had:
                    continue
                cols = ref.columns[x]
                # What an older schema did not record cannot be made up: the
                # peer a record came through before 005 (via), a cursor's
                # feed epoch before 008.
                unknown = ({"via"} if version <= 5 else set()) | \
                    ({"epoch"} if x == "peer_cursors" and version <= 8 else set())
                if unknown & set(cols):
                    cols = [c for c in cols if c not in unknown]
                    want = contents(pg, "ref_a", x, cols)
                else:
                    want = reference[x]
                got = contents(pg, db, x, cols)
                if x == "signer_certs":
                    # The node keeps its own certificate at start: more is fine.
                    got = sorted(r for r in set(got) if r in set(want))
                    want = sorted(set(want))
                if got != want:
                    wrong[x] = (sorted(set(got) - set(want))[:1], sorted(set(want) - set(got))[:1])
            t.equal(sorted(wrong), [], f"{name} from version {prev}: every table holds what "
                                       f"the reference holds (record tables there before: "
                                       f"{len(before)})")
            if wrong:
                print({k: (str(g)[-300:], str(w)[-300:]) for k, (g, w) in wrong.items()})
            t.equal(pg.psql("SELECT last_value FROM trellis_change_seq", db=db), ref_seq,
                    f"{name}: the change sequence stands where it stood")
            served = [api(node, agent, "GET", f"/v1/records/{kind}/{rid}")[0]
                      for kind, rid in probe.items()]
            t.equal(served, [200] * len(probe), f"{name}: the node serves a record of each kind")
            fk.stop_checked(t, node)
            node.close()
            node = None

        # ---- forward-only ----
        pg.psql("INSERT INTO trellis_schema_migrations VALUES (999, '999_later.sql')",
                db=f"from_{MIGRATIONS[-2][0]}")
        node = Node(pki, pg, org=A, name="mig-later", db=f"from_{MIGRATIONS[-2][0]}")
        node.start(wait=None)
        code = node.wait_exit(30)
        t.equal(code, 1, "a database at a version this binary does not know: the node exits 1")
        t.check(f"database schema version 999 is newer than this node knows "
                f"({MIGRATIONS[-1][0]})" in node.read_log(),
                "and says why", node.read_log()[-500:])
    finally:
        fk.close_nodes(a, b, node)
        pki.close()

t.finish()
