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

/* Records asked for per pull. Measured on a 300,000-record bootstrap
 * (docs/benchmarks.md): 5,000 gave 19.7k records/s, 2,000 28.4k, 1,000
 * 24.7k. Past a few MB the database spends more on receiving one huge
 * parameter than it saves in round trips; too small, and the round trips and
 * per-batch work show. */
#define BATCH_LIMIT 2000
#define LONG_POLL_S 25
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 30000

#define STANDBY_MS 2000

/* A signer's chain (node, organisation CA) is two PEM certificates, about
 * 2 KiB: anything much larger is not parsed on the loop. */
#define MAX_CERT_CHAIN_BYTES (16 * 1024)

/* Refusals logged one line each per batch; the rest are counted in one
 * line, so that a hostile peer cannot flood the journal. */
#define MAX_REFUSALS_LOGGED 20

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

static void fail(sync_peer_t *p, const char *what, const char *why)
{
    recover_on_failure(p);
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
static bool settled(sync_peer_t *p)
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
    if (settled(p))
        return;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        fail(p, "reading the cursor", res ? PQresultErrorMessage(res) : err);
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
    if (settled(p))
        return;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fail(p, "taking the pull lock", res ? "query failed" : err);
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
        fail(p, "taking the pull lock", tr_strerror(rc));
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
        fail(p, "reading the cursor", tr_strerror(rc));
    }
}

/* ---- apply ---- */

static void start_apply(sync_peer_t *p);
static void fetch_changes(sync_peer_t *p, int64_t since, const char *epoch);

static void on_applied(void *ud, const PGresult *res, const char *err)
{
    sync_peer_t *p = ud;
    p->dbq = NULL;
    p->busy--;
    p->in_apply = false;
    if (settled(p))
        return;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        sync_batch_clear(&p->applying);
        if (state && strcmp(state, "TR001") == 0) {
            /* Another process applied this batch first: read the cursor again. */
            restart(p, 0);
            return;
        }
        fail(p, "applying", res ? "the batch could not be stored" : err);
        return;
    }
    uint64_t stored = 0, unchanged = 0, now_ns = uv_hrtime();
    for (int i = 0; i < PQntuples(res); i++) {
        const char *d = PQgetvalue(res, i, 1);
        bool own = !strcmp(PQgetvalue(res, i, 3), "t");
        if (!strcmp(d, "new") || !strcmp(d, "newer")) {
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
        feed_wake(p->sync->node); /* relay: our own readers and peers look again */
    if (p->state == P_BACKOFF) {
        /* The next batch failed meanwhile: its back-off waited for this. */
        p->cursor = -1;
        if (!p->stopping)
            uv_timer_start(&p->timer, on_backoff, p->backoff_wait_ms, 0);
        return;
    }
    if (p->ready) {
        p->ready = false;
        start_apply(p);
        return;
    }
    if (!p->client_busy && !p->verifying)
        pull_next(p);
    /* else the next batch is on its way: verify_done applies it */
}

/* Apply batch (verified) from the cursor the last apply stored, and fetch
 * the next one meanwhile if the peer has more. */
static void start_apply(sync_peer_t *p)
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
        fail(p, "applying", tr_strerror(rc));
        return;
    }
    p->busy++;
    p->in_apply = true;
    if (p->applying.more)
        fetch_changes(p, p->applying.next_cursor,
                      p->applying.epoch[0] ? p->applying.epoch : p->epoch);
}

/* ---- signer certificates ---- */

static void verify_batch(sync_peer_t *p, bool final_pass);
static void fetch_next_cert(sync_peer_t *p);

static void next_cert(sync_peer_t *p)
{
    json_array_remove(p->certs_todo, 0);
    fetch_next_cert(p);
}

static void on_cert_kept(void *ud, const PGresult *res, const char *err)
{
    sync_peer_t *p = ud;
    p->cert_dbq = NULL;
    p->busy--;
    if (settled(p) || p->state != P_CERTS)
        return; /* dropped meanwhile (a back-off): the batch is fetched again */
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail(p, "keeping a signer certificate", res ? "query failed" : err);
        return;
    }
    next_cert(p);
}

/* A certificate that cannot be fetched now (the peer down, busy, slow) holds
 * the batch: the loop backs off and fetches it again, and nothing is skipped.
 * Only a definite answer refuses the records it signed: the peer does not
 * have it (404), or it does not chain to the consortium root, is revoked or
 * is not a node's. A certificate is kept in the database before the records
 * it signed are stored, so this node can serve it onward when it relays. */
static void on_cert(void *ud, const peer_response_t *res, const char *err)
{
    sync_peer_t *p = ud;
    p->client_busy = false;
    if (p->stopping)
        return;
    const char *fp = json_string_value(json_array_get(p->certs_todo, 0));
    char why[200] = "", org[TR_NAME_MAX + 1] = "";
    if (!res) {
        fail(p, "fetching a signer certificate", err);
        return;
    }
    if (res->status != 200 && res->status != 404) {
        snprintf(why, sizeof(why), "the peer answered %d", res->status);
        fail(p, "fetching a signer certificate", why);
        return;
    }
    if (res->status == 404)
        snprintf(why, sizeof(why), "the peer does not have it");
    else if (res->body_len > MAX_CERT_CHAIN_BYTES)
        snprintf(why, sizeof(why), "the peer's answer is larger than a certificate chain");
    else if (signer_cache_add_pem(p->sync->cache, SSL_CTX_get_cert_store(p->sync->client_ctx),
                                  res->body, res->body_len, fp, org, why, sizeof(why)) == 0) {
        char *pem = strndup(res->body, res->body_len);
        if (!pem)
            abort();
        const char *params[3] = {fp, org, pem};
        int rc = db_query(p->sync->node->db,
                          "INSERT INTO signer_certs (fingerprint, org, pem) VALUES ($1, $2, $3) "
                          "ON CONFLICT (fingerprint) DO NOTHING",
                          3, params, on_cert_kept, p, &p->cert_dbq);
        free(pem);
        if (rc != 0) {
            fail(p, "keeping a signer certificate", tr_strerror(rc));
            return;
        }
        p->busy++;
        return;
    }
    /* The records it signed are refused, and logged, when the batch is
     * verified again. */
    log_event(LOG_WARN, "sync_signer_refused",
              json_pack("{s:s, s:s, s:s}", "peer", p->cfg->name, "signer", fp, "error", why));
    next_cert(p);
}

static void fetch_next_cert(sync_peer_t *p)
{
    if (json_array_size(p->certs_todo) == 0) {
        json_decref(p->certs_todo);
        p->certs_todo = NULL;
        verify_batch(p, true); /* again, with the certificates now known */
        return;
    }
    char path[128];
    snprintf(path, sizeof(path), "/v1/fed/certs/%s",
             json_string_value(json_array_get(p->certs_todo, 0)));
    int rc = peer_client_get(p->client, path, 0, on_cert, p);
    if (rc != 0)
        fail(p, "fetching a signer certificate", tr_strerror(rc));
    else
        p->client_busy = true;
}

/* ---- verify (thread pool) ---- */

static void verify_work(uv_work_t *w)
{
    sync_peer_t *p = w->data;
    if (p->parsing)
        sync_batch_parse(&p->batch);
    else
        sync_batch_verify(&p->batch);
}

static void log_refused(sync_peer_t *p)
{
    size_t i, n = json_array_size(p->batch.refused);
    json_t *r;
    if (n > MAX_REFUSALS_LOGGED)
        log_event(LOG_WARN, "sync_records_refused",
                  json_pack("{s:s, s:I, s:i}", "peer", p->cfg->name, "refused", (json_int_t)n,
                            "logged", MAX_REFUSALS_LOGGED));
    json_array_foreach(p->batch.refused, i, r)
    {
        if (i < MAX_REFUSALS_LOGGED) {
            json_t *f = json_deep_copy(r);
            json_object_set_new(f, "peer", json_string(p->cfg->name));
            log_event(LOG_WARN, "sync_record_refused", f);
        }
        const char *code = json_string_value(json_object_get(r, "code"));
        for (int why = 0; why < SYNC_REFUSED_COUNT_; why++)
            if (strcmp(code, sync_refusal_name((sync_refusal_t)why)) == 0)
                p->sync->refused_by_reason[why]++;
        p->refused++;
    }
}

static void verify_done(uv_work_t *w, int status)
{
    sync_peer_t *p = w->data;
    bool parsed_only = p->parsing;
    p->busy--;
    p->verifying = false;
    p->parsing = false;
    p->batch.verified_ns = uv_hrtime();
    if (settled(p))
        return;
    if (p->state == P_BACKOFF) {
        sync_batch_clear(&p->batch); /* dropped while it was verified */
        return;
    }
    if (p->batch.error[0]) {
        p->protocol_errors++;
        fail(p, "reading the batch", p->batch.error);
        return;
    }
    /* The peer's head as of this reply, shown (lag in records) before the
     * batch is stored: an apply that is slow or stuck is lag, not lag 0. */
    p->head = p->batch.head;
    recover_on_reply(p); /* has the peer seen more of our feed than we hold? */
    if (parsed_only) {
        verify_batch(p, false); /* the check did not wait for the records' verification */
        return;
    }
    if (json_array_size(p->batch.missing)) {
        /* Fetch each unknown signer once, then verify the batch again
         * (distinct through a set: a batch may name thousands). */
        p->state = P_CERTS;
        p->certs_todo = json_array();
        json_t *seen = json_object();
        size_t i;
        json_t *fp;
        json_array_foreach(p->batch.missing, i, fp)
        {
            if (json_object_get(seen, json_string_value(fp)))
                continue;
            json_object_set_new(seen, json_string_value(fp), json_true());
            json_array_append(p->certs_todo, fp);
        }
        json_decref(seen);
        fetch_next_cert(p);
        return;
    }
    log_refused(p);
    if (p->in_apply) {
        p->ready = true; /* on_applied applies it */
        return;
    }
    start_apply(p);
}

static void verify_batch(sync_peer_t *p, bool final_pass)
{
    p->state = P_VERIFY;
    /* A second pass starts again from the same reply. */
    if (p->batch.refused) {
        char *body = p->batch.body;
        size_t len = p->batch.len;
        uint64_t asked = p->batch.asked_ns, arrived = p->batch.arrived_ns;
        int64_t since = p->batch.since;
        int limit = p->batch.limit;
        bool recover = p->batch.recover;
        char epoch_asked[sizeof(p->batch.epoch_asked)];
        memcpy(epoch_asked, p->batch.epoch_asked, sizeof(epoch_asked));
        p->batch.body = NULL;
        sync_batch_clear(&p->batch);
        p->batch.body = body;
        p->batch.len = len;
        p->batch.asked_ns = asked;
        p->batch.arrived_ns = arrived;
        p->batch.since = since;
        p->batch.limit = limit;
        p->batch.recover = recover;
        memcpy(p->batch.epoch_asked, epoch_asked, sizeof(epoch_asked));
    }
    p->batch.final_pass = final_pass;
    p->work.data = p;
    if (uv_queue_work(p->sync->node->loop, &p->work, verify_work, verify_done) != 0) {
        fail(p, "verifying", "cannot queue work");
        return;
    }
    p->busy++;
    p->verifying = true;
}

/* ---- fetch ---- */

static void on_changes(void *ud, const peer_response_t *res, const char *err)
{
    sync_peer_t *p = ud;
    p->client_busy = false;
    if (p->stopping)
        return;
    if (!res) {
        fail(p, "fetching", err);
        return;
    }
    if (res->status != 200) {
        char why[64];
        snprintf(why, sizeof(why), "the peer answered %d", res->status);
        fail(p, "fetching", why);
        return;
    }
    sync_batch_clear(&p->batch);
    p->batch.body = malloc(res->body_len + 1);
    if (!p->batch.body)
        abort();
    memcpy(p->batch.body, res->body, res->body_len);
    p->batch.len = res->body_len;
    p->batch.asked_ns = p->fetch_ns;
    p->batch.arrived_ns = uv_hrtime();
    p->batch.since = p->fetch_since;
    p->batch.limit = BATCH_LIMIT;
    p->batch.recover = p->fetch_recover;
    memcpy(p->batch.epoch_asked, p->fetch_epoch, sizeof(p->fetch_epoch));
    p->parsing = !p->checked;
    verify_batch(p, false);
}

/* epoch: of the peer's feed, the one since is in ("" for none known). Until
 * the first pass after start has caught up, our own records are asked for
 * too (recover=1) and nothing is held: the node waits for the answer before
 * it takes writes (sync_recover.c). */
static void fetch_changes(sync_peer_t *p, int64_t since, const char *epoch)
{
    if (!p->in_apply)
        p->state = P_FETCH;
    char path[192];
    bool first = p->recover_pass || !p->checked;
    snprintf(p->fetch_epoch, sizeof(p->fetch_epoch), "%s", epoch);
    p->fetch_recover = p->recover_pass;
    snprintf(path, sizeof(path), "/v1/fed/changes?since=%lld&limit=%d&wait=%d%s%s%s",
             (long long)since, BATCH_LIMIT, first ? 0 : LONG_POLL_S, epoch[0] ? "&epoch=" : "",
             epoch, p->recover_pass ? "&recover=1" : "");
    /* An answer at once is due while the node waits for it before writes. */
    int rc =
        peer_client_get(p->client, path, first ? 10000 : (LONG_POLL_S + 15) * 1000, on_changes, p);
    if (rc != 0)
        fail(p, "fetching", tr_strerror(rc));
    else
        p->client_busy = true;
    p->fetch_ns = uv_hrtime();
    p->fetch_since = since;
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
    fetch_changes(p, p->cursor, p->epoch);
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
    settled(p);
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
        settled(&s->peers[0]);
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
            fail(p, "reconnecting", err);
            continue;
        }
        if (waiting)
            restart(p, 0); /* what was on its way is asked for again */
    }
}
