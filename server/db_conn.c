/* One pooled libpq connection on the loop: resolving every host off the loop,
 * PQconnectPoll driven by a uv_poll_t on PQsocket, sending a query, reading
 * its results and notifications, and closing and reconnecting with back-off. */
#include "db_int.h"
#include "tr_error.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void on_poll(uv_poll_t *handle, int status, int events);
static void on_conn_timer(uv_timer_t *timer);

unsigned db__count_up(const db_pool_t *pool)
{
    unsigned n = 0;
    for (unsigned i = 0; i < pool->size; i++)
        n += pool->conns[i].state == CONN_UP;
    return n;
}

/* ---- watching libpq's socket ---- */

static void on_watch_closed(uv_handle_t *handle)
{
    watch_t *w = handle->data;
    /* Only now, with the poll handle gone, may libpq close the socket. */
    if (w->finish)
        PQfinish(w->finish);
    db_pool_t *pool = w->pool;
    free(w);
    db__pending_done(pool);
}

static void release_watch(db_conn_t *c, PGconn *finish)
{
    watch_t *w = c->watch;
    c->watch = NULL;
    c->events = 0;
    w->conn = NULL;
    w->finish = finish;
    c->pool->pending++;
    uv_close((uv_handle_t *)&w->poll, on_watch_closed); /* stops polling at once */
}

/* Poll PQsocket for events, replacing the watch when libpq's socket changed. */
static int watch_socket(db_conn_t *c, int events)
{
    struct stat st;
    int fd = PQsocket(c->pg);
    if (fd < 0 || fstat(fd, &st) != 0)
        return -1;
    if (c->watch && (c->fd != fd || c->ino != st.st_ino))
        release_watch(c, NULL); /* libpq has closed that socket already */
    if (!c->watch) {
        watch_t *w = db__xcalloc(1, sizeof *w);
        if (uv_poll_init_socket(c->pool->loop, &w->poll, fd) != 0) {
            free(w); /* uv_poll_init fails before the handle is registered */
            return -1;
        }
        w->poll.data = w;
        w->pool = c->pool;
        w->conn = c;
        c->watch = w;
        c->fd = fd;
        c->ino = st.st_ino;
        c->events = 0;
    }
    if (events != c->events) {
        if (uv_poll_start(&c->watch->poll, events, on_poll) != 0)
            return -1;
        c->events = events;
    }
    return 0;
}

/* ---- connection lifecycle ---- */

static void ignore_notice(void *arg, const PGresult *res)
{
    /* libpq would print notices on stderr; low layers do not log. */
}

static uint64_t next_random(db_pool_t *pool)
{
    pool->rng ^= pool->rng << 13;
    pool->rng ^= pool->rng >> 7;
    pool->rng ^= pool->rng << 17;
    return pool->rng;
}

static void schedule_retry(db_conn_t *c)
{
    /* Jitter of +-25% so that nodes restarted together do not retry together. */
    uint64_t base = c->backoff_ms;
    uint64_t delay = base - base / 4 + next_random(c->pool) % (base / 2 + 1);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    c->state = CONN_DOWN;
    uv_timer_start(&c->timer, on_conn_timer, delay, 0);
}

/* Close the connection and answer its query: the callback runs last. */
static void conn_down(db_conn_t *c)
{
    db_query_t *q = c->running;
    c->running = NULL;
    PQclear(c->result);
    c->result = NULL;
    if (c->watch)
        release_watch(c, c->pg);
    else
        PQfinish(c->pg);
    c->pg = NULL;
    c->flushing = false;
    free(c->hosts);
    free(c->addrs);
    free(c->ports);
    c->hosts = c->addrs = c->ports = NULL;
    schedule_retry(c);
    if (q) {
        /* It may have run: never retried here, the caller decides. */
        c->pool->errors++;
        if (q->cb)
            q->cb(q->ud, NULL, "connection lost");
        free(q);
    }
}

/* A failure found anywhere, maybe inside db_query: stop polling now (libpq
 * may have closed the socket already) and clean up on the next timer tick,
 * so that no callback ever runs inside a caller's call. */
static void conn_fail(db_conn_t *c)
{
    if (c->state != CONN_UP && c->state != CONN_CONNECTING)
        return;
    if (c->state == CONN_UP && db__count_up(c->pool) == 1)
        c->pool->down_since = uv_now(c->pool->loop);
    if (c->watch)
        uv_poll_stop(&c->watch->poll);
    c->events = 0;
    c->state = CONN_BROKEN;
    uv_timer_start(&c->timer, on_conn_timer, 0, 0);
}

static void connect_start(db_conn_t *c)
{
    db_pool_t *pool = c->pool;
    size_t n = pool->nkw;
    const char *host = c->hosts ? c->hosts : pool->host;
    const char *hostaddr = c->addrs ? c->addrs : pool->hostaddr;
    const char *port = c->ports ? c->ports : pool->port;
    if (host) {
        pool->kw[n] = "host";
        pool->val[n++] = host;
    }
    if (hostaddr) {
        pool->kw[n] = "hostaddr";
        pool->val[n++] = hostaddr;
    }
    if (port) {
        pool->kw[n] = "port";
        pool->val[n++] = port;
    }
    pool->kw[n] = pool->val[n] = NULL;

    c->state = CONN_CONNECTING;
    c->pg = db__must(PQconnectStartParams(pool->kw, pool->val, 0)); /* NULL: out of memory */
    if (PQstatus(c->pg) == CONNECTION_BAD)
        goto fail;
    PQsetNoticeReceiver(c->pg, ignore_notice, NULL);
    /* As if PQconnectPoll had answered PGRES_POLLING_WRITING. */
    if (watch_socket(c, UV_WRITABLE) < 0)
        goto fail;
    uv_timer_start(&c->timer, on_conn_timer, CONNECT_TIMEOUT_MS, 0);
    return;
fail:
    conn_down(c);
}

/* Adds item to the comma-separated list *list of *n items (item may be empty). */
static void append(char **list, unsigned *n, const char *item)
{
    size_t old = *list ? strlen(*list) : 0, len = strlen(item);
    char *s = db__must(realloc(*list, old + 1 + len + 1));
    if (*n > 0)
        s[old++] = ',';
    memcpy(s + old, item, len + 1);
    *list = s;
    (*n)++;
}

/* Every lookup is in: libpq gets each entry of the connection string in order, a name that
 * resolved as one entry per address (hostaddr, with the name as host for TLS and .pgpass),
 * the others as they were. Returns how many entries there are. */
static unsigned build_attempt(db_conn_t *c)
{
    db_pool_t *pool = c->pool;
    char addr[INET6_ADDRSTRLEN];
    unsigned nh = 0, na = 0, np = 0;
    for (unsigned i = 0; i < pool->n_hosts; i++) {
        const db_host_t *e = &pool->hosts[i];
        if (!e->dns) {
            append(&c->hosts, &nh, e->host);
            /* A numeric host is its own address: libpq then calls no resolver at all. */
            append(&c->addrs, &na,
                   *e->hostaddr || e->host[0] == '/' || e->host[0] == '@' ? e->hostaddr : e->host);
            if (pool->ports_per_host)
                append(&c->ports, &np, e->port);
            continue;
        }
        unsigned k = 0;
        for (struct addrinfo *ai = c->lookups[i].res; ai && k < MAX_ADDRS; ai = ai->ai_next) {
            if (uv_ip_name(ai->ai_addr, addr, sizeof addr) != 0)
                continue;
            append(&c->hosts, &nh, e->host);
            append(&c->addrs, &na, addr);
            if (pool->ports_per_host)
                append(&c->ports, &np, e->port);
            k++;
        }
    }
    return nh;
}

static void free_lookups(db_conn_t *c)
{
    for (unsigned i = 0; c->lookups && i < c->pool->n_hosts; i++)
        uv_freeaddrinfo(c->lookups[i].res);
    free(c->lookups);
    c->lookups = NULL;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    db_lookup_t *l = req->data;
    db_conn_t *c = l->conn;
    db_pool_t *pool = c->pool;
    l->done = true;
    l->res = status == 0 ? res : NULL;
    if (status != 0)
        uv_freeaddrinfo(res);
    bool last = --c->lookups_left == 0;
    if (pool->closing) {
        if (last)
            free_lookups(c);
        db__pending_done(pool); /* may free the pool */
        return;
    }
    db__pending_done(pool);
    if (!last)
        return;
    unsigned n = build_attempt(c);
    free_lookups(c);
    if (n == 0) {
        schedule_retry(c);
        return;
    }
    connect_start(c);
}

/* One lookup per host name, all at once on the thread pool. */
static void conn_attempt(db_conn_t *c)
{
    db_pool_t *pool = c->pool;
    if (c->attempts++)
        pool->reconnects++;
    if (!pool->resolve) {
        connect_start(c);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->state = CONN_RESOLVING;
    c->lookups = db__xcalloc(pool->n_hosts, sizeof *c->lookups);
    c->lookups_left = 0;
    for (unsigned i = 0; i < pool->n_hosts; i++) {
        db_lookup_t *l = &c->lookups[i];
        l->conn = c;
        l->req.data = l;
        l->done = true;
        if (!pool->hosts[i].dns)
            continue;
        /* The name is a NUL-terminated item of the split list. */
        if (uv_getaddrinfo(pool->loop, &l->req, on_resolved, pool->hosts[i].host, NULL, &hints) !=
            0)
            continue; /* tried as if it had no address */
        l->done = false;
        c->lookups_left++;
        pool->pending++;
    }
    if (c->lookups_left == 0) {
        free_lookups(c);
        schedule_retry(c);
    }
}

static void on_conn_timer(uv_timer_t *timer)
{
    db_conn_t *c = timer->data;
    switch (c->state) {
    case CONN_DOWN:
        conn_attempt(c);
        break;
    case CONN_CONNECTING: /* the deadline passed */
    case CONN_BROKEN:
        conn_down(c);
        break;
    case CONN_RESOLVING:
    case CONN_UP:
        break;
    }
}

static void conn_up(db_conn_t *c)
{
    if (PQsetnonblocking(c->pg, 1) != 0 || watch_socket(c, UV_READABLE) < 0) {
        conn_fail(c);
        return;
    }
    uv_timer_stop(&c->timer);
    c->state = CONN_UP;
    c->backoff_ms = BACKOFF_MIN_MS;
    db__conn_ready(c->pool);
}

static void advance_connect(db_conn_t *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_OK:
        conn_up(c);
        return;
    case PGRES_POLLING_READING:
        if (watch_socket(c, UV_READABLE) < 0)
            break;
        return;
    case PGRES_POLLING_WRITING:
        if (watch_socket(c, UV_WRITABLE) < 0)
            break;
        return;
    default:
        break;
    }
    conn_fail(c);
}

/* ---- running queries ---- */

static int flush_output(db_conn_t *c)
{
    int r = PQflush(c->pg);
    if (r < 0)
        return -1;
    c->flushing = r == 1;
    return watch_socket(c, UV_READABLE | (c->flushing ? UV_WRITABLE : 0));
}

void db__conn_send(db_conn_t *c, db_query_t *q)
{
    int ok;
    c->running = q;
    q->running = true;
    if (q->nparams < 0)
        ok = PQsendQuery(c->pg, q->sql);
    else
        ok = PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, (const char *const *)q->values,
                               q->lengths, q->formats, 0);
    if (!ok || flush_output(c) < 0)
        conn_fail(c); /* the query is answered "connection lost" */
}

static bool is_error(const PGresult *r)
{
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE;
}

/* Keep the first error result, else the last one (a migration file gives one
 * result per statement). */
static void keep_result(db_conn_t *c, PGresult *r)
{
    if (c->result && is_error(c->result)) {
        PQclear(r);
        return;
    }
    PQclear(c->result);
    c->result = r;
}

static void finish_query(db_conn_t *c)
{
    db_pool_t *pool = c->pool;
    db_query_t *q = c->running;
    PGresult *res = c->result;
    c->running = NULL;
    c->result = NULL;
    pool->queries++;
    if (!res || is_error(res))
        pool->errors++;
    if (q->cb)
        q->cb(q->ud, res, res ? NULL : "no result");
    PQclear(res);
    free(q);
    db__dispatch(pool);
}

static void read_results(db_conn_t *c)
{
    db_pool_t *pool = c->pool;
    while (!pool->closing && c->state == CONN_UP && c->running && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            finish_query(c);
            continue;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            PQclear(r); /* COPY is not spoken through the pool */
            conn_fail(c);
            return;
        }
        keep_result(c, r);
    }
}

/* HOOK (LISTEN/NOTIFY): every notification goes to cfg->on_notify. */
static void drain_notifies(db_conn_t *c)
{
    db_pool_t *pool = c->pool;
    PGnotify *n;
    while (!pool->closing && c->state == CONN_UP && (n = PQnotifies(c->pg))) {
        if (pool->on_notify)
            pool->on_notify(pool->ud, n->relname, n->extra);
        PQfreemem(n);
    }
}

static void serve_conn(db_conn_t *c, int status, int events)
{
    if (status < 0)
        goto fail;
    if ((events & UV_READABLE) && !PQconsumeInput(c->pg))
        goto fail;
    if (c->flushing && flush_output(c) < 0)
        goto fail;
    drain_notifies(c);
    read_results(c);
    drain_notifies(c); /* parsing the results may have queued more */
    if (!c->pool->closing && c->state == CONN_UP && PQstatus(c->pg) == CONNECTION_BAD)
        goto fail;
    return;
fail:
    conn_fail(c);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    watch_t *w = handle->data;
    db_conn_t *c = w->conn;
    if (!c)
        return;
    /* libuv reports POLLERR as UV_EBADF and stops the handle: poll again on
     * the next watch_socket. */
    if (status < 0)
        c->events = 0;
    /* While connecting, an error (a refused connect) is libpq's to read from
     * the socket: it may go on to the next address on a new socket. */
    if (c->state == CONN_CONNECTING)
        advance_connect(c);
    else if (c->state == CONN_UP)
        serve_conn(c, status, events);
}

/* ---- set-up and close ---- */

void db__conn_init(db_pool_t *pool, db_conn_t *c)
{
    c->pool = pool;
    c->fd = -1;
    c->backoff_ms = BACKOFF_MIN_MS;
    uv_timer_init(pool->loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, on_conn_timer, 0, 0); /* first attempt once the loop runs */
}

static void on_timer_closed(uv_handle_t *handle)
{
    db_conn_t *c = handle->data;
    db__pending_done(c->pool);
}

db_query_t *db__conn_close(db_conn_t *c)
{
    db_query_t *q = c->running;
    c->running = NULL;
    PQclear(c->result);
    c->result = NULL;
    for (unsigned i = 0; c->state == CONN_RESOLVING && c->lookups && i < c->pool->n_hosts; i++)
        if (!c->lookups[i].done)
            uv_cancel((uv_req_t *)&c->lookups[i].req); /* on_resolved still runs */
    if (c->watch)
        release_watch(c, c->pg);
    else
        PQfinish(c->pg);
    c->pg = NULL;
    c->state = CONN_DOWN;
    c->pool->pending++;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    return q;
}
