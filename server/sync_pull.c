/* The pull loop, one per peer:
 *   read cursor -> long-poll GET /v1/fed/changes -> verify (thread pool)
 *   -> [fetch unknown signer certificates, verify again] -> trellis_apply
 *   -> again at once if the peer has more, else long-poll.
 * While a batch is applied, the next one is already fetched and verified
 * (when the peer said it has more): the database, the thread pool and the
 * network work at the same time instead of in turn. At most one batch is
 * applied at a time, and only from the cursor the previous one stored.
 * Any failure is recorded for the status page and retried after a back-off
 * with jitter, starting over from the cursor stored in the database, so a
 * crash or a second process on the same database never loses or repeats a
 * batch (trellis_apply refuses a batch read from a stale cursor). */
#include "sync_pull.h"
#include "feed.h"
#include "sync_int.h"
#include "log.h"
#include "peer_client.h"
#include "sync_verify.h"
#include "tr_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 30000

#define STANDBY_MS 2000

static void pull_next(sync_peer_t *p);
static void read_cursor(sync_peer_t *p);
static int make_client(sync_peer_t *p, char *err, size_t err_len);

/* ---- failures and back-off ---- */

static void on_backoff(uv_timer_t *t)
{
    sync_peer_t *p = t->data;
    /* Work still in flight ends first; it finds the loop backing off. */
    if (p->verifying || p->in_apply) {
        uv_timer_start(&p->timer, on_backoff, 50, 0);
        return;
    }
    read_cursor(p);
}

/* Drop everything not yet applied and start over from the stored cursor
 * after wait_ms. An apply in flight finishes first (on_applied starts the
 * timer); a batch on the thread pool is dropped when it comes back. */
static void restart(sync_peer_t *p, uint64_t wait_ms)
{
    p->state = P_BACKOFF;
    p->ready = false;
    if (p->client_busy) {
        peer_client_cancel(p->client);
        p->client_busy = false;
    }
    json_decref(p->certs_todo);
    p->certs_todo = NULL;
    if (p->cert_dbq) {
        db_query_cancel(p->cert_dbq); /* its callback will not come */
        p->cert_dbq = NULL;
        p->busy--;
    }
    if (!p->verifying)
        sync_batch_clear(&p->batch);
    p->cursor = -1;
    p->backoff_wait_ms = wait_ms;
    if (!p->stopping && !p->in_apply)
        uv_timer_start(&p->timer, on_backoff, wait_ms, 0);
}

void sync__fail(sync_peer_t *p, const char *what, const char *why)
{
    recover_on_failure(p);
    p->incompatible = false; /* the caller sets it again when that is the failure */
    p->last_error_at = time(NULL);
    p->caught_up = false;
    snprintf(p->last_error, sizeof(p->last_error), "%s: %s", what, why);
    log_event(LOG_WARN, "sync_error",
              json_pack("{s:s, s:s, s:s}", "peer", p->cfg->name, "step", what, "error", why));
    /* Jitter (a wait between half the step and the whole step): peers that
     * failed together do not retry together. */
    uint64_t wait = p->backoff_ms / 2 + (uint64_t)rand() % (p->backoff_ms / 2 + 1);
    p->backoff_ms = p->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->backoff_ms * 2;
    restart(p, wait);
}

static void free_sync(sync_t *s)
{
    SSL_CTX_free(s->client_ctx);
    signer_cache_free(s->cache);
    for (size_t i = 0; i < s->n_peers; i++) {
        sync_batch_clear(&s->peers[i].batch);
        sync_batch_clear(&s->peers[i].applying);
    }
    free(s->peers);
    free(s);
}

/* After sync_stop: frees everything once the last handle is closed and the
 * last piece of work has come back. True if the caller must stop. */
bool sync__settled(sync_peer_t *p)
{
    sync_t *s = p->sync;
    if (!p->stopping)
        return false;
    for (size_t i = 0; i < s->n_peers; i++)
        if (!s->peers[i].timer_closed || s->peers[i].busy)
            return true;
    if (!s->rec.timer_closed)
        return true;
    free_sync(s);
    return true;
}

/* ---- cursor ---- */

static void on_cursor(void *ud, const PGresult *res, const char *err)
{
    sync_peer_t *p = ud;
    p->dbq = NULL;
    p->busy--;
    if (sync__settled(p))
        return;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        sync__fail(p, "reading the cursor", res ? PQresultErrorMessage(res) : err);
        return;
    }
    p->cursor = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    p->shown_cursor = p->cursor;
    snprintf(p->epoch, sizeof(p->epoch), "%s", PQntuples(res) ? PQgetvalue(res, 0, 1) : "");
    pull_next(p);
}

/* ---- the pull lock ---- */

static uint64_t lock_reconnects(const sync_t *s)
{
    db_stats_t st;
    db_pool_stats(s->lock_db, &st);
    return st.reconnects;
}

static void on_standby(uv_timer_t *t)
{
    read_cursor(t->data);
}

static void on_lock(void *ud, const PGresult *res, const char *err)
{
    sync_peer_t *p = ud;
    p->dbq = NULL;
    p->busy--;
    if (sync__settled(p))
        return;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        sync__fail(p, "taking the pull lock", res ? "query failed" : err);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
        /* Another process serving this database pulls from the peer. */
        p->state = P_STANDBY;
        recover_on_standby(p);
        uv_timer_start(&p->timer, on_standby, STANDBY_MS, 0);
        return;
    }
    p->locked = true;
    read_cursor(p);
}

static void take_lock(sync_peer_t *p)
{
    p->state = P_LOCK;
    p->lock_reconnects = lock_reconnects(p->sync);
    const char *params[1] = {p->cfg->name};
    p->busy++;
    int rc = db_query(p->sync->lock_db, "SELECT pg_try_advisory_lock(7310003, hashtext($1))", 1,
                      params, on_lock, p, &p->dbq);
    if (rc != 0) {
        p->busy--;
        sync__fail(p, "taking the pull lock", tr_strerror(rc));
    }
}

/* Still ours? A lock connection that reconnected lost its locks. */
static bool lock_held(sync_peer_t *p)
{
    if (p->locked && lock_reconnects(p->sync) != p->lock_reconnects)
        p->locked = false;
    return p->locked;
}

static void read_cursor(sync_peer_t *p)
{
    if (p->stopping)
        return;
    if (!lock_held(p)) {
        take_lock(p);
        return;
    }
    p->state = P_CURSOR;
    const char *params[1] = {p->cfg->name};
    p->busy++;
    int rc = db_query(p->sync->node->db,
                      "SELECT cursor, coalesce(epoch::text, '') FROM peer_cursors WHERE peer = $1",
                      1, params, on_cursor, p, &p->dbq);
    if (rc != 0) {
        p->busy--;
        sync__fail(p, "reading the cursor", tr_strerror(rc));
    }
}

/* ---- apply ---- */

static void on_applied(void *ud, const PGresult *res, const char *err)
{
    sync_peer_t *p = ud;
    p->dbq = NULL;
    p->busy--;
    p->in_apply = false;
    if (sync__settled(p))
        return;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        sync_batch_clear(&p->applying);
        if (state && strcmp(state, "TR001") == 0) {
            /* Another process applied this batch first: read the cursor again. */
            restart(p, 0);
            return;
        }
        sync__fail(p, "applying", res ? "the batch could not be stored" : err);
        return;
    }
    uint64_t stored = 0, unchanged = 0, now_ns = uv_hrtime();
    unsigned kinds = 0; /* of what was stored (feed_wake) */
    for (int i = 0; i < PQntuples(res); i++) {
        const char *d = PQgetvalue(res, i, 1);
        bool own = !strcmp(PQgetvalue(res, i, 3), "t");
        if (!strcmp(d, "new") || !strcmp(d, "newer")) {
            tr_kind_t k;
            kinds |= tr_kind_parse(PQgetvalue(res, i, 2), &k) == 0 ? 1u << k : FEED_KINDS_ALL;
            stored++;
            if (own)
                p->own_recovered++; /* ours, and we had lost it */
        } else if (!strcmp(d, "same") || !strcmp(d, "older"))
            unchanged++;
        else
            p->refused++; /* another origin's id, or a conflicting body */
    }
    recover_on_batch(p); /* the peer's epoch, and whether its feed went back */
    p->stored += stored;
    p->unchanged += unchanged;
    p->batches++;
    if (log_enabled(LOG_DEBUG)) {
        const sync_batch_t *b = &p->applying;
        log_event(LOG_DEBUG, "sync_batch",
                  json_pack("{s:s, s:I, s:I, s:f, s:f, s:f, s:f}", "peer", p->cfg->name, "records",
                            (json_int_t)b->n_records, "stored", (json_int_t)stored, "fetch_ms",
                            (b->arrived_ns - b->asked_ns) / 1e6, "verify_ms",
                            (b->verified_ns - b->arrived_ns) / 1e6, "wait_ms",
                            (p->apply_start_ns - b->verified_ns) / 1e6, "apply_ms",
                            (now_ns - p->apply_start_ns) / 1e6));
    }
    p->cursor = p->shown_cursor = p->applying.next_cursor;
    p->last_success = time(NULL);
    p->backoff_ms = BACKOFF_MIN_MS;
    p->caught_up = !p->applying.more;
    if (p->caught_up)
        p->caught_up_at = p->last_success;
    bool recovering = p->applying.recover, more = p->applying.more;
    sync_batch_clear(&p->applying);
    if (recovering)
        recover_on_applied(p, more);
    if (stored)
        feed_wake(p->sync->node, kinds); /* relay: our own readers and peers look again */
    if (p->state == P_BACKOFF) {
        /* The next batch failed meanwhile: its back-off waited for this. */
        p->cursor = -1;
        if (!p->stopping)
            uv_timer_start(&p->timer, on_backoff, p->backoff_wait_ms, 0);
        return;
    }
    if (p->ready) {
        p->ready = false;
        sync__start_apply(p);
        return;
    }
    if (!p->client_busy && !p->verifying)
        pull_next(p);
    /* else the next batch is on its way: verify_done applies it */
}

/* Apply batch (verified) from the cursor the last apply stored, and fetch
 * the next one meanwhile if the peer has more. */
void sync__start_apply(sync_peer_t *p)
{
    p->applying = p->batch;
    sync_batch_init(&p->batch, p->applying.cache, p->applying.peer_org, p->applying.own_org);

    p->state = P_APPLY;
    p->apply_start_ns = uv_hrtime();
    char since[24], next[24], back_to[24];
    const sync_batch_t *b = &p->applying;
    snprintf(since, sizeof(since), "%lld", (long long)p->cursor);
    snprintf(next, sizeof(next), "%lld", (long long)b->next_cursor);
    snprintf(back_to, sizeof(back_to), "%lld", (long long)b->reply_since);
    /* With the decision, whether the record is ours: a record of our own
     * stored from a peer is one our database had lost. */
    const char *values[7 + RA_COLUMNS] = {p->cfg->name,
                                          p->cfg->org,
                                          since,
                                          next,
                                          b->epoch[0] ? b->epoch : NULL,
                                          b->went_back ? back_to : NULL};
    int lengths[7 + RA_COLUMNS] = {0}, formats[7 + RA_COLUMNS] = {0};
    record_arrays_params(&p->applying.records, values + 6, lengths + 6, formats + 6);
    values[6 + RA_COLUMNS] = p->sync->node->org;
    int rc = db_query_params(p->sync->node->db,
                             "SELECT t.idx, t.decision, t.kind, o.origin = $14 "
                             "FROM trellis_apply($1, $2, $3::bigint, $4::bigint, $5::uuid, "
                             "$6::bigint, $7, $8, $9, $10, $11, $12, $13) t "
                             "LEFT JOIN unnest($7::int[], $10::text[]) AS o(i, origin) "
                             "ON o.i = t.idx",
                             7 + RA_COLUMNS, values, lengths, formats, on_applied, p, &p->dbq);
    if (rc != 0) {
        sync_batch_clear(&p->applying);
        sync__fail(p, "applying", tr_strerror(rc));
        return;
    }
    p->busy++;
    p->in_apply = true;
    if (p->applying.more)
        sync__fetch_changes(p, p->applying.next_cursor,
                            p->applying.epoch[0] ? p->applying.epoch : p->epoch);
}

/* Nothing in flight: fetch from the stored cursor. */
static void pull_next(sync_peer_t *p)
{
    if (p->stopping)
        return;
    if (!lock_held(p)) {
        read_cursor(p); /* takes the lock again first */
        return;
    }
    sync__fetch_changes(p, p->cursor, p->epoch);
}

/* ---- life ---- */

int sync_start(node_t *node, char *err, size_t err_len)
{
    const config_t *cfg = &node->cfg;
    sync_t *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->node = node;
    s->cache = signer_cache_new();
    db_config_t lc = {
        .conninfo = node->cfg.db_url,
        .size = 1,
        .max_queue = 1000,
        .migrations_dir = node->cfg.db_migrations,
        .ud = node,
        .err = err,
        .err_len = err_len,
    };
    int rc = peer_tls_client_ctx(cfg->tls_cert, cfg->tls_key, cfg->tls_ca, cfg->tls_crl,
                                 &s->client_ctx, err, err_len);
    if (rc == 0 && node->cfg.n_peers)
        rc = db_pool_new(node->loop, &lc, &s->lock_db);
    if (rc != 0) {
        SSL_CTX_free(s->client_ctx);
        signer_cache_free(s->cache);
        free(s);
        return rc;
    }
    node->sync = s;
    uv_timer_init(node->loop, &s->rec.timer);
    s->rec.timer.data = s;
    s->peers = calloc(cfg->n_peers ? cfg->n_peers : 1, sizeof(*s->peers));
    if (!s->peers)
        abort();
    for (size_t i = 0; i < cfg->n_peers; i++) {
        if (!cfg->peers[i].pull)
            continue;
        sync_peer_t *p = &s->peers[s->n_peers++];
        p->sync = s;
        p->cfg = &cfg->peers[i];
        p->cursor = p->shown_cursor = -1;
        p->backoff_ms = BACKOFF_MIN_MS;
        sync_batch_init(&p->batch, s->cache, p->cfg->org, node->org);
        uv_timer_init(node->loop, &p->timer);
        p->timer.data = p;
        char why[200];
        if (make_client(p, why, sizeof(why)) != 0) {
            snprintf(err, err_len, "[peer %s] %s", p->cfg->name, why);
            return TR_E_CONFIG;
        }
    }
    recover_start(s); /* a new epoch first; then sync__begin */
    return 0;
}

void sync__begin(sync_t *s)
{
    for (size_t i = 0; i < s->n_peers; i++)
        read_cursor(&s->peers[i]);
}

static void on_peer_timer_closed(uv_handle_t *h)
{
    sync_peer_t *p = h->data;
    p->timer_closed = true;
    sync__settled(p);
}

static void on_lock_db_closed(void *ud)
{
}

static void on_rec_timer_closed(uv_handle_t *h)
{
    sync_t *s = h->data;
    s->rec.timer_closed = true;
    if (s->n_peers == 0)
        free_sync(s);
    else
        sync__settled(&s->peers[0]);
}

void sync_stop(node_t *node)
{
    sync_t *s = node->sync;
    if (!s || s->stopping)
        return;
    s->stopping = true;
    node->sync = NULL;
    recover_stop(s);
    if (s->n_peers == 0) {
        if (s->lock_db)
            db_pool_close(s->lock_db, on_lock_db_closed, NULL);
        uv_close((uv_handle_t *)&s->rec.timer, on_rec_timer_closed); /* frees s */
        return;
    }
    for (size_t i = 0; i < s->n_peers; i++) {
        sync_peer_t *p = &s->peers[i];
        p->stopping = true;
        uv_timer_stop(&p->timer);
        if (p->dbq) {
            db_query_cancel(p->dbq); /* its callback will not come */
            p->dbq = NULL;
            p->busy--;
        }
        if (p->cert_dbq) {
            db_query_cancel(p->cert_dbq);
            p->cert_dbq = NULL;
            p->busy--;
        }
        if (p->check_dbq) {
            db_query_cancel(p->check_dbq);
            p->check_dbq = NULL;
            p->busy--;
        }
        peer_client_free(p->client);
        p->client = NULL;
        json_decref(p->certs_todo);
        p->certs_todo = NULL;
        uv_close((uv_handle_t *)&p->timer, on_peer_timer_closed);
    }
    /* After the peers' queries are cancelled: closing the lock connection
     * releases the pull locks at once. */
    db_pool_close(s->lock_db, on_lock_db_closed, NULL);
    s->lock_db = NULL;
    uv_close((uv_handle_t *)&s->rec.timer, on_rec_timer_closed);
}

/* A client for the peer, with the current context. */
static int make_client(sync_peer_t *p, char *err, size_t err_len)
{
    peer_client_config_t pc = {
        .url = p->cfg->url,
        .ssl_ctx = p->sync->client_ctx,
        .expect_org = p->cfg->org,
        .connect_timeout_ms = 10000,
        .request_timeout_ms = 30000,
        /* Bounded by what is asked for: BATCH_LIMIT records at 16 KiB each on
         * average (a POST allows 8 MiB for 1,000), not whatever a peer sends. */
        .max_body = BATCH_LIMIT * 16u * 1024,
    };
    return peer_client_new(p->sync->node->loop, &pc, &p->client, err, err_len);
}

void sync_reload(node_t *node, SSL_CTX *client_ctx)
{
    sync_t *s = node->sync;
    if (!s) {
        SSL_CTX_free(client_ctx);
        return;
    }
    SSL_CTX_free(s->client_ctx);
    s->client_ctx = client_ctx;
    /* A new CRL may revoke a signer: check each again when next needed. */
    signer_cache_clear(s->cache);
    /* New connections with the new certificates. A request in flight is
     * dropped with its client, so that peer starts over from its cursor. */
    for (size_t i = 0; i < s->n_peers; i++) {
        sync_peer_t *p = &s->peers[i];
        bool waiting = p->client_busy;
        peer_client_free(p->client);
        p->client = NULL;
        p->client_busy = false;
        char err[200];
        if (make_client(p, err, sizeof(err)) != 0) {
            sync__fail(p, "reconnecting", err);
            continue;
        }
        if (waiting)
            restart(p, 0); /* what was on its way is asked for again */
    }
}
