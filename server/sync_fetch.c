/* The request and response side of the pull loop (sync_pull.c runs it):
 * GET /v1/fed/changes and its reply, the batch verified on the thread pool,
 * and the signer certificates a batch names fetched from the peer before it
 * is verified again. What is verified goes to sync__start_apply. */
#include "log.h"
#include "peer_client.h"
#include "sync_int.h"
#include "sync_verify.h"
#include "tr_error.h"
#include "tr_protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A signer's chain (node, organisation CA) is two PEM certificates, about
 * 2 KiB: anything much larger is not parsed on the loop. */
#define MAX_CERT_CHAIN_BYTES (16 * 1024)

/* Refusals logged one line each per batch; the rest are counted in one
 * line, so that a hostile peer cannot flood the journal. */
#define MAX_REFUSALS_LOGGED 20

/* ---- the protocol version ---- */

/* Can this node read the reply? Its Trellis-Protocol header (none: version
 * 1) must be a version this node speaks, and a refusal of ours
 * (problem type protocol-version) is one too. Otherwise nothing of the reply
 * is used, the status says which versions, and the peer is tried again after
 * the usual back-off: it may be upgraded meanwhile. */
static bool protocol_ok(sync_peer_t *p, const peer_response_t *res)
{
    char why[200];
    int v = tr_protocol_parse(res->protocol);
    p->peer_protocol = v;
    if (!tr_protocol_supported(v)) {
        if (v < 0)
            snprintf(why, sizeof(why),
                     "the peer announces an unreadable protocol version; this node speaks "
                     "%d to %d",
                     TR_PROTOCOL_MIN, TR_PROTOCOL_VERSION);
        else
            snprintf(why, sizeof(why), "the peer speaks protocol %d; this node speaks %d to %d", v,
                     TR_PROTOCOL_MIN, TR_PROTOCOL_VERSION);
    } else if (res->status == 400 && strstr(res->content_type, "problem+json") &&
               strstr(res->body, "/problems/protocol-version\"")) {
        snprintf(why, sizeof(why),
                 "the peer (protocol %d) refuses this node's protocol %d: it no longer speaks it",
                 v, TR_PROTOCOL_VERSION);
    } else {
        p->incompatible = false;
        return true;
    }
    sync__fail(p, "incompatible protocol", why);
    p->incompatible = true; /* after the fail: it is not an ordinary back-off */
    return false;
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
    if (sync__settled(p) || p->state != P_CERTS)
        return; /* dropped meanwhile (a back-off): the batch is fetched again */
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
        sync__fail(p, "keeping a signer certificate", res ? "query failed" : err);
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
        sync__fail(p, "fetching a signer certificate", err);
        return;
    }
    if (!protocol_ok(p, res))
        return;
    if (res->status != 200 && res->status != 404) {
        snprintf(why, sizeof(why), "the peer answered %d", res->status);
        sync__fail(p, "fetching a signer certificate", why);
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
            sync__fail(p, "keeping a signer certificate", tr_strerror(rc));
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
        sync__fail(p, "fetching a signer certificate", tr_strerror(rc));
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
    if (sync__settled(p))
        return;
    if (p->state == P_BACKOFF) {
        sync_batch_clear(&p->batch); /* dropped while it was verified */
        return;
    }
    if (p->batch.error[0]) {
        p->protocol_errors++;
        sync__fail(p, "reading the batch", p->batch.error);
        return;
    }
    /* The peer's head as of this reply, shown (lag in records) before the
     * batch is stored: an apply that is slow or stuck is lag, not lag 0. */
    p->head = p->batch.head;
    if (p->batch.recover && p->recover_pass && p->recover_until < 0)
        p->recover_until = p->batch.head;
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
    sync__start_apply(p);
}

static void verify_batch(sync_peer_t *p, bool final_pass)
{
    p->state = P_VERIFY;
    /* A second pass starts again from the same reply. */
    if (p->batch.refused)
        sync_batch_rewind(&p->batch);
    p->batch.final_pass = final_pass;
    p->work.data = p;
    if (uv_queue_work(p->sync->node->loop, &p->work, verify_work, verify_done) != 0) {
        sync__fail(p, "verifying", "cannot queue work");
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
        sync__fail(p, "fetching", err);
        return;
    }
    if (!protocol_ok(p, res))
        return;
    if (res->status != 200) {
        char why[64];
        snprintf(why, sizeof(why), "the peer answered %d", res->status);
        sync__fail(p, "fetching", why);
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
void sync__fetch_changes(sync_peer_t *p, int64_t since, const char *epoch)
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
        sync__fail(p, "fetching", tr_strerror(rc));
    else
        p->client_busy = true;
    p->fetch_ns = uv_hrtime();
    p->fetch_since = since;
}
