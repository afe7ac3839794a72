/* The SQLite spool (spool.h). */
#include "spool.h"

#include "spool_schema.h"
#include "tr_canon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct spool {
    sqlite3 *db;
    spool_gate_t *gate; /* borrowed; NULL when one thread owns the spool */
    bool in_tx;
    /* Whether refused and quarantine hold anything, learnt once per write
     * transaction (no other connection writes while it is open): when they
     * are empty, as they nearly always are, queueing a record skips the two
     * DELETEs that release an older copy of it from them. */
    bool held_known, any_refused, any_quarantined;
    char *text; /* the record being queued, canonical JSON; kept from record to record */
    size_t text_cap;
    int64_t dequeued;   /* records that left the queue in this write transaction */
    int64_t sweep_from; /* where the next sweep of queue_keys starts (key order) */
    sqlite3_stmt *find, *insert, *insert_key, *replace, *unquarantine, *quarantine, *next, *done,
        *refuse, *unrefuse, *sweep_end, *sweep, *sweep_rest;
};

static int db_fail(spool_t *s, const char *what, char *err, size_t err_len)
{
    snprintf(err, err_len, "spool: %s: %s", what, sqlite3_errmsg(s->db));
    return -1;
}

static sqlite3_stmt *prepare(spool_t *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

spool_t *spool_open(const char *dir, char *err, size_t err_len)
{
    if (!dir) {
        snprintf(err, err_len, "no spool folder configured ([agent] spool)");
        return NULL;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_len, "cannot create the spool folder %s: %s", dir, strerror(errno));
        return NULL;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/spool.db", dir);
    /* A new spool is readable by this user only, whatever the umask, and
     * SQLite gives its -wal and -shm files the database file's mode. (One
     * that exists keeps the mode its operator gave it.) */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "cannot open the spool %s: %s", path, strerror(errno));
        return NULL;
    }
    close(fd);
    spool_t *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->sweep_from = INT64_MIN;
    /* NOMUTEX: a spool_t is one thread's connection (push's reader and
     * sender each open their own), so SQLite's per-call mutexes only cost. */
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, err_len, "cannot open the spool %s: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : "out of memory");
        spool_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 30000);
    /* WAL with synchronous=FULL: a commit is on disk when it returns. A
     * small page cache: the spool may hold a million records, memory not. */
    if (sqlite3_exec(s->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-1024;"
                     "PRAGMA foreign_keys=ON;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(s, path, err, err_len);
        spool_close(s);
        return NULL;
    }
    if (spool_schema_apply(s->db, err, err_len) != 0) {
        spool_close(s);
        return NULL;
    }
    /* An entry of queue_keys whose record has left joins nothing. */
    s->find = prepare(s, "SELECT q.seq FROM queue_keys k JOIN queue q ON q.seq = k.seq "
                         "WHERE k.key = ?1 AND q.kind = ?2 AND q.id = ?3");
    s->insert = prepare(s, "INSERT INTO queue (key, kind, id, doc, file, line, queued_at) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    s->insert_key = prepare(s, "INSERT INTO queue_keys (key, seq) VALUES (?1, ?2)");
    s->sweep_end = prepare(s, "SELECT key FROM queue_keys WHERE key >= ?1 ORDER BY key "
                              "LIMIT 1 OFFSET ?2");
    s->sweep = prepare(s, "DELETE FROM queue_keys WHERE key >= ?1 AND key <= ?2 AND "
                          "seq < (SELECT ifnull(min(seq), 9223372036854775807) FROM queue)");
    s->sweep_rest = prepare(s, "DELETE FROM queue_keys WHERE key >= ?1 AND seq < "
                               "(SELECT ifnull(min(seq), 9223372036854775807) FROM queue)");
    s->replace = prepare(s, "UPDATE queue SET doc = ?2, file = ?3, line = ?4 WHERE seq = ?1");
    s->unquarantine = prepare(s, "DELETE FROM quarantine WHERE kind = ?1 AND id = ?2");
    s->quarantine = prepare(s, "INSERT OR REPLACE INTO quarantine (kind, id, records, file, line, "
                               "column_name, why, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    s->next = prepare(s, "SELECT seq, doc FROM queue ORDER BY seq LIMIT ?1");
    s->done = prepare(s, "DELETE FROM queue WHERE seq = ?1 AND doc = ?2");
    s->refuse = prepare(s, "INSERT OR REPLACE INTO refused (kind, id, doc, errors, file, line, "
                           "at) SELECT kind, id, doc, ?2, file, line, ?3 FROM queue "
                           "WHERE seq = ?1 AND doc = ?4");
    s->unrefuse = prepare(s, "DELETE FROM refused WHERE kind = ?1 AND id = ?2");
    if (!s->find || !s->insert || !s->insert_key || !s->replace || !s->unquarantine ||
        !s->quarantine || !s->next || !s->done || !s->refuse || !s->unrefuse || !s->sweep_end ||
        !s->sweep || !s->sweep_rest) {
        db_fail(s, "preparing statements", err, err_len);
        spool_close(s);
        return NULL;
    }
    return s;
}

void spool_close(spool_t *s)
{
    if (!s)
        return;
    sqlite3_stmt *all[] = {s->find,       s->insert, s->insert_key, s->replace, s->unquarantine,
                           s->quarantine, s->next,   s->done,       s->refuse,  s->unrefuse,
                           s->sweep_end,  s->sweep,  s->sweep_rest};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(s->db);
    free(s->text);
    free(s);
}

struct spool_gate {
    pthread_mutex_t mu;
    pthread_cond_t turn;
    uint64_t next, serving; /* tickets handed out, the one whose turn it is */
};

spool_gate_t *spool_gate_new(void)
{
    spool_gate_t *g = calloc(1, sizeof(*g));
    if (!g)
        abort();
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->turn, NULL);
    return g;
}

void spool_gate_free(spool_gate_t *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->turn);
    free(g);
}

void spool_set_gate(spool_t *s, spool_gate_t *g)
{
    s->gate = g;
}

static void gate_enter(spool_gate_t *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    uint64_t mine = g->next++;
    while (g->serving != mine)
        pthread_cond_wait(&g->turn, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_leave(spool_gate_t *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&g->mu);
    g->serving++;
    pthread_cond_broadcast(&g->turn);
    pthread_mutex_unlock(&g->mu);
}

int spool_begin(spool_t *s, char *err, size_t err_len)
{
    gate_enter(s->gate);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(s, "begin", err, err_len);
        gate_leave(s->gate);
        return -1;
    }
    s->in_tx = true;
    s->held_known = false;
    s->dequeued = 0;
    return 0;
}

static int sweep_keys(spool_t *s, char *err, size_t err_len);

int spool_commit(spool_t *s, char *err, size_t err_len)
{
    if (s->dequeued > 0 && sweep_keys(s, err, err_len) != 0) {
        spool_rollback(s);
        return -1;
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(s, "commit", err, err_len);
        spool_rollback(s);
        return -1;
    }
    s->in_tx = false;
    gate_leave(s->gate);
    return 0;
}

void spool_rollback(spool_t *s)
{
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    if (s->in_tx) {
        s->in_tx = false;
        gate_leave(s->gate);
    }
}

static int step_done(spool_t *s, sqlite3_stmt *st, const char *what, char *err, size_t err_len)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return db_fail(s, what, err, err_len);
    return 0;
}

/* The record (text borrowed until the statement is reset) replaces the one
 * queued under the same kind and id, keeping its place, or joins the end of
 * the queue. */
static int put(spool_t *s, const char *kind, const char *id, const char *text, size_t len,
               const char *file, long line, char *err, size_t err_len)
{
    int64_t key = spool_queue_key(kind, id);
    sqlite3_bind_int64(s->find, 1, key);
    sqlite3_bind_text(s->find, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->find, 3, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s->find);
    int64_t seq = rc == SQLITE_ROW ? sqlite3_column_int64(s->find, 0) : -1;
    sqlite3_reset(s->find);
    sqlite3_clear_bindings(s->find);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(s, "queue", err, err_len);
    sqlite3_stmt *st = seq >= 0 ? s->replace : s->insert;
    if (seq >= 0) {
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_text(st, 2, text, (int)len, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, file, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, line);
    } else {
        sqlite3_bind_int64(st, 1, key);
        sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, text, (int)len, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, file, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, line);
        sqlite3_bind_int64(st, 7, (sqlite3_int64)time(NULL));
    }
    if (step_done(s, st, "queue", err, err_len) != 0)
        return -1;
    if (seq >= 0)
        return 0;
    sqlite3_bind_int64(s->insert_key, 1, key);
    sqlite3_bind_int64(s->insert_key, 2, sqlite3_last_insert_rowid(s->db));
    return step_done(s, s->insert_key, "queue", err, err_len);
}

static int64_t count(spool_t *s, const char *sql);

/* Learn once per write transaction whether refused and quarantine hold
 * anything; outside one, another connection may add to them at any time. */
static int learn_held(spool_t *s, char *err, size_t err_len)
{
    if (!s->in_tx) {
        s->any_refused = s->any_quarantined = true;
        return 0;
    }
    if (s->held_known)
        return 0;
    int64_t r = count(s, "SELECT EXISTS (SELECT 1 FROM refused)");
    int64_t q = count(s, "SELECT EXISTS (SELECT 1 FROM quarantine)");
    if (r < 0 || q < 0)
        return db_fail(s, "held records", err, err_len);
    s->any_refused = r > 0;
    s->any_quarantined = q > 0;
    s->held_known = true;
    return 0;
}

int spool_queue(spool_t *s, json_t *records, const char *file, long line, char *err, size_t err_len)
{
    if (learn_held(s, err, err_len) != 0)
        return -1;
    size_t i;
    json_t *doc;
    json_array_foreach(records, i, doc)
    {
        const char *kind = json_string_value(json_object_get(doc, "kind"));
        const char *id = json_string_value(json_object_get(doc, "id"));
        if (!kind || !id) {
            snprintf(err, err_len, "spool: a record without kind or id");
            return -1;
        }
        /* Canonical JSON into the kept buffer: no allocation a record, and
         * the same record always spools as the same bytes. What has no
         * canonical form (a real number) is spooled as it is, for the node
         * to refuse with its reasons. */
        size_t len = 0;
        char *other = NULL;
        const char *text;
        if (tr_canon_dump_into(doc, &s->text, &s->text_cap, &len) == 0) {
            text = s->text;
        } else if ((other = json_dumps(doc, JSON_COMPACT)) != NULL) {
            text = other;
            len = strlen(other);
        } else {
            snprintf(err, err_len, "spool: a record that cannot be written as JSON");
            return -1;
        }
        int rc = -1;
        if (len > INT_MAX)
            snprintf(err, err_len, "spool: a record over 2 GB");
        else
            rc = put(s, kind, id, text, len, file, line, err, err_len);
        free(other);
        if (rc != 0)
            return -1;
        if (i == 0 && s->any_quarantined) {
            sqlite3_bind_text(s->unquarantine, 1, kind, -1, SQLITE_STATIC);
            sqlite3_bind_text(s->unquarantine, 2, id, -1, SQLITE_STATIC);
            if (step_done(s, s->unquarantine, "quarantine", err, err_len) != 0)
                return -1;
        }
        if (s->any_refused) {
            sqlite3_bind_text(s->unrefuse, 1, kind, -1, SQLITE_STATIC);
            sqlite3_bind_text(s->unrefuse, 2, id, -1, SQLITE_STATIC);
            if (step_done(s, s->unrefuse, "refused", err, err_len) != 0)
                return -1;
        }
    }
    return 0;
}

int spool_quarantine(spool_t *s, json_t *records, const char *file, long line, const char *column,
                     const char *why, char *err, size_t err_len)
{
    json_t *first = json_array_get(records, 0);
    const char *kind = json_string_value(json_object_get(first, "kind"));
    const char *id = json_string_value(json_object_get(first, "id"));
    char *text = json_dumps(records, JSON_COMPACT);
    if (!text || !kind || !id) {
        free(text);
        snprintf(err, err_len, "spool: a quarantined row without a record");
        return -1;
    }
    sqlite3_stmt *st = s->quarantine;
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, text, -1, free);
    sqlite3_bind_text(st, 4, file, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, line);
    sqlite3_bind_text(st, 6, column, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, why, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, (sqlite3_int64)time(NULL));
    s->any_quarantined = true;
    return step_done(s, st, "quarantine", err, err_len);
}

int spool_next(spool_t *s, size_t max, spool_item_t **items, size_t *n, char *err, size_t err_len)
{
    *items = calloc(max ? max : 1, sizeof(**items));
    *n = 0;
    if (!*items)
        abort();
    sqlite3_bind_int64(s->next, 1, (sqlite3_int64)max);
    int rc;
    while ((rc = sqlite3_step(s->next)) == SQLITE_ROW) {
        spool_item_t *it = &(*items)[(*n)++];
        it->seq = sqlite3_column_int64(s->next, 0);
        it->doc = strdup((const char *)sqlite3_column_text(s->next, 1));
        if (!it->doc)
            abort();
    }
    sqlite3_reset(s->next);
    if (rc != SQLITE_DONE) {
        spool_items_free(*items, *n);
        *items = NULL;
        *n = 0;
        return db_fail(s, "reading the queue", err, err_len);
    }
    return 0;
}

void spool_items_free(spool_item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i].doc);
    free(items);
}

int spool_done(spool_t *s, const spool_item_t *item, char *err, size_t err_len)
{
    sqlite3_bind_int64(s->done, 1, item->seq);
    sqlite3_bind_text(s->done, 2, item->doc, -1, SQLITE_STATIC);
    if (step_done(s, s->done, "dequeue", err, err_len) != 0)
        return -1;
    s->dequeued += sqlite3_changes(s->db);
    return 0;
}

/* Sweep away keys whose records have left the queue, without a lookup an
 * entry: records leave the queue oldest first, so an entry older than the
 * oldest record queued is stale. Each commit that dequeued d records sweeps
 * the next 2d + 64 entries in key order (a few neighbouring pages, not a
 * random page a record), coming round again at the end, so stale entries
 * stay fewer than the live ones. Those that left out of order (a batch
 * answered before an older one) wait until the sweep passes again after
 * the older ones have left. */
static int sweep_keys(spool_t *s, char *err, size_t err_len)
{
    /* An empty queue (the usual end of a push) leaves no key worth keeping. */
    int64_t queued = count(s, "SELECT EXISTS (SELECT 1 FROM queue)");
    if (queued < 0)
        return db_fail(s, "sweeping the queue's keys", err, err_len);
    if (queued == 0) {
        s->sweep_from = INT64_MIN;
        s->dequeued = 0;
        if (sqlite3_exec(s->db, "DELETE FROM queue_keys", NULL, NULL, NULL) != SQLITE_OK)
            return db_fail(s, "sweeping the queue's keys", err, err_len);
        return 0;
    }
    sqlite3_bind_int64(s->sweep_end, 1, s->sweep_from);
    sqlite3_bind_int64(s->sweep_end, 2, 2 * s->dequeued + 64);
    int rc = sqlite3_step(s->sweep_end);
    int64_t end = rc == SQLITE_ROW ? sqlite3_column_int64(s->sweep_end, 0) : 0;
    sqlite3_reset(s->sweep_end);
    sqlite3_clear_bindings(s->sweep_end);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(s, "sweeping the queue's keys", err, err_len);
    sqlite3_stmt *st = rc == SQLITE_ROW ? s->sweep : s->sweep_rest;
    sqlite3_bind_int64(st, 1, s->sweep_from);
    if (rc == SQLITE_ROW)
        sqlite3_bind_int64(st, 2, end);
    if (step_done(s, st, "sweeping the queue's keys", err, err_len) != 0)
        return -1;
    /* Past the end (or at the last key there can be), round again. */
    s->sweep_from = rc == SQLITE_ROW && end < INT64_MAX ? end + 1 : INT64_MIN;
    s->dequeued = 0;
    return 0;
}

int spool_refused(spool_t *s, const spool_item_t *item, const char *errors, char *err,
                  size_t err_len)
{
    sqlite3_bind_int64(s->refuse, 1, item->seq);
    sqlite3_bind_text(s->refuse, 2, errors, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->refuse, 3, (sqlite3_int64)time(NULL));
    sqlite3_bind_text(s->refuse, 4, item->doc, -1, SQLITE_STATIC);
    s->any_refused = true;
    if (step_done(s, s->refuse, "refused", err, err_len) != 0)
        return -1;
    return spool_done(s, item, err, err_len);
}

static int simple(spool_t *s, const char *sql, const char *text, int64_t num)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, num);
        int r = sqlite3_step(st);
        rc = r == SQLITE_ROW ? (int)sqlite3_column_int64(st, 0) : r == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    return rc;
}

bool spool_outbox_written(spool_t *s, const char *id)
{
    return simple(s, "SELECT count(*) FROM outbox_written WHERE id = ?1 AND ?2 = ?2", id, 0) > 0;
}

int spool_outbox_mark(spool_t *s, const char *id)
{
    return simple(s, "INSERT OR IGNORE INTO outbox_written (id, at) VALUES (?1, ?2)", id,
                  (int64_t)time(NULL));
}

int spool_made_here(spool_t *s, const char *id, long day)
{
    return simple(s, "INSERT OR IGNORE INTO made_here (id, day) VALUES (?1, ?2)", id, day);
}

long spool_made_day(spool_t *s, const char *id)
{
    sqlite3_stmt *st = NULL;
    long day = -1;
    if (sqlite3_prepare_v2(s->db, "SELECT day FROM made_here WHERE id = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            day = (long)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return day;
}

int spool_version(spool_t *s, const char *kind, const char *id, const char *hash, int64_t now,
                  int64_t *version, char *err, size_t err_len)
{
    sqlite3_stmt *st = NULL;
    int64_t last = 0;
    bool same = false;
    if (sqlite3_prepare_v2(s->db, "SELECT hash, version FROM versions WHERE kind = ?1 AND id = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, "versions", err, err_len);
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        same = strcmp((const char *)sqlite3_column_text(st, 0), hash) == 0;
        last = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(s, "versions", err, err_len);
    if (same) {
        *version = last;
        return 0;
    }
    *version = last + 1 > now ? last + 1 : now;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO versions (kind, id, hash, version) "
                           "VALUES (?1, ?2, ?3, ?4)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, "versions", err, err_len);
    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, *version);
    int r = step_done(s, st, "versions", err, err_len);
    sqlite3_finalize(st);
    return r;
}

char *spool_refused_errors(spool_t *s, const char *kind, const char *id)
{
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (kind && id &&
        sqlite3_prepare_v2(s->db, "SELECT errors FROM refused WHERE kind = ?1 AND id = ?2", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            out = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
}

static int64_t count(spool_t *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int spool_counts(spool_t *s, spool_counts_t *c, char *err, size_t err_len)
{
    c->queued = count(s, "SELECT count(*) FROM queue");
    c->refused = count(s, "SELECT count(*) FROM refused");
    c->quarantined = count(s, "SELECT count(*) FROM quarantine");
    if (c->queued < 0 || c->refused < 0 || c->quarantined < 0)
        return db_fail(s, "counting", err, err_len);
    return 0;
}

int spool_state_set(spool_t *s, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    bool gated = !s->in_tx;
    if (gated)
        gate_enter(s->gate);
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO state (key, value) VALUES (?1, ?2)", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(st);
    if (gated)
        gate_leave(s->gate);
    return rc;
}

char *spool_state_get(spool_t *s, const char *key)
{
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM state WHERE key = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            out = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
}

/* Only these two tables are listed or dropped; the names never come from input. */
static int held_table(const char *table, const char **key, const char **what, const char **why,
                      const char **doc)
{
    if (strcmp(table, "quarantine") == 0) {
        *key = "qid";
        *what = "column_name";
        *why = "why";
        *doc = "records";
        return 0;
    }
    if (strcmp(table, "refused") == 0) {
        *key = "rid";
        *what = "kind";
        *why = "errors";
        *doc = "doc";
        return 0;
    }
    return -1;
}

int spool_list(spool_t *s, const char *table, spool_list_fn fn, void *ctx, char *err,
               size_t err_len)
{
    const char *key, *what, *why, *doc;
    if (held_table(table, &key, &what, &why, &doc) != 0)
        return -1;
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT %s, file, line, %s, %s, at FROM %s ORDER BY %s", key, what,
             why, table, key);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, table, err, err_len);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(ctx, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
           (long)sqlite3_column_int64(st, 2), (const char *)sqlite3_column_text(st, 3),
           (const char *)sqlite3_column_text(st, 4), sqlite3_column_int64(st, 5));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(s, table, err, err_len);
}

char *spool_show(spool_t *s, const char *table, int64_t id)
{
    const char *key, *what, *why, *doc;
    if (held_table(table, &key, &what, &why, &doc) != 0)
        return NULL;
    char sql[160];
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE %s = ?1", doc, table, key);
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            out = strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return out;
}

int64_t spool_drop(spool_t *s, const char *table, int64_t id, char *err, size_t err_len)
{
    const char *key, *what, *why, *doc;
    if (held_table(table, &key, &what, &why, &doc) != 0)
        return -1;
    char sql[160];
    snprintf(sql, sizeof(sql), "DELETE FROM %s%s%s%s", table, id >= 0 ? " WHERE " : "",
             id >= 0 ? key : "", id >= 0 ? " = ?1" : "");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(s, table, err, err_len);
    if (id >= 0)
        sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(s, table, err, err_len);
    return sqlite3_changes64(s->db);
}
