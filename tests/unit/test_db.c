/* Tests for server/db.c, db_conn.c and migrate.c: a real loop against a real PostgreSQL whose
 * URL comes from TRELLIS_TEST_PG_URL (each test works in a database of its own, created and
 * dropped here, so the role needs CREATEDB). Run without arguments it runs every case, and one
 * that needs the server fails when the URL is unset: nothing is skipped.
 * tests/integration/test_db_pg.py runs it so against a cluster of its own; ctest's unit run
 * passes --offline, which runs only the cases that need no server (migration files, config
 * errors, close at once, fail-fast). Modes for test_db_pg.py: --recover and --migrate DIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "db_int.h" /* test_resolve_hosts looks at what each connection gave libpq */
#include "migrate.h"
#include "record_arrays.h"
#include "tr_error.h"

#define MAX_DIRS 3
#define N_FIFO 200
/* Nothing listens there: connections are refused at once. */
#define DEAD_CONNINFO "host=127.0.0.1 port=1 dbname=none user=none"

/* ---- helpers: environment, folders, databases ---- */

static const char *base_url(void)
{
    const char *u = getenv("TRELLIS_TEST_PG_URL");
    return u && *u ? u : NULL;
}

#define NEED_PG()                                                                                  \
    do {                                                                                           \
        if (!base_url())                                                                           \
            fail_msg("TRELLIS_TEST_PG_URL is not set: this case needs a server (run it through "   \
                     "tests/integration/test_db_pg.py, or pass --offline)");                       \
    } while (0)

typedef struct {
    char path[64];
} tmpdir_t;

static void dir_make(tmpdir_t *d)
{
    strcpy(d->path, "/tmp/trellis-test-db-XXXXXX");
    assert_non_null(mkdtemp(d->path));
}

static void dir_put(const tmpdir_t *d, const char *name, const char *content)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", d->path, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void dir_remove(tmpdir_t *d)
{
    char path[512];
    DIR *dir = d->path[0] ? opendir(d->path) : NULL;
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", d->path, e->d_name);
            unlink(path);
        }
    }
    if (dir)
        closedir(dir);
    if (d->path[0])
        rmdir(d->path);
    d->path[0] = '\0';
}

static void quiet(void *arg, const char *msg)
{
}

/* Blocking libpq for set-up only, never inside the loop under test. */
static void admin_exec(const char *sql)
{
    PGconn *c = PQconnectdb(base_url());
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PQsetNoticeProcessor(c, quiet, NULL);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static void append_kv(char *s, size_t cap, const char *key, const char *value)
{
    size_t len = strlen(s);
    len += snprintf(s + len, cap - len, "%s%s='", len ? " " : "", key);
    for (const char *p = value; *p && len + 3 < cap; p++) {
        if (*p == '\'' || *p == '\\')
            s[len++] = '\\';
        s[len++] = *p;
    }
    assert_true(len + 2 < cap);
    s[len++] = '\'';
    s[len] = '\0';
}

/* The base connection string with another database (and maybe another host
 * and port). */
static void conninfo_for(char *out, size_t cap, const char *dbname, const char *host,
                         const char *port)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(base_url(), &msg);
    assert_non_null(opts);
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        const char *v = o->val;
        if (!v || !strcmp(o->keyword, "dbname") || (host && !strcmp(o->keyword, "hostaddr")))
            continue;
        if (host && !strcmp(o->keyword, "host"))
            v = host;
        if (port && !strcmp(o->keyword, "port"))
            v = port;
        append_kv(out, cap, o->keyword, v);
    }
    append_kv(out, cap, "dbname", dbname);
    PQconninfoFree(opts);
}

/* A keyword of the base connection string, or "". */
static const char *base_option(const char *keyword)
{
    static char value[256];
    PQconninfoOption *opts = PQconninfoParse(base_url(), NULL);
    value[0] = '\0';
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, keyword) && o->val)
            snprintf(value, sizeof value, "%s", o->val);
    PQconninfoFree(opts);
    return value;
}

/* ---- the fixture: a loop, migration folders, a database of the test's own ---- */

typedef struct {
    uv_loop_t loop;
    bool loop_closed;
    tmpdir_t dirs[MAX_DIRS];
    char dbname[64];
    char conninfo[2048];
} fx_t;

static int fx_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    for (int i = 0; i < MAX_DIRS; i++)
        dir_make(&fx->dirs[i]);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fx_t *fx = *state;
    char sql[128];
    for (int i = 0; i < MAX_DIRS; i++)
        dir_remove(&fx->dirs[i]);
    if (fx->dbname[0]) {
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", fx->dbname);
        admin_exec(sql);
    }
    /* After a failed test the loop may still hold a pool: leave it. */
    if (!fx->loop_closed)
        uv_loop_close(&fx->loop);
    free(fx);
    return 0;
}

static void fx_database(fx_t *fx, const char *tag)
{
    char sql[160];
    snprintf(fx->dbname, sizeof fx->dbname, "trellis_t_%d_%s", (int)getpid(), tag);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", fx->dbname);
    admin_exec(sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", fx->dbname);
    admin_exec(sql);
    conninfo_for(fx->conninfo, sizeof fx->conninfo, fx->dbname, NULL, NULL);
}

/* ---- helpers: running the loop ---- */

typedef bool (*pred_fn)(const void *arg);

static void on_expire(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Run the loop until pred holds or ms pass; true if it held. */
static bool run_until(uv_loop_t *loop, pred_fn pred, const void *arg, uint64_t ms)
{
    uv_timer_t t;
    bool expired = false;
    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, on_expire, ms, 0);
    while (!pred(arg) && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return pred(arg);
}

static bool never(const void *arg)
{
    return false;
}

static bool flag_set(const void *arg)
{
    return *(const bool *)arg;
}

static bool pool_ready(const void *arg)
{
    return db_pool_ready(arg);
}

static bool pool_busy(const void *arg)
{
    db_stats_t st;
    db_pool_stats(arg, &st);
    return st.busy > 0;
}

static bool pool_down(const void *arg)
{
    db_stats_t st;
    db_pool_stats(arg, &st);
    return st.connected == 0;
}

static bool pool_full(const void *arg)
{
    db_stats_t st;
    db_pool_stats(arg, &st);
    return st.connected == st.size;
}

static void on_closed_flag(void *ud)
{
    *(bool *)ud = true;
}

static void close_pool(uv_loop_t *loop, db_pool_t *pool)
{
    bool closed = false;
    db_pool_close(pool, on_closed_flag, &closed);
    assert_true(run_until(loop, flag_set, &closed, 5000));
}

/* Every test that runs a loop ends here: no handle may be left behind. */
static void finish_loop(fx_t *fx)
{
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    fx->loop_closed = true;
}

typedef struct {
    int calls;
    char msg[512];
} fatal_t;

static void on_fatal(void *ud, const char *msg)
{
    fatal_t *f = ud;
    f->calls++;
    snprintf(f->msg, sizeof f->msg, "%s", msg);
}

static db_pool_t *pool_new(uv_loop_t *loop, const char *conninfo, unsigned size, unsigned max_queue,
                           const char *dir, fatal_t *fatal)
{
    char err[256] = "";
    db_pool_t *pool = NULL;
    db_config_t cfg = {.conninfo = conninfo,
                       .size = size,
                       .max_queue = max_queue,
                       .migrations_dir = dir,
                       .on_fatal = on_fatal,
                       .ud = fatal,
                       .err = err,
                       .err_len = sizeof err};
    int rc = db_pool_new(loop, &cfg, &pool);
    if (rc != 0)
        fail_msg("db_pool_new: %s (%s)", tr_err_name(rc), err);
    return pool;
}

/* ---- helpers: results ---- */

typedef struct {
    int calls;
    bool has_res;
    ExecStatusType status;
    char sqlstate[8];
    char err[128];
    int ncols;
    char val[4][256];
    bool isnull[4];
} result_t;

static void on_result(void *ud, const PGresult *res, const char *err)
{
    result_t *r = ud;
    r->calls++;
    r->has_res = res != NULL;
    snprintf(r->err, sizeof r->err, "%s", err ? err : "");
    if (!res)
        return;
    r->status = PQresultStatus(res);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    snprintf(r->sqlstate, sizeof r->sqlstate, "%s", state ? state : "");
    r->ncols = PQnfields(res) < 4 ? PQnfields(res) : 4;
    for (int i = 0; i < r->ncols && PQntuples(res) > 0; i++) {
        r->isnull[i] = PQgetisnull(res, 0, i);
        snprintf(r->val[i], sizeof r->val[i], "%s", PQgetvalue(res, 0, i));
    }
}

static bool called(const void *arg)
{
    return ((const result_t *)arg)->calls > 0;
}

/* Run one query to completion on a ready pool. */
static void query_sync(uv_loop_t *loop, db_pool_t *pool, const char *sql, int n,
                       const char *const *values, result_t *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(db_query(pool, sql, n, values, on_result, r, NULL), 0);
    assert_true(run_until(loop, called, r, 10000));
    assert_int_equal(r->calls, 1);
}

/* ---- migration files (no server) ---- */

static void test_migration_files(void **state)
{
    fx_t *fx = *state;
    migration_set_t set;
    char err[256];

    dir_put(&fx->dirs[0], "002_b.sql", "SELECT 2;\n");
    dir_put(&fx->dirs[0], "001_a.sql", "SELECT 1;\n");
    dir_put(&fx->dirs[0], "README", "not a migration\n");
    dir_put(&fx->dirs[0], "views.sql", "-- not numbered: not a migration\n");
    assert_int_equal(migration_set_load(fx->dirs[0].path, &set, err, sizeof err), 0);
    assert_int_equal(set.n, 2);
    assert_int_equal(set.items[0].version, 1);
    assert_string_equal(set.items[0].name, "001_a.sql");
    assert_string_equal(set.items[1].sql, "SELECT 2;\n");
    assert_int_equal(migration_set_latest(&set), 2);
    migration_set_free(&set);

    dir_put(&fx->dirs[1], "001_a.sql", "SELECT 1;\n");
    dir_put(&fx->dirs[1], "01_again.sql", "SELECT 1;\n");
    assert_int_equal(migration_set_load(fx->dirs[1].path, &set, err, sizeof err), TR_E_INVAL);
    assert_non_null(strstr(err, "duplicate migration version 1"));
    assert_int_equal(set.n, 0);

    dir_put(&fx->dirs[2], "1x.sql", "SELECT 1;\n");
    assert_int_equal(migration_set_load(fx->dirs[2].path, &set, err, sizeof err), TR_E_INVAL);
    assert_non_null(strstr(err, "bad migration file name 1x.sql"));

    assert_int_equal(migration_set_load("/nonexistent/trellis", &set, err, sizeof err), TR_E_IO);
    dir_remove(&fx->dirs[2]);
    dir_make(&fx->dirs[2]);
    assert_int_equal(migration_set_load(fx->dirs[2].path, &set, err, sizeof err), 0);
    assert_int_equal(set.n, 0);
    assert_int_equal(migration_set_latest(&set), 0);
    migration_set_free(&set);
    finish_loop(fx);
}

static void test_bad_config(void **state)
{
    fx_t *fx = *state;
    char err[256] = "";
    db_pool_t *pool = NULL;
    db_config_t cfg = {.conninfo = "host=127.0.0.1 password=sekrit nosuchoption=1",
                       .size = 1,
                       .max_queue = 1,
                       .migrations_dir = fx->dirs[0].path,
                       .err = err,
                       .err_len = sizeof err};
    assert_int_equal(db_pool_new(&fx->loop, &cfg, &pool), TR_E_INVAL);
    assert_string_equal(err, "invalid database connection string");
    assert_null(pool);

    cfg.conninfo = DEAD_CONNINFO;
    cfg.migrations_dir = "/nonexistent/trellis";
    assert_int_equal(db_pool_new(&fx->loop, &cfg, &pool), TR_E_IO);
    assert_non_null(strstr(err, "cannot open migrations folder"));

    cfg.migrations_dir = fx->dirs[0].path;
    cfg.size = 0;
    assert_int_equal(db_pool_new(&fx->loop, &cfg, &pool), TR_E_INVAL);
    finish_loop(fx);
}

/* Database down from the start: a bounded queue, then fail-fast, then the
 * queued queries time out; closing answers what is left and leaks nothing. */
static void test_down_fail_fast(void **state)
{
    fx_t *fx = *state;
    fatal_t fatal = {0};
    result_t r[3] = {0};
    db_stats_t st;

    db_pool_t *pool = pool_new(&fx->loop, DEAD_CONNINFO, 2, 2, fx->dirs[0].path, &fatal);
    assert_int_equal(db_query(pool, "SELECT 1", 0, NULL, on_result, &r[0], NULL), 0);
    assert_int_equal(db_query(pool, "SELECT 1", 0, NULL, on_result, &r[1], NULL), 0);
    assert_int_equal(db_query(pool, "SELECT 1", 0, NULL, on_result, &r[2], NULL),
                     TR_E_DB_UNAVAILABLE); /* the queue is full */
    assert_false(db_pool_ready(pool));

    run_until(&fx->loop, never, NULL, 2300);
    assert_int_equal(r[0].calls, 0); /* younger than the queue bound */
    db_pool_stats(pool, &st);
    assert_int_equal(st.connected, 0);
    assert_int_equal(st.queued, 1 + 1);
    assert_true(st.reconnects > 0);
    assert_int_equal(st.schema_version, -1);
    assert_false(st.migrations_done);
    /* Down for more than 2 s: refused at once, even with room in the queue. */
    db_query_t *h = NULL;
    assert_int_equal(db_query(pool, "SELECT 1", 0, NULL, on_result, &r[2], &h),
                     TR_E_DB_UNAVAILABLE);
    assert_null(h);

    assert_true(run_until(&fx->loop, called, &r[1], 4000));
    assert_int_equal(r[0].calls, 1);
    assert_false(r[0].has_res);
    assert_string_equal(r[0].err, "database unavailable");
    assert_string_equal(r[1].err, "database unavailable");
    assert_int_equal(r[2].calls, 0);
    db_pool_stats(pool, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.errors, 2);
    assert_int_equal(fatal.calls, 0);
    close_pool(&fx->loop, pool);
    finish_loop(fx);
}

/* Closing before the loop ever ran answers queued queries "shutting down". */
static void test_close_at_once(void **state)
{
    fx_t *fx = *state;
    result_t r[2] = {0};
    bool closed = false;
    db_pool_t *pool = pool_new(&fx->loop, DEAD_CONNINFO, 3, 8, fx->dirs[0].path, NULL);
    assert_int_equal(db_query(pool, "SELECT 1", 0, NULL, on_result, &r[0], NULL), 0);
    assert_int_equal(db_query(pool, "SELECT 2", 0, NULL, on_result, &r[1], NULL), 0);
    db_pool_close(pool, on_closed_flag, &closed);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_string_equal(r[i].err, "shutting down");
    }
    assert_false(closed); /* only once every handle has closed */
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_true(closed);
    finish_loop(fx);
}

/* ---- against the server ---- */

static void test_roundtrip(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    fx_database(fx, "rt");
    fatal_t fatal = {0};
    result_t r;
    db_pool_t *pool = pool_new(&fx->loop, fx->conninfo, 1, 16, fx->dirs[0].path, &fatal);
    assert_true(run_until(&fx->loop, pool_ready, pool, 10000));

    /* Were parameters interpolated, the quote would break the statement. */
    const char *quote = "it's a 'quote'); DROP TABLE trellis_schema_migrations; --";
    const char *unicode = "Zo\xc3\xab \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82";
    const char *values[] = {quote, unicode, NULL};
    query_sync(&fx->loop, pool, "SELECT $1::text, $2::text, $3::text IS NULL, length($2)", 3,
               values, &r);
    assert_true(r.has_res);
    assert_int_equal(r.status, PGRES_TUPLES_OK);
    assert_string_equal(r.val[0], quote);
    assert_string_equal(r.val[1], unicode);
    assert_string_equal(r.val[2], "t");
    assert_string_equal(r.val[3], "10"); /* characters, not bytes: sent as UTF-8 text */

    const char *null_value[] = {NULL};
    query_sync(&fx->loop, pool, "SELECT $1::text", 1, null_value, &r);
    assert_true(r.isnull[0]);
    query_sync(&fx->loop, pool, "SELECT count(*) FROM trellis_schema_migrations", 0, NULL, &r);
    assert_string_equal(r.val[0], "0");

    db_stats_t st;
    db_pool_stats(pool, &st);
    assert_int_equal(st.size, 1);
    assert_int_equal(st.connected, 1);
    assert_int_equal(st.busy, 0);
    assert_int_equal(st.queued, 0);
    assert_true(st.queries >= 3);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.reconnects, 0);
    assert_int_equal(st.schema_version, 0);
    assert_true(st.migrations_done);
    assert_int_equal(fatal.calls, 0);
    close_pool(&fx->loop, pool);
    finish_loop(fx);
}

/* A batch as binary arrays (record_arrays.c) through db_query_params: every
 * column arrives whole and in order, a doc as jsonb, an empty batch as empty
 * arrays; and a text parameter may sit among binary ones. */
static void test_binary_params(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    fx_database(fx, "bin");
    fatal_t fatal = {0};
    result_t r;
    db_pool_t *pool = pool_new(&fx->loop, fx->conninfo, 1, 16, fx->dirs[0].path, &fatal);
    assert_true(run_until(&fx->loop, pool_ready, pool, 10000));

    record_arrays_t a;
    record_arrays_init(&a);
    tr_record_t rec = {.kind = TR_KIND_PATHWAY_EVENT,
                       .id = "0b6b6a3e-2f55-4b8e-9a0f-3f3c2f1d9a10",
                       .origin = "alpha",
                       .version = INT64_C(9007199254740991)};
    char hash[65];
    memset(hash, 'a', 64);
    hash[64] = '\0';
    const char doc1[] = "{\"x\":\"first\"}", doc2[] = "{\"x\":\"Zo\u00eb \\\" \u2713\"}";
    record_arrays_add(&a, 7, &rec, hash, doc1, strlen(doc1));
    rec.kind = TR_KIND_DIRECTORY_SERVICE;
    memcpy(rec.origin, "beta", 5);
    rec.version = 1;
    record_arrays_add(&a, 1000, &rec, hash, doc2, strlen(doc2));
    const char *values[RA_COLUMNS + 1];
    int lengths[RA_COLUMNS + 1] = {0}, formats[RA_COLUMNS + 1] = {0};
    record_arrays_params(&a, values, lengths, formats);
    values[RA_COLUMNS] = "text among binary";
    memset(&r, 0, sizeof r);
    assert_int_equal(
        db_query_params(pool,
                        "SELECT array_to_string($1::int[], ','), "
                        "array_to_string($2::text[], ','), ($3::uuid[])[1]::text, "
                        "$8::text || ':' || (cardinality($4::text[]) + cardinality($5::bigint[]) + "
                        "cardinality($6::text[]) + cardinality($7::jsonb[]))",
                        RA_COLUMNS + 1, values, lengths, formats, on_result, &r, NULL),
        0);
    assert_true(run_until(&fx->loop, called, &r, 10000));
    assert_int_equal(r.status, PGRES_TUPLES_OK);
    assert_string_equal(r.val[0], "7,1000");
    assert_string_equal(r.val[1], "pathway.event,directory.service");
    assert_string_equal(r.val[2], "0b6b6a3e-2f55-4b8e-9a0f-3f3c2f1d9a10");
    assert_string_equal(r.val[3], "text among binary:8");
    memset(&r, 0, sizeof r);
    assert_int_equal(
        db_query_params(pool,
                        "SELECT array_to_string($4::text[], ','), "
                        "array_to_string($5::bigint[], ',') || ':' || (cardinality($1::int[]) + "
                        "cardinality($2::text[]) + cardinality($3::uuid[])), "
                        "($6::text[])[2], "
                        "(($7::jsonb[])[2]->>'x') || '|' || (($7::jsonb[])[1]->>'x')",
                        RA_COLUMNS, values, lengths, formats, on_result, &r, NULL),
        0);
    assert_true(run_until(&fx->loop, called, &r, 10000));
    assert_int_equal(r.status, PGRES_TUPLES_OK);
    assert_string_equal(r.val[0], "alpha,beta");
    assert_string_equal(r.val[1], "9007199254740991,1:6");
    assert_string_equal(r.val[2], hash);
    assert_string_equal(r.val[3], "Zo\xc3\xab \" \xe2\x9c\x93|first");
    record_arrays_free(&a);

    record_arrays_init(&a);
    record_arrays_params(&a, values, lengths, formats);
    memset(&r, 0, sizeof r);
    assert_int_equal(db_query_params(pool,
                                     "SELECT cardinality($1::int[]), cardinality($2::text[]) + "
                                     "cardinality($3::uuid[]) + cardinality($4::text[]) + "
                                     "cardinality($5::bigint[]) + cardinality($6::text[]) + "
                                     "cardinality($7::jsonb[])",
                                     RA_COLUMNS, values, lengths, formats, on_result, &r, NULL),
                     0);
    assert_true(run_until(&fx->loop, called, &r, 10000));
    assert_int_equal(r.status, PGRES_TUPLES_OK);
    assert_string_equal(r.val[0], "0");
    assert_string_equal(r.val[1], "0");
    record_arrays_free(&a);

    /* A negative length for a binary value is refused before anything is sent. */
    int bad_len = -1, binary = 1;
    const char *one[] = {"x"};
    assert_int_equal(
        db_query_params(pool, "SELECT $1::bytea", 1, one, &bad_len, &binary, on_result, &r, NULL),
        TR_E_INVAL);
    close_pool(&fx->loop, pool);
    finish_loop(fx);
}

typedef struct fifo fifo_t;
typedef struct {
    fifo_t *fifo;
    int index, calls, value, pid, order;
} fifo_item_t;

struct fifo {
    fifo_item_t items[N_FIFO];
    int done;
};

static void on_fifo(void *ud, const PGresult *res, const char *err)
{
    fifo_item_t *it = ud;
    it->calls++;
    it->order = it->fifo->done++;
    if (res && PQresultStatus(res) == PGRES_TUPLES_OK) {
        it->value = atoi(PQgetvalue(res, 0, 0));
        it->pid = atoi(PQgetvalue(res, 0, 1));
    }
}

static bool fifo_done(const void *arg)
{
    return ((const fifo_t *)arg)->done >= N_FIFO;
}

/* 200 queries queued before the pool is even up, on 2 connections: all
 * complete, and each connection runs them in the order they were submitted. */
static void test_fifo(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    fx_database(fx, "fifo");
    static fifo_t fifo;
    char num[16];
    memset(&fifo, 0, sizeof fifo);
    db_pool_t *pool = pool_new(&fx->loop, fx->conninfo, 2, 256, fx->dirs[0].path, NULL);
    for (int i = 0; i < N_FIFO; i++) {
        fifo.items[i] = (fifo_item_t){.fifo = &fifo, .index = i, .value = -1};
        snprintf(num, sizeof num, "%d", i);
        const char *values[] = {num};
        assert_int_equal(db_query(pool, "SELECT $1::int, pg_backend_pid()", 1, values, on_fifo,
                                  &fifo.items[i], NULL),
                         0);
    }
    assert_true(run_until(&fx->loop, fifo_done, &fifo, 30000));
    int pids[2] = {0, 0}, last[2] = {-1, -1};
    int by_order[N_FIFO];
    for (int i = 0; i < N_FIFO; i++) {
        assert_int_equal(fifo.items[i].calls, 1);
        assert_int_equal(fifo.items[i].value, i);
        by_order[fifo.items[i].order] = i;
    }
    for (int k = 0; k < N_FIFO; k++) {
        const fifo_item_t *it = &fifo.items[by_order[k]];
        int slot = it->pid == pids[0] ? 0 : it->pid == pids[1] ? 1 : pids[0] == 0 ? 0 : 1;
        assert_true(pids[slot] == 0 || pids[slot] == it->pid); /* at most 2 backends */
        pids[slot] = it->pid;
        assert_true(it->index > last[slot]); /* FIFO on each connection */
        last[slot] = it->index;
    }
    db_stats_t st;
    db_pool_stats(pool, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.busy, 0);
    print_message("fifo: %d backend(s) served %d queries\n", pids[1] ? 2 : 1, N_FIFO);
    close_pool(&fx->loop, pool);
    finish_loop(fx);
}

/* A failing statement gives PGRES_FATAL_ERROR; the same connection goes on. */
static void test_failing_query(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    fx_database(fx, "fail");
    result_t before, bad, after;
    db_pool_t *pool = pool_new(&fx->loop, fx->conninfo, 1, 16, fx->dirs[0].path, NULL);
    assert_true(run_until(&fx->loop, pool_ready, pool, 10000));
    query_sync(&fx->loop, pool, "SELECT pg_backend_pid()", 0, NULL, &before);
    query_sync(&fx->loop, pool, "SELECT 1/0", 0, NULL, &bad);
    assert_true(bad.has_res);
    assert_int_equal(bad.status, PGRES_FATAL_ERROR);
    assert_string_equal(bad.sqlstate, "22012");
    assert_string_equal(bad.err, "");
    query_sync(&fx->loop, pool, "SELECT pg_backend_pid()", 0, NULL, &after);
    assert_int_equal(after.status, PGRES_TUPLES_OK);
    assert_string_equal(before.val[0], after.val[0]);

    db_stats_t st;
    db_pool_stats(pool, &st);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.reconnects, 0);
    assert_true(db_pool_ready(pool));
    close_pool(&fx->loop, pool);
    finish_loop(fx);
}

static const char mig_a[] = "-- two statements in one file\n"
                            "CREATE TABLE t_a (x int);\n"
                            "INSERT INTO t_a VALUES (1);\n";
static const char mig_b[] = "CREATE TABLE t_b (y text);\nINSERT INTO t_b VALUES ('it''s');\n";

/* Two pools on one fresh database at once: the advisory lock makes them take
 * turns and the files are applied once; a later pool applies nothing. */
static void test_migrations_once(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    fx_database(fx, "mig");
    fatal_t fatal = {0};
    result_t r;
    dir_put(&fx->dirs[0], "001_a.sql", mig_a);
    dir_put(&fx->dirs[0], "002_b.sql", mig_b);
    db_pool_t *a = pool_new(&fx->loop, fx->conninfo, 2, 16, fx->dirs[0].path, &fatal);
    db_pool_t *b = pool_new(&fx->loop, fx->conninfo, 2, 16, fx->dirs[0].path, &fatal);
    assert_true(run_until(&fx->loop, pool_ready, a, 10000));
    assert_true(run_until(&fx->loop, pool_ready, b, 10000));
    query_sync(&fx->loop, b,
               "SELECT count(*), max(version), string_agg(name, ',' ORDER BY version) "
               "FROM trellis_schema_migrations",
               0, NULL, &r);
    assert_string_equal(r.val[0], "2");
    assert_string_equal(r.val[1], "2");
    assert_string_equal(r.val[2], "001_a.sql,002_b.sql");
    query_sync(&fx->loop, a, "SELECT count(*), (SELECT y FROM t_b) FROM t_a", 0, NULL, &r);
    assert_string_equal(r.val[0], "1");
    assert_string_equal(r.val[1], "it's");
    db_stats_t st;
    db_pool_stats(a, &st);
    assert_int_equal(st.schema_version, 2);
    assert_true(st.migrations_done);
    db_pool_stats(b, &st);
    assert_int_equal(st.schema_version, 2);
    query_sync(&fx->loop, a, "SELECT max(applied_at)::text FROM trellis_schema_migrations", 0, NULL,
               &r);
    char applied[256];
    snprintf(applied, sizeof applied, "%s", r.val[0]);
    close_pool(&fx->loop, a);
    close_pool(&fx->loop, b);

    db_pool_t *c = pool_new(&fx->loop, fx->conninfo, 1, 16, fx->dirs[0].path, &fatal);
    assert_true(run_until(&fx->loop, pool_ready, c, 10000));
    query_sync(&fx->loop, c,
               "SELECT count(*), max(applied_at)::text, (SELECT count(*) FROM t_a) "
               "FROM trellis_schema_migrations",
               0, NULL, &r);
    assert_string_equal(r.val[0], "2");
    assert_string_equal(r.val[1], applied);
    assert_string_equal(r.val[2], "1");
    assert_int_equal(fatal.calls, 0);
    close_pool(&fx->loop, c);
    finish_loop(fx);
}

static bool fatal_called(const void *arg)
{
    return ((const fatal_t *)arg)->calls > 0;
}

/* A failing migration is rolled back whole and stops the node. */
static void test_migration_fails(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    fx_database(fx, "migfail");
    fatal_t fatal = {0};
    result_t queued = {0}, r;
    dir_put(&fx->dirs[0], "001_a.sql", mig_a);
    dir_put(&fx->dirs[0], "002_bad.sql", "CREATE TABLE t_bad (x int);\nSELEC oops;\n");
    dir_put(&fx->dirs[1], "001_a.sql", mig_a);

    db_pool_t *pool = pool_new(&fx->loop, fx->conninfo, 1, 16, fx->dirs[0].path, &fatal);
    assert_int_equal(db_query(pool, "SELECT 1", 0, NULL, on_result, &queued, NULL), 0);
    assert_true(run_until(&fx->loop, fatal_called, &fatal, 10000));
    assert_int_equal(fatal.calls, 1);
    assert_non_null(strstr(fatal.msg, "migration 002_bad.sql failed: "));
    assert_non_null(strstr(fatal.msg, "syntax error"));
    assert_null(strchr(fatal.msg, '\n'));
    assert_int_equal(queued.calls, 1); /* never ran on a half-migrated schema */
    assert_false(queued.has_res);
    assert_false(db_pool_ready(pool));
    assert_int_equal(db_query(pool, "SELECT 1", 0, NULL, on_result, &r, NULL), TR_E_SCHEMA);
    close_pool(&fx->loop, pool);

    /* 001 stayed applied; nothing of 002 is left. */
    pool = pool_new(&fx->loop, fx->conninfo, 1, 16, fx->dirs[1].path, &fatal);
    assert_true(run_until(&fx->loop, pool_ready, pool, 10000));
    query_sync(&fx->loop, pool,
               "SELECT count(*), to_regclass('t_bad') IS NULL, (SELECT count(*) FROM t_a) "
               "FROM trellis_schema_migrations",
               0, NULL, &r);
    assert_string_equal(r.val[0], "1");
    assert_string_equal(r.val[1], "t");
    assert_string_equal(r.val[2], "1");
    assert_int_equal(fatal.calls, 1);
    close_pool(&fx->loop, pool);
    finish_loop(fx);
}

static void test_schema_newer(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    fx_database(fx, "newer");
    fatal_t fatal = {0};
    dir_put(&fx->dirs[0], "001_a.sql", mig_a);
    dir_put(&fx->dirs[0], "002_b.sql", mig_b);
    dir_put(&fx->dirs[1], "001_a.sql", mig_a);
    db_pool_t *pool = pool_new(&fx->loop, fx->conninfo, 1, 16, fx->dirs[0].path, &fatal);
    assert_true(run_until(&fx->loop, pool_ready, pool, 10000));
    close_pool(&fx->loop, pool);

    pool = pool_new(&fx->loop, fx->conninfo, 2, 16, fx->dirs[1].path, &fatal);
    assert_true(run_until(&fx->loop, fatal_called, &fatal, 10000));
    assert_string_equal(fatal.msg, "database schema version 2 is newer than this node knows (1)");
    assert_false(db_pool_ready(pool));
    db_stats_t st;
    db_pool_stats(pool, &st);
    assert_int_equal(st.schema_version, 2);
    assert_false(st.migrations_done);
    close_pool(&fx->loop, pool);
    finish_loop(fx);
}

typedef struct {
    db_query_t *handle;
} cancel_t;

/* Cancelling a queued query removes it; cancelling a running one discards its
 * result when it arrives. Neither callback ever runs. */
static void test_cancel(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    fx_database(fx, "cancel");
    result_t r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0}, r5 = {0};
    db_query_t *h2 = NULL, *h4 = NULL;
    db_pool_t *pool = pool_new(&fx->loop, fx->conninfo, 1, 16, fx->dirs[0].path, NULL);
    assert_int_equal(db_query(pool, "SELECT 1 FROM pg_sleep(0.2)", 0, NULL, on_result, &r1, NULL),
                     0);
    assert_int_equal(db_query(pool, "SELECT 2", 0, NULL, on_result, &r2, &h2), 0);
    assert_int_equal(db_query(pool, "SELECT 3", 0, NULL, on_result, &r3, NULL), 0);
    db_query_cancel(h2);
    db_stats_t st;
    db_pool_stats(pool, &st);
    assert_int_equal(st.queued, 2);
    assert_true(run_until(&fx->loop, called, &r3, 10000));
    assert_int_equal(r1.calls, 1);
    assert_int_equal(r2.calls, 0);
    assert_string_equal(r3.val[0], "3");

    assert_int_equal(db_query(pool, "SELECT 4 FROM pg_sleep(0.3)", 0, NULL, on_result, &r4, &h4),
                     0);
    assert_true(run_until(&fx->loop, pool_busy, pool, 5000));
    db_query_cancel(h4);
    assert_int_equal(db_query(pool, "SELECT 5", 0, NULL, on_result, &r5, NULL), 0);
    assert_true(run_until(&fx->loop, called, &r5, 10000));
    assert_int_equal(r4.calls, 0);
    assert_int_equal(r5.status, PGRES_TUPLES_OK);
    assert_string_equal(r5.val[0], "5");
    close_pool(&fx->loop, pool);
    finish_loop(fx);
}

/* Closing with a query running and others queued answers them all at once,
 * without waiting for the server. */
static void test_close_busy(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    fx_database(fx, "close");
    result_t r[3] = {0};
    bool closed = false;
    db_pool_t *pool = pool_new(&fx->loop, fx->conninfo, 1, 16, fx->dirs[0].path, NULL);
    assert_true(run_until(&fx->loop, pool_ready, pool, 10000));
    assert_int_equal(db_query(pool, "SELECT pg_sleep(30)", 0, NULL, on_result, &r[0], NULL), 0);
    assert_int_equal(db_query(pool, "SELECT 1", 0, NULL, on_result, &r[1], NULL), 0);
    assert_int_equal(db_query(pool, "SELECT 2", 0, NULL, on_result, &r[2], NULL), 0);
    assert_true(run_until(&fx->loop, pool_busy, pool, 5000));
    uint64_t t0 = uv_hrtime();
    db_pool_close(pool, on_closed_flag, &closed);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_string_equal(r[i].err, "shutting down");
    }
    assert_true(run_until(&fx->loop, flag_set, &closed, 5000));
    assert_true(uv_hrtime() - t0 < 3000000000ull);
    finish_loop(fx);
}

/* Closing while a host name is being resolved and while connecting: every
 * request and handle still ends, and nothing leaks (ASan). */
static void test_close_early(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    fx_database(fx, "early");
    char resolving[2048], several[2048];
    conninfo_for(resolving, sizeof resolving, fx->dbname, "localhost", NULL);
    conninfo_for(several, sizeof several, fx->dbname, "localhost,/tmp,127.0.0.1,localhost", NULL);
    const char *infos[] = {resolving, several, fx->conninfo};
    for (int i = 0; i < 3; i++) {
        bool closed = false;
        result_t r = {0};
        db_pool_t *pool = pool_new(&fx->loop, infos[i], 2, 4, fx->dirs[0].path, NULL);
        assert_int_equal(db_query(pool, "SELECT 1", 0, NULL, on_result, &r, NULL), 0);
        uv_run(&fx->loop, UV_RUN_NOWAIT); /* the first attempts start */
        db_pool_close(pool, on_closed_flag, &closed);
        assert_int_equal(r.calls, 1);
        assert_string_equal(r.err, "shutting down");
        assert_true(run_until(&fx->loop, flag_set, &closed, 5000));
    }
    finish_loop(fx);
}

typedef struct {
    db_pool_t *pool;
    int done, target;
    bool closed;
    result_t queued;
} chain_t;

static void on_chain(void *ud, const PGresult *res, const char *err)
{
    chain_t *ch = ud;
    assert_non_null(res);
    assert_int_equal(atoi(PQgetvalue(res, 0, 0)), ch->done);
    if (++ch->done < ch->target) {
        char num[16];
        snprintf(num, sizeof num, "%d", ch->done);
        const char *values[] = {num};
        assert_int_equal(db_query(ch->pool, "SELECT $1::int", 1, values, on_chain, ch, NULL), 0);
        return;
    }
    /* The last one closes the pool from inside its callback. */
    assert_int_equal(db_query(ch->pool, "SELECT 1", 0, NULL, on_result, &ch->queued, NULL), 0);
    db_pool_close(ch->pool, on_closed_flag, &ch->closed);
    assert_int_equal(ch->queued.calls, 1);
    assert_string_equal(ch->queued.err, "shutting down");
    assert_int_equal(db_query(ch->pool, "SELECT 1", 0, NULL, on_result, &ch->queued, NULL),
                     TR_E_DB_UNAVAILABLE);
}

/* Callbacks may queue queries and close the pool. */
static void test_reentrant(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    fx_database(fx, "reent");
    static chain_t ch;
    memset(&ch, 0, sizeof ch);
    ch.target = 50;
    ch.pool = pool_new(&fx->loop, fx->conninfo, 1, 4, fx->dirs[0].path, NULL);
    const char *zero[] = {"0"};
    assert_int_equal(db_query(ch.pool, "SELECT $1::int", 1, zero, on_chain, &ch, NULL), 0);
    assert_true(run_until(&fx->loop, flag_set, &ch.closed, 10000));
    assert_int_equal(ch.done, ch.target);
    finish_loop(fx);
}

/* A host name is resolved off the loop (uv_getaddrinfo), then handed to
 * libpq as hostaddr. */
static void test_resolve_localhost(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    if (strcmp(base_option("host"), "127.0.0.1") != 0)
        fail_msg("TRELLIS_TEST_PG_URL must name host 127.0.0.1 for this case");
    fx_database(fx, "resolve");
    conninfo_for(fx->conninfo, sizeof fx->conninfo, fx->dbname, "localhost", NULL);
    result_t r;
    db_pool_t *pool = pool_new(&fx->loop, fx->conninfo, 2, 16, fx->dirs[0].path, NULL);
    assert_true(run_until(&fx->loop, pool_ready, pool, 10000));
    query_sync(&fx->loop, pool, "SELECT inet_client_addr()::text", 0, NULL, &r);
    assert_string_equal(r.val[0], "127.0.0.1/32");
    close_pool(&fx->loop, pool);
    finish_loop(fx);
}

/* The value of keyword in what libpq was given for c, or "". */
static const char *conn_option(db_conn_t *c, const char *keyword, char *out, size_t cap)
{
    PQconninfoOption *opts = PQconninfo(c->pg);
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, keyword) && o->val)
            snprintf(out, cap, "%s", o->val);
    PQconninfoFree(opts);
    return out;
}

static size_t count_items(const char *list)
{
    size_t n = 1;
    for (; *list; list++)
        n += *list == ',';
    return n;
}

/* Every host of a multi-host connection string (the usual high-availability form) is resolved
 * off the loop: libpq gets each address as a hostaddr, the names kept as host for TLS and
 * .pgpass, each address with its host's port. Left to itself, libpq would resolve the names
 * with a blocking getaddrinfo inside PQconnectPoll, on the loop. */
static void test_resolve_hosts(void **state)
{
    fx_t *fx = *state;
    char port[64], host[512], addr[512], ports[512];
    NEED_PG();
    if (strcmp(base_option("host"), "127.0.0.1") != 0 || !base_option("port")[0])
        skip();
    fx_database(fx, "resolvehosts");
    /* Nothing listens on port 1: libpq moves on to the last entry. */
    snprintf(port, sizeof port, "1,1,%s", base_option("port"));
    conninfo_for(fx->conninfo, sizeof fx->conninfo, fx->dbname, "localhost,127.0.0.1,localhost",
                 port);
    result_t r;
    db_pool_t *pool = pool_new(&fx->loop, fx->conninfo, 2, 16, fx->dirs[0].path, NULL);
    assert_true(run_until(&fx->loop, pool_ready, pool, 10000));
    query_sync(&fx->loop, pool, "SELECT inet_client_addr()::text", 0, NULL, &r);
    assert_string_equal(r.val[0], "127.0.0.1/32");
    assert_true(run_until(&fx->loop, pool_full, pool, 10000));
    for (unsigned i = 0; i < pool->size; i++) {
        db_conn_t *c = &pool->conns[i];
        conn_option(c, "host", host, sizeof host);
        conn_option(c, "hostaddr", addr, sizeof addr);
        conn_option(c, "port", ports, sizeof ports);
        print_message("libpq was given host=%s hostaddr=%s port=%s\n", host, addr, ports);
        assert_true(addr[0] != '\0');
        assert_int_equal(count_items(addr), count_items(host));
        assert_int_equal(count_items(ports), count_items(host));
        /* localhost is ::1 and 127.0.0.1 on most machines: at least three entries */
        assert_true(count_items(host) >= 3);
        char *save, *a = strtok_r(addr, ",", &save);
        unsigned char buf[sizeof(struct in6_addr)];
        for (; a; a = strtok_r(NULL, ",", &save))
            assert_true(inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1);
        /* the last entry is the one that answers, with the real port */
        assert_non_null(strstr(ports, base_option("port")));
        assert_string_equal(strrchr(host, ',') + 1, "localhost");
    }
    close_pool(&fx->loop, pool);
    finish_loop(fx);
}

/* libpq replaces its socket while connecting when the first host refuses:
 * the new socket often gets the same number, and the watch must follow it. */
static void test_socket_change(void **state)
{
    fx_t *fx = *state;
    char port[64];
    NEED_PG();
    if (strcmp(base_option("host"), "127.0.0.1") != 0 || !base_option("port")[0])
        fail_msg("TRELLIS_TEST_PG_URL must name host 127.0.0.1 and a port for this case");
    fx_database(fx, "sockchange");
    snprintf(port, sizeof port, "1,%s", base_option("port"));
    conninfo_for(fx->conninfo, sizeof fx->conninfo, fx->dbname, "127.0.0.1,127.0.0.1", port);
    result_t r;
    db_pool_t *pool = pool_new(&fx->loop, fx->conninfo, 2, 16, fx->dirs[0].path, NULL);
    assert_true(run_until(&fx->loop, pool_ready, pool, 10000));
    query_sync(&fx->loop, pool, "SELECT 1", 0, NULL, &r);
    assert_string_equal(r.val[0], "1");
    assert_true(run_until(&fx->loop, pool_full, pool, 10000));
    db_stats_t st;
    db_pool_stats(pool, &st);
    assert_int_equal(st.reconnects, 0); /* one attempt each, two sockets each */
    close_pool(&fx->loop, pool);
    finish_loop(fx);
}

typedef struct {
    int calls;
    char channel[64], payload[64];
} notify_t;

static void on_notify(void *ud, const char *channel, const char *payload)
{
    notify_t *n = ud;
    n->calls++;
    snprintf(n->channel, sizeof n->channel, "%s", channel);
    snprintf(n->payload, sizeof n->payload, "%s", payload);
}

static bool notified(const void *arg)
{
    return ((const notify_t *)arg)->calls > 0;
}

/* The LISTEN/NOTIFY hook: notifications reach cfg->on_notify. */
static void test_notify_hook(void **state)
{
    fx_t *fx = *state;
    NEED_PG();
    fx_database(fx, "notify");
    notify_t n = {0};
    result_t r;
    db_pool_t *pool = NULL;
    db_config_t cfg = {.conninfo = fx->conninfo,
                       .size = 1,
                       .max_queue = 4,
                       .migrations_dir = fx->dirs[0].path,
                       .on_notify = on_notify,
                       .ud = &n};
    assert_int_equal(db_pool_new(&fx->loop, &cfg, &pool), 0);
    assert_true(run_until(&fx->loop, pool_ready, pool, 10000));
    query_sync(&fx->loop, pool, "LISTEN trellis_test", 0, NULL, &r);
    const char *payload[] = {"hello"};
    query_sync(&fx->loop, pool, "SELECT pg_notify('trellis_test', $1)", 1, payload, &r);
    assert_true(run_until(&fx->loop, notified, &n, 5000));
    assert_string_equal(n.channel, "trellis_test");
    assert_string_equal(n.payload, "hello");
    close_pool(&fx->loop, pool);
    finish_loop(fx);
}

/* ---- modes for the integration test ---- */

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL: %s\n", what);                                                   \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static void say(const char *line)
{
    printf("%s\n", line);
    fflush(stdout);
}

/* Started with the cluster stopped; test_db_pg.py starts and stops it when
 * told to by the lines this prints. */
static int recover_mode(void)
{
    uv_loop_t loop;
    tmpdir_t dir;
    result_t r0 = {0}, r = {0}, sleeper = {0};
    CHECK(base_url(), "TRELLIS_TEST_PG_URL is not set");
    uv_loop_init(&loop);
    dir_make(&dir);
    char err[256] = "";
    db_pool_t *pool = NULL;
    db_config_t cfg = {.conninfo = base_url(),
                       .size = 2,
                       .max_queue = 16,
                       .migrations_dir = dir.path,
                       .err = err,
                       .err_len = sizeof err};
    CHECK(db_pool_new(&loop, &cfg, &pool) == 0, err);
    CHECK(db_query(pool, "SELECT 1", 0, NULL, on_result, &r0, NULL) == 0, "queued while young");
    run_until(&loop, never, NULL, 2500);
    CHECK(!db_pool_ready(pool), "not ready while the cluster is down");
    CHECK(db_query(pool, "SELECT 1", 0, NULL, on_result, &r, NULL) == TR_E_DB_UNAVAILABLE,
          "fails fast when down for more than 2 s");
    say("DOWN-OK");

    CHECK(run_until(&loop, pool_ready, pool, 30000), "ready again once the cluster is up");
    CHECK(run_until(&loop, called, &r0, 6000) && r0.calls == 1, "the early query answered once");
    CHECK(db_query(pool, "SELECT 1", 0, NULL, on_result, &r, NULL) == 0, "query after recovery");
    CHECK(run_until(&loop, called, &r, 10000) && r.status == PGRES_TUPLES_OK, "SELECT 1 works");
    say("UP-OK");

    CHECK(db_query(pool, "SELECT pg_sleep(60)", 0, NULL, on_result, &sleeper, NULL) == 0,
          "sleeper queued");
    CHECK(run_until(&loop, pool_busy, pool, 5000), "sleeper running");
    say("SLEEPING");
    CHECK(run_until(&loop, called, &sleeper, 20000), "sleeper answered when the server died");
    CHECK(!sleeper.has_res && strcmp(sleeper.err, "connection lost") == 0,
          "sleeper got connection lost");
    CHECK(run_until(&loop, pool_down, pool, 10000) && !db_pool_ready(pool), "pool down");
    say("LOST-OK");

    CHECK(run_until(&loop, pool_ready, pool, 30000), "ready after the restart");
    memset(&r, 0, sizeof r);
    CHECK(db_query(pool, "SELECT 2", 0, NULL, on_result, &r, NULL) == 0, "query after restart");
    CHECK(run_until(&loop, called, &r, 10000) && strcmp(r.val[0], "2") == 0, "SELECT 2 works");
    db_stats_t st;
    db_pool_stats(pool, &st);
    CHECK(st.reconnects > 0 && st.migrations_done, "stats after recovery");
    bool closed = false;
    db_pool_close(pool, on_closed_flag, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(closed, "on_closed ran");
    CHECK(uv_loop_close(&loop) == 0, "no handle left");
    dir_remove(&dir);
    say("RECOVERED");
    return 0;
}

static bool ready_or_fatal(const void *arg)
{
    const void *const *a = arg;
    return db_pool_ready(a[0]) || ((const fatal_t *)a[1])->calls > 0;
}

/* Apply the migrations of dir to TRELLIS_TEST_PG_URL, as trellisd would. */
static int migrate_mode(const char *dir)
{
    uv_loop_t loop;
    fatal_t fatal = {0};
    char err[256] = "";
    db_pool_t *pool = NULL;
    CHECK(base_url(), "TRELLIS_TEST_PG_URL is not set");
    uv_loop_init(&loop);
    db_config_t cfg = {.conninfo = base_url(),
                       .size = 1,
                       .max_queue = 4,
                       .migrations_dir = dir,
                       .on_fatal = on_fatal,
                       .ud = &fatal,
                       .err = err,
                       .err_len = sizeof err};
    CHECK(db_pool_new(&loop, &cfg, &pool) == 0, err);
    const void *arg[2] = {pool, &fatal};
    bool ok = run_until(&loop, ready_or_fatal, arg, 60000);
    db_stats_t st;
    db_pool_stats(pool, &st);
    bool closed = false;
    db_pool_close(pool, on_closed_flag, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(closed && uv_loop_close(&loop) == 0, "closed cleanly");
    if (fatal.calls) {
        fprintf(stderr, "FATAL: %s\n", fatal.msg);
        return 2;
    }
    CHECK(ok, "ready within 60 s");
    printf("MIGRATED schema_version=%d\n", st.schema_version);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--recover") == 0)
        return recover_mode();
    if (argc == 3 && strcmp(argv[1], "--migrate") == 0)
        return migrate_mode(argv[2]);
    const struct CMUnitTest offline[] = {
        cmocka_unit_test_setup_teardown(test_migration_files, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_at_once, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_down_fail_fast, fx_setup, fx_teardown),
    };
    if (argc == 2 && strcmp(argv[1], "--offline") == 0)
        return cmocka_run_group_tests(offline, NULL, NULL);
    if (argc != 1) {
        fprintf(stderr, "usage: test_db [--offline | --recover | --migrate DIR]\n");
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migration_files, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_bad_config, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_at_once, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_binary_params, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_down_fail_fast, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fifo, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_failing_query, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_migrations_once, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_migration_fails, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_schema_newer, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_busy, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_close_early, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reentrant, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_localhost, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_hosts, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_socket_change, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_notify_hook, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
