/* The spool under push's two threads: a record replaced in the queue while
 * it was on its way stays queued with its new content (the answer was for
 * the old one); the gate hands the write transaction over in turn, so a
 * reader committing chunk after chunk cannot starve the sender. And the
 * queue's integer key: records sharing a key stay apart, an older spool's
 * queue is upgraded with nothing lost or reordered, and the keys of records
 * that have left the queue are swept away. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "spool_schema.h"

static char dir[64];
static char err[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/trellis-spool-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void queue_one(spool_t *s, const char *id, const char *note)
{
    json_t *recs = json_pack("[{s:s, s:s, s:{s:s}}]", "kind", "pathway.referral", "id", id, "body",
                             "note", note);
    assert_int_equal(spool_begin(s, err, sizeof(err)), 0);
    assert_int_equal(spool_queue(s, recs, "export.csv", 2, err, sizeof(err)), 0);
    assert_int_equal(spool_commit(s, err, sizeof(err)), 0);
    json_decref(recs);
}

static void test_replaced_in_flight_stays_queued(void **state)
{
    (void)state;
    spool_t *reader = spool_open(dir, err, sizeof(err));
    spool_t *sender = spool_open(dir, err, sizeof(err));
    assert_non_null(reader);
    assert_non_null(sender);
    queue_one(reader, "r1", "first");
    queue_one(reader, "r2", "other");

    spool_item_t *items;
    size_t n;
    assert_int_equal(spool_next(sender, 10, &items, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_non_null(strstr(items[0].doc, "first"));

    /* The reader reads the same case again while the batch is out. */
    queue_one(reader, "r1", "second");

    assert_int_equal(spool_begin(sender, err, sizeof(err)), 0);
    assert_int_equal(spool_done(sender, &items[0], err, sizeof(err)), 0);
    assert_int_equal(spool_done(sender, &items[1], err, sizeof(err)), 0);
    assert_int_equal(spool_commit(sender, err, sizeof(err)), 0);
    spool_items_free(items, n);

    assert_int_equal(spool_next(sender, 10, &items, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_non_null(strstr(items[0].doc, "second"));
    assert_int_equal(spool_begin(sender, err, sizeof(err)), 0);
    assert_int_equal(spool_done(sender, &items[0], err, sizeof(err)), 0);
    assert_int_equal(spool_commit(sender, err, sizeof(err)), 0);
    spool_items_free(items, n);

    spool_counts_t c;
    assert_int_equal(spool_counts(sender, &c, err, sizeof(err)), 0);
    assert_int_equal(c.queued, 0);
    spool_close(reader);
    spool_close(sender);
}

/* A refusal of the old content does not take the new one out either. */
static void test_refused_in_flight_keeps_new_content(void **state)
{
    (void)state;
    spool_t *s = spool_open(dir, err, sizeof(err));
    assert_non_null(s);
    queue_one(s, "r9", "old");
    spool_item_t *items;
    size_t n;
    assert_int_equal(spool_next(s, 10, &items, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    queue_one(s, "r9", "new");
    assert_int_equal(spool_begin(s, err, sizeof(err)), 0);
    assert_int_equal(spool_refused(s, &items[0], "[]", err, sizeof(err)), 0);
    assert_int_equal(spool_commit(s, err, sizeof(err)), 0);
    spool_items_free(items, n);
    spool_counts_t c;
    assert_int_equal(spool_counts(s, &c, err, sizeof(err)), 0);
    assert_int_equal(c.queued, 1);
    assert_int_equal(c.refused, 0);
    spool_close(s);
}

/* A record queued again leaves the refused list and the quarantine, though
 * queueing skips those DELETEs while both are empty: whether they are is
 * learnt again in each transaction, and a refusal or a quarantine in the
 * same transaction counts. */
static void test_queued_again_leaves_refused_and_quarantine(void **state)
{
    (void)state;
    spool_t *reader = spool_open(dir, err, sizeof(err));
    spool_t *sender = spool_open(dir, err, sizeof(err));
    assert_non_null(reader);
    assert_non_null(sender);
    queue_one(reader, "r1", "first"); /* both lists empty: learnt so, then committed */
    spool_item_t *items;
    size_t n;
    assert_int_equal(spool_next(sender, 10, &items, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 1);
    assert_int_equal(spool_begin(sender, err, sizeof(err)), 0);
    assert_int_equal(spool_refused(sender, &items[0], "[{\"code\":\"x\"}]", err, sizeof(err)), 0);
    assert_int_equal(spool_commit(sender, err, sizeof(err)), 0);
    spool_items_free(items, n);
    spool_counts_t c;
    assert_int_equal(spool_counts(reader, &c, err, sizeof(err)), 0);
    assert_int_equal(c.refused, 1);
    assert_int_equal(c.queued, 0);

    /* The other connection's refusal is seen by the reader's next transaction. */
    queue_one(reader, "r1", "fixed");
    assert_int_equal(spool_counts(reader, &c, err, sizeof(err)), 0);
    assert_int_equal(c.refused, 0);
    assert_int_equal(c.queued, 1);

    /* Quarantined, then queued, in one transaction that began with both empty. */
    json_t *q = json_pack("[{s:s, s:s, s:{}}]", "kind", "pathway.referral", "id", "r2", "body");
    assert_int_equal(spool_begin(reader, err, sizeof(err)), 0);
    json_t *none = json_array(); /* learns, in this transaction, that both lists are empty */
    assert_int_equal(spool_queue(reader, none, "export.csv", 1, err, sizeof(err)), 0);
    json_decref(none);
    assert_int_equal(
        spool_quarantine(reader, q, "export.csv", 3, "Notes", "a name", err, sizeof(err)), 0);
    assert_int_equal(spool_queue(reader, q, "export.csv", 3, err, sizeof(err)), 0);
    assert_int_equal(spool_commit(reader, err, sizeof(err)), 0);
    json_decref(q);
    assert_int_equal(spool_counts(reader, &c, err, sizeof(err)), 0);
    assert_int_equal(c.quarantined, 0);
    assert_int_equal(c.queued, 2);
    spool_close(reader);
    spool_close(sender);
}

typedef struct {
    spool_gate_t *gate;
    int chunks;
    atomic_int reader_done;
    int sender_turns_while_reading;
} race_t;

static void *reader_thread(void *arg)
{
    race_t *r = arg;
    char e[256];
    spool_t *s = spool_open(dir, e, sizeof(e));
    spool_set_gate(s, r->gate);
    for (int i = 0; i < r->chunks; i++) {
        char id[32];
        snprintf(id, sizeof(id), "chunk-%d", i);
        json_t *recs =
            json_pack("[{s:s, s:s, s:{}}]", "kind", "pathway.referral", "id", id, "body");
        if (spool_begin(s, e, sizeof(e)) != 0 ||
            spool_queue(s, recs, "export.csv", i, e, sizeof(e)) != 0)
            abort();
        usleep(2000); /* a chunk takes a while to read */
        if (spool_commit(s, e, sizeof(e)) != 0)
            abort();
        json_decref(recs);
    }
    r->reader_done = 1;
    spool_close(s);
    return NULL;
}

static void test_gate_lets_the_sender_in_between_chunks(void **state)
{
    (void)state;
    race_t r = {.gate = spool_gate_new(), .chunks = 200};
    spool_t *s = spool_open(dir, err, sizeof(err));
    spool_set_gate(s, r.gate);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_thread, &r), 0);
    usleep(5000);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(spool_begin(s, err, sizeof(err)), 0);
        assert_int_equal(spool_commit(s, err, sizeof(err)), 0);
        if (!r.reader_done)
            r.sender_turns_while_reading++;
    }
    pthread_join(t, NULL);
    /* Every one of the sender's transactions got its turn between two of
     * the reader's chunks, none waited for the reading to end. */
    assert_int_equal(r.sender_turns_while_reading, 20);
    spool_close(s);
    spool_gate_free(r.gate);
}

static void exec_sql(const char *sql)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/spool.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* A spool made by an agent before the key: its queue keeps its records, in
 * order, under their sequence numbers; a case read again replaces its
 * record in place; a new record comes after the old counter. */
static void test_older_spool_is_upgraded(void **state)
{
    (void)state;
    exec_sql(
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
        "  file TEXT, line INTEGER, queued_at INTEGER NOT NULL, UNIQUE (kind, id));"
        "INSERT INTO queue VALUES (5, 'pathway.referral', 'r1', '{\"note\":\"a\"}', 'x', 2, 1);"
        "INSERT INTO queue VALUES (7, 'pathway.referral', 'r2', '{\"note\":\"b\"}', 'x', 3, 1);"
        "UPDATE sqlite_sequence SET seq = 9 WHERE name = 'queue';");
    spool_t *s = spool_open(dir, err, sizeof(err));
    assert_non_null(s);
    spool_item_t *items;
    size_t n;
    assert_int_equal(spool_next(s, 10, &items, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_int_equal(items[0].seq, 5);
    assert_string_equal(items[0].doc, "{\"note\":\"a\"}");
    assert_int_equal(items[1].seq, 7);
    spool_items_free(items, n);

    queue_one(s, "r1", "c");
    queue_one(s, "r3", "d");
    spool_close(s);
    /* Opening it again finds the new tables and changes nothing. */
    s = spool_open(dir, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(spool_next(s, 10, &items, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);
    assert_int_equal(items[0].seq, 5);
    assert_non_null(strstr(items[0].doc, "\"c\""));
    assert_int_equal(items[1].seq, 7);
    assert_int_equal(items[2].seq, 10);
    assert_non_null(strstr(items[2].doc, "\"d\""));
    spool_items_free(items, n);
    spool_close(s);
}

/* Two records under one key (as a hash collision would put them) are two
 * records: queueing one replaces only itself. */
static void test_records_sharing_a_key_stay_apart(void **state)
{
    (void)state;
    spool_t *s = spool_open(dir, err, sizeof(err));
    assert_non_null(s);
    queue_one(s, "r5", "first");
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO queue (key, kind, id, doc, queued_at) VALUES (%lld, "
             "'pathway.referral', 'not-r5', '{\"note\":\"stranger\"}', 1)",
             (long long)spool_queue_key("pathway.referral", "r5"));
    exec_sql(sql);
    exec_sql("INSERT INTO queue_keys (key, seq) SELECT key, seq FROM queue WHERE id = 'not-r5'");
    queue_one(s, "r5", "second");
    /* The same id under another kind is another record too. */
    json_t *ev = json_pack("[{s:s, s:s, s:{}}]", "kind", "pathway.event", "id", "r5", "body");
    assert_int_equal(spool_begin(s, err, sizeof(err)), 0);
    assert_int_equal(spool_queue(s, ev, "export.csv", 4, err, sizeof(err)), 0);
    assert_int_equal(spool_commit(s, err, sizeof(err)), 0);
    json_decref(ev);

    spool_item_t *items;
    size_t n;
    assert_int_equal(spool_next(s, 10, &items, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 3);
    assert_non_null(strstr(items[0].doc, "second"));
    assert_non_null(strstr(items[1].doc, "stranger"));
    assert_non_null(strstr(items[2].doc, "pathway.event"));
    spool_items_free(items, n);
    spool_close(s);
}

static int64_t query_int(const char *sql)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/spool.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

#define STALE_KEYS                                                                                 \
    "SELECT count(*) FROM queue_keys k WHERE NOT EXISTS (SELECT 1 FROM queue q "                   \
    "WHERE q.seq = k.seq)"
#define LIVE_KEYS "SELECT count(*) FROM queue_keys k JOIN queue q ON q.seq = k.seq"

/* Send (answer done) the n oldest records, one transaction. */
static void send_oldest(spool_t *s, size_t n)
{
    spool_item_t *items;
    size_t got;
    assert_int_equal(spool_next(s, n, &items, &got, err, sizeof(err)), 0);
    assert_int_equal(got, n);
    assert_int_equal(spool_begin(s, err, sizeof(err)), 0);
    for (size_t i = 0; i < got; i++)
        assert_int_equal(spool_done(s, &items[i], err, sizeof(err)), 0);
    assert_int_equal(spool_commit(s, err, sizeof(err)), 0);
    spool_items_free(items, got);
}

/* Ids as scattered as the keyed hashes of real records. */
static const char *id_of(int i, char buf[16])
{
    snprintf(buf, 16, "%08x", (unsigned)i * 2654435761u);
    return buf;
}

/* A record's key outlives it in queue_keys until a sweep passes: meanwhile
 * a lookup through it finds nothing, so the same case read again is a new
 * record; the sweeps, a few keys a commit in key order, leave no stale key
 * once they have come round, and none at all once the queue is empty. */
static void test_keys_of_sent_records_are_swept(void **state)
{
    (void)state;
    spool_t *s = spool_open(dir, err, sizeof(err));
    assert_non_null(s);
    json_t *recs = json_array();
    char id[16];
    for (int i = 0; i < 300; i++)
        json_array_append_new(recs, json_pack("{s:s, s:s, s:{s:s}}", "kind", "pathway.referral",
                                              "id", id_of(i, id), "body", "note", "first"));
    assert_int_equal(spool_begin(s, err, sizeof(err)), 0);
    assert_int_equal(spool_queue(s, recs, "export.csv", 2, err, sizeof(err)), 0);
    assert_int_equal(spool_commit(s, err, sizeof(err)), 0);
    json_decref(recs);
    assert_int_equal(query_int("SELECT count(*) FROM queue_keys"), 300);
    exec_sql("CREATE TABLE before_sweep AS SELECT key, seq FROM queue_keys");

    /* 100 sent in one commit: that sweep covers the first 2 * 100 + 64 + 1
     * keys in key order; the stale keys after them wait. */
    send_oldest(s, 100);
    int64_t waiting = query_int("SELECT count(*) FROM (SELECT seq FROM before_sweep ORDER BY key "
                                "LIMIT -1 OFFSET 265) WHERE seq <= 100");
    assert_true(waiting > 0);
    assert_int_equal(query_int(STALE_KEYS), waiting);
    assert_int_equal(query_int(LIVE_KEYS), 200);
    /* Record 0 was sent: read again, it is queued anew, not lost in a stale key. */
    queue_one(s, id_of(0, id), "again");
    assert_int_equal(query_int("SELECT count(*) FROM queue WHERE seq = 301"), 1);
    /* Record 150 is still queued: read again, it is replaced in place. */
    queue_one(s, id_of(150, id), "second");
    assert_int_equal(query_int("SELECT count(*) FROM queue"), 201);
    assert_int_equal(
        query_int("SELECT count(*) FROM queue WHERE doc LIKE '%second%' AND seq = 151"), 1);

    /* Ten commits of one record each sweep 10 * 66 keys, round the whole
     * table twice: every key of the first hundred is gone; only some of the
     * ten sent since may wait for the sweep to come round again. */
    for (int i = 0; i < 10; i++)
        send_oldest(s, 1);
    assert_int_equal(query_int(STALE_KEYS " AND k.seq <= 100"), 0);
    assert_true(query_int(STALE_KEYS) <= 10);
    assert_int_equal(query_int(LIVE_KEYS), 191);

    send_oldest(s, 191);
    assert_int_equal(query_int("SELECT count(*) FROM queue"), 0);
    assert_int_equal(query_int("SELECT count(*) FROM queue_keys"), 0);
    spool_close(s);
}

/* A spool whose queue was indexed in place (queue_key, before queue_keys):
 * its keys move to queue_keys, the index goes, and its records are found. */
static void test_indexed_queue_is_upgraded(void **state)
{
    (void)state;
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "PRAGMA journal_mode=WAL;"
             "CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT, key INTEGER NOT NULL,"
             "  kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
             "  file TEXT, line INTEGER, queued_at INTEGER NOT NULL);"
             "CREATE INDEX queue_key ON queue (key);"
             "INSERT INTO queue VALUES (3, %lld, 'pathway.referral', 'r1', '{\"note\":\"a\"}', "
             "'x', 2, 1);",
             (long long)spool_queue_key("pathway.referral", "r1"));
    exec_sql(sql);
    spool_t *s = spool_open(dir, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(query_int("SELECT count(*) FROM sqlite_schema WHERE name = 'queue_key'"), 0);
    assert_int_equal(query_int(LIVE_KEYS), 1);
    queue_one(s, "r1", "b");
    assert_int_equal(query_int("SELECT count(*) FROM queue"), 1);
    assert_int_equal(query_int("SELECT seq FROM queue WHERE doc LIKE '%\"b\"%'"), 3);
    spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replaced_in_flight_stays_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_in_flight_keeps_new_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queued_again_leaves_refused_and_quarantine, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gate_lets_the_sender_in_between_chunks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_older_spool_is_upgraded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_sharing_a_key_stay_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_of_sent_records_are_swept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indexed_queue_is_upgraded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
