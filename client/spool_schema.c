/* The spool's schema (spool_schema.h).
 *
 * Why the queue has an integer key: record ids are keyed hashes, random, so
 * any index on them takes each insert and each delete to a random page. With
 * the text index on (kind, id) (some 60 bytes an entry, 60 MB for a million
 * records) nearly every insert read a page the 1 MB page cache no longer
 * held and wrote it back to the WAL at the next commit: measured, that was
 * over a third of the agent's CPU per row. An 8-byte key's entries are a
 * quarter of the size, so far more of the index stays cached and a commit
 * writes fewer pages.
 *
 * Why the key is in a table of its own, queue_keys, rather than an index on
 * the queue: an index entry goes when its row goes, so every record the node
 * answered deleted an entry from a random page of the index, read back and
 * written to the WAL again (about a third of `trellis sync`'s CPU). Entries
 * of queue_keys outlive their rows instead: a lookup joins the queue by seq,
 * so an entry whose record has left finds nothing, and the spool sweeps such
 * entries away in key order, a few pages at a time (spool.c). */
#include "spool_schema.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS queue ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  key INTEGER NOT NULL,"
    "  kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
    "  file TEXT, line INTEGER, queued_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS queue_keys ("
    "  key INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  PRIMARY KEY (key, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS refused ("
    "  rid INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL, errors TEXT NOT NULL,"
    "  file TEXT, line INTEGER, at INTEGER NOT NULL,"
    "  UNIQUE (kind, id));"
    "CREATE TABLE IF NOT EXISTS quarantine ("
    "  qid INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  kind TEXT NOT NULL, id TEXT NOT NULL, records TEXT NOT NULL,"
    "  file TEXT, line INTEGER, column_name TEXT, why TEXT NOT NULL, at INTEGER NOT NULL,"
    "  UNIQUE (kind, id));"
    "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS outbox_written (id TEXT PRIMARY KEY, at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS made_here (id TEXT PRIMARY KEY, day INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS versions ("
    "  kind TEXT NOT NULL, id TEXT NOT NULL, hash TEXT NOT NULL, version INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, id));";

/* An older agent's queue, with UNIQUE (kind, id) and no key, is copied into
 * the new table in its order, under the same sequence numbers, and its
 * AUTOINCREMENT counter carried over, so nothing queued is lost or reordered
 * and no sequence number is used twice. */
/* A spool whose queue was indexed in place (queue_key) gets its keys
 * copied into queue_keys, and the index dropped. */
static const char upgrade_keys[] =
    "INSERT INTO queue_keys (key, seq) SELECT key, seq FROM queue ORDER BY key, seq;"
    "DROP INDEX IF EXISTS queue_key;";

static const char upgrade_queue[] =
    "ALTER TABLE queue RENAME TO queue_old;"
    "CREATE TABLE queue ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  key INTEGER NOT NULL,"
    "  kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
    "  file TEXT, line INTEGER, queued_at INTEGER NOT NULL);"
    "INSERT INTO queue (seq, key, kind, id, doc, file, line, queued_at)"
    "  SELECT seq, trellis_queue_key(kind, id), kind, id, doc, file, line, queued_at"
    "  FROM queue_old ORDER BY seq;"
    "UPDATE sqlite_sequence SET seq = (SELECT max(seq) FROM sqlite_sequence"
    "  WHERE name IN ('queue', 'queue_old')) WHERE name = 'queue';"
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'queue', seq FROM sqlite_sequence"
    "  WHERE name = 'queue_old' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = "
    "'queue');"
    "DROP TABLE queue_old;"
    "DELETE FROM sqlite_sequence WHERE name = 'queue_old';";

int64_t spool_queue_key(const char *kind, const char *id)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)kind; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h *= 0x100000001b3ULL; /* the zero byte between kind and id */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return (int64_t)h;
}

static void sql_queue_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *kind = (const char *)sqlite3_value_text(argv[0]);
    const char *id = (const char *)sqlite3_value_text(argv[1]);
    sqlite3_result_int64(ctx, spool_queue_key(kind ? kind : "", id ? id : ""));
}

/* 1 if the queue table has a key column, 0 if not (an older spool's), -1. */
static int queue_has_key(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM pragma_table_info('queue') WHERE name = 'key'",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        rc = sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    return rc;
}

static int table_exists(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                           "name = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            rc = sqlite3_column_int(st, 0) > 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int spool_schema_apply(sqlite3 *db, char *err, size_t err_len)
{
    const char *what = "creating the tables";
    bool in_tx = false;
    if (sqlite3_create_function(db, "trellis_queue_key", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                NULL, sql_queue_key, NULL, NULL) != SQLITE_OK)
        goto fail;
    /* Immediate: two processes opening an older spool at once upgrade it
     * once, the second seeing the first's tables. */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    in_tx = true;
    int exists = table_exists(db, "queue");
    int has_key = exists == 1 ? queue_has_key(db) : 1;
    int has_keys_table = table_exists(db, "queue_keys");
    if (exists < 0 || has_key < 0 || has_keys_table < 0)
        goto fail;
    if (!has_key) {
        what = "upgrading the queue";
        if (sqlite3_exec(db, upgrade_queue, NULL, NULL, NULL) != SQLITE_OK)
            goto fail;
        what = "creating the tables";
    }
    if (sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (exists == 1 && !has_keys_table) {
        what = "moving the queue's keys";
        if (sqlite3_exec(db, upgrade_keys, NULL, NULL, NULL) != SQLITE_OK)
            goto fail;
    }
    what = "creating the tables";
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return 0;
fail:
    snprintf(err, err_len, "spool: %s: %s", what, sqlite3_errmsg(db));
    if (in_tx)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}
