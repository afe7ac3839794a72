/* A node's life: start-up order (TLS context, database pool, listener,
 * signals), certificate reload on SIGHUP, and the graceful shutdown on
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish within
 * shutdown_timeout, close the pool, and return. */
#include "node.h"
#include "api.h"
#include "conn.h"
#include "dir_index_load.h"
#include "feed.h"
#include "listener.h"
#include "log.h"
#include "peer_client.h"
#include "sync_pull.h"
#include "tls.h"
#include "tls_expiry.h"
#include "tr_error.h"
#include "tr_pii.h"

#include <errno.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned ident_bucket(const char *key)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 16777619u;
    return h % 256;
}

node_ident_t *node_ident_acquire(node_t *node, const char *key)
{
    node_ident_t **slot = &node->idents[ident_bucket(key)];
    for (node_ident_t *c = *slot; c; c = c->next) {
        if (strcmp(c->key, key) == 0) {
            c->conns++;
            return c;
        }
    }
    size_t klen = strlen(key) + 1;
    node_ident_t *c = malloc(sizeof(*c) + klen);
    if (!c)
        abort();
    memcpy(c->key, key, klen);
    c->conns = 1;
    c->queued = 0;
    c->next = *slot;
    *slot = c;
    return c;
}

void node_ident_release(node_t *node, node_ident_t *ident)
{
    if (--ident->conns > 0)
        return;
    for (node_ident_t **p = &node->idents[ident_bucket(ident->key)]; *p; p = &(*p)->next) {
        if (*p == ident) {
            *p = ident->next;
            free(ident);
            return;
        }
    }
}

static void keep_own_cert(node_t *node);

/* ---- what is about to lapse ---- */

/* A CRL past its nextUpdate stops every handshake of its organisation, and
 * refresh-crls is a monthly chore: say so well before, once an hour, from
 * [tls] expiry_warning ahead (and at start and after every reload). */
static void check_expiry(node_t *node)
{
    tls_expiry_t items[TLS_EXPIRY_MAX];
    size_t n = tls_expiry_list(node->ssl_ctx, items, TLS_EXPIRY_MAX);
    time_t now = time(NULL);
    for (size_t i = 0; i < n; i++) {
        long long left = (long long)(items[i].at - now);
        if (left > (long long)(node->cfg.expiry_warning_ms / 1000))
            continue;
        bool crl = strcmp(items[i].what, "crl") == 0;
        log_event(left <= 0 ? LOG_ERROR : LOG_WARN, left <= 0 ? "tls_expired" : "tls_expiry_near",
                  json_pack("{s:s, s:s, s:I, s:s}", "what", items[i].what, "name", items[i].name,
                            "seconds_left", (json_int_t)left, "action",
                            crl ? "run trellis pki refresh-crls, copy crl.pem to every node and "
                                  "reload them (SIGHUP)"
                                : "renew the certificate with trellis pki and reload (SIGHUP)"));
    }
}

static void on_expiry_check(uv_timer_t *t)
{
    check_expiry(t->data);
}

/* ---- certificate reload (SIGHUP) ---- */

typedef struct {
    uv_work_t work;
    node_t *node;
    SSL_CTX *ctx;
    SSL_CTX *public_ctx;
    SSL_CTX *client_ctx;
    int rc;
    char err[512];
} reload_t;

/* On the thread pool: building a context reads files. */
static void reload_work(uv_work_t *w)
{
    reload_t *r = w->data;
    r->rc = tls_ctx_build(&r->node->cfg, &r->ctx, r->err, sizeof(r->err));
    const config_t *cfg = &r->node->cfg;
    if (r->rc == 0 && peer_tls_client_ctx(cfg->tls_cert, cfg->tls_key, cfg->tls_ca, cfg->tls_crl,
                                          &r->client_ctx, r->err, sizeof(r->err)) != 0) {
        SSL_CTX_free(r->ctx);
        r->ctx = NULL;
        r->rc = TR_E_CERT;
    }
    if (r->rc == 0 && r->node->public_ctx) {
        r->rc = tls_ctx_build_public(&r->node->cfg, &r->public_ctx, r->err, sizeof(r->err));
        if (r->rc != 0) {
            SSL_CTX_free(r->ctx);
            SSL_CTX_free(r->client_ctx);
            r->ctx = r->client_ctx = NULL;
        }
    }
}

static void reload_done(uv_work_t *w, int status)
{
    reload_t *r = w->data;
    node_t *node = r->node;
    node->reloading = false;
    if (status == 0 && r->rc == 0) {
        /* Open connections keep the context they started with (SSL holds a reference). */
        SSL_CTX_free(node->ssl_ctx);
        node->ssl_ctx = r->ctx;
        tls_ctx_fingerprint(node->ssl_ctx, node->signer_fp); /* a renewed certificate signs */
        keep_own_cert(node);
        sync_reload(node, r->client_ctx);
        if (r->public_ctx) {
            SSL_CTX_free(node->public_ctx);
            node->public_ctx = r->public_ctx;
        }
        /* A new CRL must reach the connections already open too: a
         * keep-alive (a long-poll every 50 s) would otherwise outlive the
         * revocation by days. */
        X509_STORE *store = SSL_CTX_get_cert_store(node->ssl_ctx);
        json_int_t cut = 0;
        for (conn_t *c = node->conns, *next; c; c = next) {
            next = c->next;
            if (!c->is_public && tls_conn_revoked(&c->tls, store)) {
                log_event(LOG_WARN, "conn_revoked",
                          json_pack("{s:I, s:s}", "conn", (json_int_t)c->id, "identity",
                                    c->ident ? c->ident->key : "?"));
                conn_close(c, false, "certificate revoked");
                cut++;
            }
        }
        log_event(LOG_INFO, "tls_reloaded", json_pack("{s:I}", "revoked_connections_closed", cut));
        check_expiry(node);
    } else {
        log_event(LOG_ERROR, "tls_reload_failed",
                  json_pack("{s:s, s:s}", "error", status ? uv_strerror(status) : r->err, "action",
                            "kept the previous certificates"));
    }
    free(r);
}

static void reload_tls(node_t *node)
{
    if (node->reloading || node->draining)
        return;
    reload_t *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->node = node;
    r->work.data = r;
    node->reloading = true;
    if (uv_queue_work(node->loop, &r->work, reload_work, reload_done) != 0) {
        node->reloading = false;
        free(r);
    }
}

/* ---- our certificate, for peers checking what we signed ---- */

static void on_cert_retry(uv_timer_t *t)
{
    keep_own_cert(t->data);
}

static void on_cert_stored(void *ud, const PGresult *res, const char *err)
{
    node_t *node = ud;
    if ((!res || PQresultStatus(res) != PGRES_COMMAND_OK) && !node->draining)
        uv_timer_start(&node->cert_timer, on_cert_retry, 1000, 0); /* database not there yet */
}

/* Keep the certificate we sign with in signer_certs, where GET /v1/fed/certs
 * finds it (old ones stay: records they signed remain verifiable). */
static void keep_own_cert(node_t *node)
{
    free(node->own_cert_pem);
    node->own_cert_pem = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    X509 *own = SSL_CTX_get0_certificate(node->ssl_ctx);
    char *pem = NULL;
    long len = 0;
    /* The chain too (the organisation CA): a verifier needs it to reach the root. */
    STACK_OF(X509) *chain = NULL;
    SSL_CTX_get0_chain_certs(node->ssl_ctx, &chain);
    bool ok = bio && own && PEM_write_bio_X509(bio, own) == 1;
    for (int i = 0; ok && i < sk_X509_num(chain); i++)
        ok = PEM_write_bio_X509(bio, sk_X509_value(chain, i)) == 1;
    if (ok)
        len = BIO_get_mem_data(bio, &pem);
    if (len > 0) {
        node->own_cert_pem = strndup(pem, (size_t)len);
        const char *params[3] = {node->signer_fp, node->org, node->own_cert_pem};
        if (db_query(node->db,
                     "INSERT INTO signer_certs (fingerprint, org, pem) VALUES ($1, $2, $3) "
                     "ON CONFLICT (fingerprint) DO NOTHING",
                     3, params, on_cert_stored, node, NULL) != 0)
            uv_timer_start(&node->cert_timer, on_cert_retry, 1000, 0);
    }
    BIO_free(bio);
}

/* ---- telling the supervisor (workers.c) ---- */

/* The supervisor starts the other workers only once the first takes writes:
 * the restore check (sync_recover.c) then runs once, in it, and no other
 * process takes a write while it may still pull back lost records. Checked
 * on a timer: the recovery state is worked out lazily when asked. */
static void on_ready_check(uv_timer_t *t)
{
    node_t *node = t->data;
    char why[300];
    if (node->cfg.ready_fd <= 0 || node->draining || !sync_taking_writes(node, why, sizeof(why)))
        return;
    ssize_t n;
    do
        n = write(node->cfg.ready_fd, "R", 1);
    while (n < 0 && errno == EINTR);
    close(node->cfg.ready_fd); /* a supervisor gone meanwhile: nothing to tell */
    node->cfg.ready_fd = -1;
    uv_timer_stop(t);
}

/* ---- shutdown ---- */

static void on_closed_nothing(uv_handle_t *h)
{
}

static void on_db_closed(void *ud)
{
    node_t *node = ud;
    node->db = NULL;
    uv_close((uv_handle_t *)&node->sig_term, on_closed_nothing);
    uv_close((uv_handle_t *)&node->sig_int, on_closed_nothing);
    uv_close((uv_handle_t *)&node->sig_hup, on_closed_nothing);
    uv_close((uv_handle_t *)&node->drain_timer, on_closed_nothing);
    uv_close((uv_handle_t *)&node->cert_timer, on_closed_nothing);
    uv_close((uv_handle_t *)&node->expiry_timer, on_closed_nothing);
    uv_close((uv_handle_t *)&node->listen_timer, on_closed_nothing);
    uv_close((uv_handle_t *)&node->ready_timer, on_closed_nothing);
}

static void finish_shutdown(node_t *node)
{
    uv_timer_stop(&node->drain_timer);
    uv_timer_stop(&node->cert_timer);
    uv_timer_stop(&node->expiry_timer);
    uv_timer_stop(&node->listen_timer);
    uv_timer_stop(&node->ready_timer);
    log_event(LOG_INFO, "stopping", json_pack("{s:s}", "step", "closing database pool"));
    if (node->db)
        db_pool_close(node->db, on_db_closed, node);
}

static void on_drain_timeout(uv_timer_t *t)
{
    node_t *node = t->data;
    log_event(LOG_WARN, "shutdown_timeout",
              json_pack("{s:I}", "connections_cut", (json_int_t)node->n_conns));
    for (conn_t *c = node->conns; c; c = c->next)
        conn_close(c, false, "shutdown timeout");
}

void node_shutdown(node_t *node, int exit_code)
{
    if (node->draining)
        return;
    node->draining = true;
    node->exit_code = exit_code;
    log_event(
        LOG_INFO, "stopping",
        json_pack("{s:s, s:I}", "step", "draining", "connections", (json_int_t)node->n_conns));
    listener_stop(node);
    sync_stop(node);
    feed_shutdown(node);
    for (conn_t *c = node->conns, *next; c; c = next) {
        next = c->next; /* conn_close never frees synchronously, but stay safe */
        conn_drain(c);
    }
    if (node->n_conns == 0)
        finish_shutdown(node);
    else
        uv_timer_start(&node->drain_timer, on_drain_timeout, node->cfg.shutdown_timeout_ms, 0);
}

void node_conn_gone(node_t *node)
{
    node->n_conns--;
    if (node->draining && node->n_conns == 0)
        finish_shutdown(node);
}

static void on_signal(uv_signal_t *s, int signum)
{
    node_t *node = s->data;
    if (signum == SIGHUP) {
        log_event(LOG_INFO, "signal", json_pack("{s:s}", "signal", "SIGHUP"));
        reload_tls(node);
        return;
    }
    log_event(LOG_INFO, "signal",
              json_pack("{s:s}", "signal", signum == SIGTERM ? "SIGTERM" : "SIGINT"));
    node_shutdown(node, 0);
}

/* ---- commits of other processes on the same database ---- */

static void on_notify(void *ud, const char *channel, const char *payload)
{
    feed_wake(ud, feed_kinds_of_payload(payload));
}

static void on_listening(void *ud, const PGresult *res, const char *err)
{
    node_t *node = ud;
    node->listening_db = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    /* A long-poll parked before the LISTEN was up (a worker just started,
     * the pool reconnected) missed what other processes committed meanwhile:
     * look again now rather than at the end of its wait. */
    if (node->listening_db && !node->draining) {
        feed_wake(node, FEED_KINDS_ALL);
        dir_index_start(node); /* in the background; nothing if begun already */
    }
}

/* LISTEN lives on one pooled connection and dies with it: issue it again
 * whenever the pool has reconnected since. Several connections listening at
 * once only wake the long-polls twice. */
static void on_listen_check(uv_timer_t *t)
{
    node_t *node = t->data;
    db_stats_t st;
    db_pool_stats(node->db, &st);
    if (node->draining || (node->listening_db && st.reconnects == node->listen_reconnects) ||
        !st.migrations_done)
        return;
    node->listen_reconnects = st.reconnects;
    node->listening_db = false;
    db_query(node->db, "LISTEN trellis_changes", 0, NULL, on_listening, node, NULL);
}

static void on_db_fatal(void *ud, const char *msg)
{
    node_t *node = ud;
    log_event(LOG_ERROR, "database_fatal", json_pack("{s:s}", "error", msg));
    node_shutdown(node, 1);
}

/* ---- start-up ---- */

int node_init(node_t *node, uv_loop_t *loop, config_t *cfg, const char *config_path, char *err,
              size_t err_len)
{
    memset(node, 0, sizeof(*node));
    node->loop = loop;
    node->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg)); /* moved */
    node->config_path = strdup(config_path);
    node->started_ms = uv_now(loop);

    if (tr_pii_init() != 0) {
        snprintf(err, err_len, "cannot compile the personal-data patterns");
        return TR_E_NOMEM;
    }
    int rc = tls_ctx_build(&node->cfg, &node->ssl_ctx, err, err_len);
    if (rc != 0)
        return rc;
    if (tls_ctx_org(node->ssl_ctx, node->org, sizeof(node->org)) != 0 ||
        tls_ctx_fingerprint(node->ssl_ctx, node->signer_fp) != 0) {
        snprintf(err, err_len, "[tls] cert %s names no Trellis organisation (O=)",
                 node->cfg.tls_cert);
        return TR_E_IDENTITY;
    }

    db_config_t dbc = {
        .conninfo = node->cfg.db_url,
        .size = (unsigned)node->cfg.db_pool_size,
        .max_queue = (unsigned)node->cfg.db_max_queue,
        .migrations_dir = node->cfg.db_migrations,
        .on_fatal = on_db_fatal,
        .on_notify = on_notify,
        .ud = node,
        .err = err,
        .err_len = err_len,
    };
    rc = db_pool_new(loop, &dbc, &node->db);
    if (rc != 0)
        return rc;
    if (node->cfg.public_listen[0]) {
        rc = tls_ctx_build_public(&node->cfg, &node->public_ctx, err, err_len);
        if (rc != 0)
            return rc;
    }
    rc = listener_start(node, err, err_len);
    if (rc != 0)
        return rc;

    uv_timer_init(loop, &node->drain_timer);
    node->drain_timer.data = node;
    uv_timer_init(loop, &node->cert_timer);
    node->cert_timer.data = node;
    keep_own_cert(node);
    uv_timer_init(loop, &node->expiry_timer);
    node->expiry_timer.data = node;
    uv_timer_start(&node->expiry_timer, on_expiry_check, 0, 3600 * 1000);
    uv_timer_init(loop, &node->listen_timer);
    node->listen_timer.data = node;
    uv_timer_start(&node->listen_timer, on_listen_check, 200, 1000);
    rc = sync_start(node, err, err_len);
    if (rc != 0)
        return rc;
    uv_timer_init(loop, &node->ready_timer);
    node->ready_timer.data = node;
    if (node->cfg.ready_fd > 0)
        uv_timer_start(&node->ready_timer, on_ready_check, 0, 100);
    uv_signal_t *sigs[] = {&node->sig_term, &node->sig_int, &node->sig_hup};
    int nums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(loop, sigs[i]);
        sigs[i]->data = node;
        uv_signal_start(sigs[i], on_signal, nums[i]);
    }
    log_event(LOG_INFO, "listening",
              json_pack("{s:s, s:s, s:s, s:s, s:i}", "listen", node->cfg.listen, "public",
                        node->cfg.public_listen, "viewer", node->cfg.viewer_listen, "org",
                        node->org, "pid", (int)uv_os_getpid()));
    return 0;
}

static void note_open_handle(uv_handle_t *h, void *arg)
{
    json_array_append_new(arg, json_pack("{s:s, s:b, s:b}", "type", uv_handle_type_name(h->type),
                                         "active", uv_is_active(h), "closing", uv_is_closing(h)));
}

int node_run(node_t *node)
{
    uv_run(node->loop, UV_RUN_DEFAULT);
    dir_index_stop(node);
    SSL_CTX_free(node->ssl_ctx);
    SSL_CTX_free(node->public_ctx);
    node->ssl_ctx = node->public_ctx = NULL;
    for (int i = 0; i < 256; i++) {
        while (node->idents[i]) {
            node_ident_t *c = node->idents[i];
            node->idents[i] = c->next;
            free(c);
        }
    }
    config_free(&node->cfg);
    free(node->config_path);
    free(node->own_cert_pem);
    tr_pii_shutdown();
    int rc = uv_loop_close(node->loop);
    if (rc != 0) {
        /* A handle left open is a bug: name what is left so it can be found. */
        json_t *left = json_array();
        uv_walk(node->loop, note_open_handle, left);
        log_event(LOG_WARN, "loop_not_closed",
                  json_pack("{s:s, s:o}", "error", uv_strerror(rc), "handles", left));
    }
    log_event(LOG_INFO, "stopped", json_pack("{s:i}", "exit_code", node->exit_code));
    return node->exit_code;
}
