/* Asynchronous PostgreSQL pool on the event loop: connections driven by
 * PQconnectPoll and a uv_poll_t per libpq socket, a bounded FIFO of queries,
 * reconnects with back-off, and the migration runner (migrate.c) first. */
#include "db_int.h"
#include "tr_error.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOWN_FAIL_FAST_MS 2000 /* no connection up this long: db_query refuses at once */
#define QUEUE_MAX_AGE_MS 5000  /* a query waits in the queue at most this long */
#define SWEEP_INTERVAL_MS 250
#define MAX_PARAMS 65535 /* the protocol's limit */

static void start_migrations(db_pool_t *pool);

/* The one out-of-memory exit of the pool: every allocation, and libpq's
 * NULL for "out of memory", go through here. */
void *db__must(void *p)
{
    if (!p)
        abort();
    return p;
}

void *db__xcalloc(size_t n, size_t size)
{
    return db__must(calloc(n ? n : 1, size ? size : 1));
}

static void set_err(const db_config_t *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_err(const db_config_t *cfg, const char *fmt, ...)
{
    if (!cfg->err || !cfg->err_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cfg->err, cfg->err_len, fmt, ap);
    va_end(ap);
}

/* ---- queries and the queue ---- */

static db_query_t *query_new(db_pool_t *pool, const char *sql, int nparams,
                             const char *const *values, const int *lengths, const int *formats,
                             db_result_cb cb, void *ud)
{
    size_t n = nparams > 0 ? (size_t)nparams : 0;
    size_t size = sizeof(db_query_t) + n * (sizeof(char *) + 2 * sizeof(int)) + strlen(sql) + 1;
    for (size_t i = 0; i < n; i++)
        if (values[i])
            size += formats && formats[i] ? (size_t)lengths[i] : strlen(values[i]) + 1;
    db_query_t *q = db__xcalloc(1, size);
    q->pool = pool;
    q->cb = cb;
    q->ud = ud;
    q->nparams = nparams;
    q->queued_ms = uv_now(pool->loop);
    q->values = (char **)(q + 1);
    q->lengths = (int *)(q->values + n);
    q->formats = q->lengths + n;
    char *p = (char *)(q->formats + n);
    for (size_t i = 0; i < n; i++) {
        if (!values[i])
            continue; /* SQL NULL */
        bool binary = formats && formats[i];
        size_t len = binary ? (size_t)lengths[i] : strlen(values[i]) + 1;
        q->values[i] = memcpy(p, values[i], len);
        q->lengths[i] = binary ? lengths[i] : 0;
        q->formats[i] = binary;
        p += len;
    }
    q->sql = strcpy(p, sql);
    return q;
}

static void queue_unlink(db_pool_t *pool, db_query_t *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        pool->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        pool->tail = q->prev;
    q->prev = q->next = NULL;
    pool->queued--;
}

/* Take a query out of the queue and answer it without a result. The callback
 * runs last: it may queue, cancel or close. */
static void fail_queued(db_pool_t *pool, db_query_t *q, const char *err)
{
    queue_unlink(pool, q);
    pool->errors++;
    if (q->cb)
        q->cb(q->ud, NULL, err);
    free(q);
}

static void on_sweep(uv_timer_t *timer)
{
    db_pool_t *pool = timer->data;
    uint64_t now = uv_now(pool->loop);
    while (!pool->closing && pool->head && now - pool->head->queued_ms >= QUEUE_MAX_AGE_MS)
        fail_queued(pool, pool->head, "database unavailable");
    if (!pool->closing && !pool->head)
        uv_timer_stop(timer);
}

/* ---- the pool ---- */

void db__dispatch(db_pool_t *pool)
{
    if (!pool->migrations_done || pool->closing)
        return;
    for (unsigned i = 0; i < pool->size && pool->head; i++) {
        db_conn_t *c = &pool->conns[i];
        if (c->state != CONN_UP || c->running)
            continue;
        db_query_t *q = pool->head;
        queue_unlink(pool, q);
        db__conn_send(c, q);
    }
}

static void on_migrations_done(void *ud, int rc, const char *msg)
{
    db_pool_t *pool = ud;
    pool->migrating = false;
    if (pool->closing)
        return;
    if (rc == 0) {
        pool->migrations_done = true;
        db__dispatch(pool);
        return;
    }
    if (rc == TR_E_DB_UNAVAILABLE) {
        start_migrations(pool); /* on another connection, or the next that comes up */
        return;
    }
    pool->fatal = true;
    while (!pool->closing && pool->head)
        fail_queued(pool, pool->head, "database schema not usable");
    if (!pool->closing && pool->on_fatal)
        pool->on_fatal(pool->ud, msg);
}

static void start_migrations(db_pool_t *pool)
{
    if (pool->migrations_done || pool->migrating || pool->fatal || pool->closing)
        return;
    for (unsigned i = 0; i < pool->size; i++) {
        db_conn_t *c = &pool->conns[i];
        if (c->state == CONN_UP && !c->running) {
            pool->migrating = true;
            migration_run_start(&pool->run, c, &pool->migrations, on_migrations_done, pool);
            return;
        }
    }
}

void db__conn_ready(db_pool_t *pool)
{
    start_migrations(pool);
    db__dispatch(pool);
}

int db_conn_send(db_conn_t *c, const char *sql, int nparams, const char *const *values,
                 db_result_cb cb, void *ud)
{
    if (c->state != CONN_UP || c->running || c->pool->closing)
        return TR_E_DB_UNAVAILABLE;
    db__conn_send(c, query_new(c->pool, sql, nparams, values, NULL, NULL, cb, ud));
    return 0;
}

static bool is_numeric_host(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Splits list at commas into up to max items (list is modified); returns the count, or
 * max + 1 when there are more. */
static unsigned split_list(char *list, const char **items, unsigned max)
{
    unsigned n = 0;
    for (char *s = list;; s++) {
        if (n == max)
            return max + 1;
        items[n++] = s;
        s = strchr(s, ',');
        if (!s)
            return n;
        *s = '\0';
    }
}

/* host=a,b,c (with hostaddr and port as lists or not) into pool->hosts, and which are names
 * to resolve. libpq would resolve a name with a blocking getaddrinfo inside PQconnectPoll: every
 * name is looked up on the thread pool instead (db_conn.c), the usual high-availability form
 * of several hosts included. Shapes libpq itself refuses (lists of different lengths) are left
 * for it to report at connect. Returns 0, or TR_E_INVAL for more than MAX_HOSTS hosts. */
static int plan_hosts(db_pool_t *pool)
{
    const char *host = pool->host ? pool->host : "";
    const char *hostaddr = pool->hostaddr ? pool->hostaddr : "";
    const char *port = pool->port ? pool->port : "";
    if (!*host)
        return 0; /* hostaddr alone, or libpq's default socket: nothing to resolve */
    size_t lh = strlen(host) + 1, la = strlen(hostaddr) + 1, lp = strlen(port) + 1;
    pool->hosts_buf = db__must(malloc(lh + la + lp));
    char *h = memcpy(pool->hosts_buf, host, lh);
    char *a = memcpy(h + lh, hostaddr, la);
    char *p = memcpy(a + la, port, lp);
    const char *hs[MAX_HOSTS], *as[MAX_HOSTS + 1], *ps[MAX_HOSTS + 1];
    unsigned nh = split_list(h, hs, MAX_HOSTS);
    if (nh > MAX_HOSTS)
        return TR_E_INVAL;
    unsigned na = *a ? split_list(a, as, MAX_HOSTS) : 0;
    unsigned np = *p ? split_list(p, ps, MAX_HOSTS) : 0;
    if ((na && na != nh) || (np > 1 && np != nh))
        return 0;
    pool->n_hosts = nh;
    pool->ports_per_host = np > 1;
    for (unsigned i = 0; i < nh; i++) {
        db_host_t *e = &pool->hosts[i];
        e->host = hs[i];
        e->hostaddr = na ? as[i] : "";
        e->port = np > 1 ? ps[i] : "";
        e->dns = !*e->hostaddr && *e->host && e->host[0] != '/' && e->host[0] != '@' &&
                 !is_numeric_host(e->host);
        pool->resolve |= e->dns;
    }
    return 0;
}

/* Keep the parsed connection string; host, hostaddr and port are set per attempt. */
static int parse_conninfo(db_pool_t *pool, const char *conninfo)
{
    char *msg = NULL;
    pool->opts = PQconninfoParse(conninfo, &msg);
    if (!pool->opts) {
        PQfreemem(msg); /* it may quote the string, password and all */
        return TR_E_INVAL;
    }
    size_t n = 0;
    for (PQconninfoOption *o = pool->opts; o->keyword; o++)
        n++;
    pool->kw = db__xcalloc(n + 4, sizeof *pool->kw);
    pool->val = db__xcalloc(n + 4, sizeof *pool->val);
    for (PQconninfoOption *o = pool->opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "host") == 0) {
            pool->host = o->val;
        } else if (strcmp(o->keyword, "hostaddr") == 0) {
            pool->hostaddr = o->val;
        } else if (strcmp(o->keyword, "port") == 0) {
            pool->port = o->val;
        } else {
            pool->kw[pool->nkw] = o->keyword;
            pool->val[pool->nkw++] = o->val;
        }
    }
    return plan_hosts(pool);
}

static void pool_free(db_pool_t *pool)
{
    for (unsigned i = 0; pool->conns && i < pool->size; i++) {
        free(pool->conns[i].hosts);
        free(pool->conns[i].addrs);
        free(pool->conns[i].ports);
    }
    free(pool->hosts_buf);
    free(pool->conns);
    free(pool->kw);
    free(pool->val);
    PQconninfoFree(pool->opts);
    migration_set_free(&pool->migrations);
    free(pool);
}

int db_pool_new(uv_loop_t *loop, const db_config_t *cfg, db_pool_t **out)
{
    char err[512] = "";
    int rc = TR_E_INVAL;
    if (!loop || !cfg || !out)
        return TR_E_INVAL;
    db_pool_t *pool = db__xcalloc(1, sizeof *pool);

    if (!cfg->conninfo || cfg->size < 1 || cfg->max_queue < 1) {
        set_err(cfg, "database pool: conninfo, size >= 1 and max_queue >= 1 are required");
        goto fail;
    }
    rc = migration_set_load(cfg->migrations_dir, &pool->migrations, err, sizeof err);
    if (rc < 0) {
        set_err(cfg, "%s", err);
        goto fail;
    }
    rc = parse_conninfo(pool, cfg->conninfo);
    if (rc < 0) {
        set_err(cfg, "invalid database connection string");
        goto fail;
    }
    pool->loop = loop;
    pool->on_fatal = cfg->on_fatal;
    pool->on_notify = cfg->on_notify;
    pool->ud = cfg->ud;
    pool->max_queue = cfg->max_queue;
    pool->size = cfg->size;
    pool->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)pool;
    pool->rng |= 1; /* xorshift must not start at 0 */
    migration_run_init(&pool->run);
    uv_update_time(loop);
    pool->down_since = uv_now(loop);
    uv_timer_init(loop, &pool->sweep);
    pool->sweep.data = pool;
    pool->conns = db__xcalloc(pool->size, sizeof *pool->conns);
    for (unsigned i = 0; i < pool->size; i++)
        db__conn_init(pool, &pool->conns[i]);
    *out = pool;
    return 0;
fail:
    pool_free(pool);
    return rc;
}

int db_query(db_pool_t *pool, const char *sql, int nparams, const char *const *values,
             db_result_cb cb, void *ud, db_query_t **handle)
{
    return db_query_params(pool, sql, nparams, values, NULL, NULL, cb, ud, handle);
}

int db_query_params(db_pool_t *pool, const char *sql, int nparams, const char *const *values,
                    const int *lengths, const int *formats, db_result_cb cb, void *ud,
                    db_query_t **handle)
{
    if (!pool || !sql || !cb || nparams < 0 || nparams > MAX_PARAMS || (nparams && !values) ||
        (formats && !lengths))
        return TR_E_INVAL;
    for (int i = 0; formats && i < nparams; i++)
        if (formats[i] && values[i] && lengths[i] < 0)
            return TR_E_INVAL;
    if (pool->fatal)
        return TR_E_SCHEMA;
    if (pool->closing || pool->queued >= pool->max_queue)
        return TR_E_DB_UNAVAILABLE;
    /* Down for a while: answer now (503) rather than queue what would time out. */
    if (db__count_up(pool) == 0 && uv_now(pool->loop) - pool->down_since > DOWN_FAIL_FAST_MS)
        return TR_E_DB_UNAVAILABLE;

    db_query_t *q = query_new(pool, sql, nparams, values, lengths, formats, cb, ud);
    q->prev = pool->tail;
    if (pool->tail)
        pool->tail->next = q;
    else
        pool->head = q;
    pool->tail = q;
    pool->queued++;
    if (!uv_is_active((uv_handle_t *)&pool->sweep))
        uv_timer_start(&pool->sweep, on_sweep, SWEEP_INTERVAL_MS, SWEEP_INTERVAL_MS);
    if (handle)
        *handle = q;
    db__dispatch(pool);
    return 0;
}

void db_query_cancel(db_query_t *q)
{
    if (!q)
        return;
    if (q->running) {
        q->cb = NULL; /* the result is discarded when it arrives */
        return;
    }
    queue_unlink(q->pool, q);
    free(q);
}

bool db_pool_ready(const db_pool_t *pool)
{
    return pool->migrations_done && !pool->fatal && !pool->closing && db__count_up(pool) > 0;
}

void db_pool_stats(const db_pool_t *pool, db_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->size = pool->size;
    for (unsigned i = 0; i < pool->size; i++) {
        out->connected += pool->conns[i].state == CONN_UP;
        out->busy += pool->conns[i].running != NULL;
    }
    out->queued = pool->queued;
    out->queries = pool->queries;
    out->errors = pool->errors;
    out->reconnects = pool->reconnects;
    out->schema_version = pool->run.db_version;
    out->migrations_done = pool->migrations_done;
}

/* Every close callback and request of the pool ends here; once the pool is
 * closing, the last one frees it. */
void db__pending_done(db_pool_t *pool)
{
    if (--pool->pending > 0 || !pool->closing)
        return;
    void (*on_closed)(void *) = pool->on_closed;
    void *ud = pool->closed_ud;
    pool_free(pool);
    if (on_closed)
        on_closed(ud);
}

static void on_sweep_closed(uv_handle_t *handle)
{
    db__pending_done(handle->data);
}

void db_pool_close(db_pool_t *pool, void (*on_closed)(void *ud), void *ud)
{
    if (pool->closing)
        return;
    pool->closing = true;
    pool->on_closed = on_closed;
    pool->closed_ud = ud;
    while (pool->head)
        fail_queued(pool, pool->head, "shutting down");
    for (unsigned i = 0; i < pool->size; i++) {
        db_query_t *q = db__conn_close(&pool->conns[i]);
        if (q && q->cb)
            q->cb(q->ud, NULL, "shutting down");
        free(q);
    }
    pool->pending++;
    uv_close((uv_handle_t *)&pool->sweep, on_sweep_closed);
}
