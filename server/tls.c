/* TLS context and memory-BIO engine. The context is built whole and only
 * then handed out, so a reload that fails at any step leaves the old one
 * serving (the way Redis's tlsConfigure does it). */
#include "tls.h"
#include "tr_error.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#define MODERN_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define MODERN_GROUPS "X25519:prime256v1:secp384r1"

static int conn_index = -1; /* SSL ex_data slot: the tls_conn_t of an SSL */

static void ssl_error_text(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "unknown error");
    ERR_clear_error();
}

/* Called for each certificate from the root down to the leaf; at depth 0
 * with everything verified, the chain is complete and the identity is read
 * from it. A chain that verifies but carries no Trellis identity fails the
 * handshake right here, with an alert to the client. */
static int on_verify(int ok, X509_STORE_CTX *store)
{
    if (!ok || X509_STORE_CTX_get_error_depth(store) != 0)
        return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    tls_conn_t *t = ssl ? SSL_get_ex_data(ssl, conn_index) : NULL;
    if (!t)
        return 0;
    char why[96];
    if (tr_identity_from_chain(X509_STORE_CTX_get0_chain(store), &t->identity, why, sizeof(why)) !=
        0) {
        /* Kept only on failure: every connection would otherwise carry it. */
        free(t->identity_why);
        t->identity_why = strdup(why);
        X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    return 1;
}

static int fail_build(SSL_CTX *ctx, char *err, size_t err_len, int code, const char *what,
                      const char *path)
{
    char why[200];
    ssl_error_text(why, sizeof(why));
    snprintf(err, err_len, "%s %s: %s", what, path, why);
    SSL_CTX_free(ctx);
    return code;
}

int tls_ctx_new(bool server, const char *cert, const char *key, SSL_CTX **out, char *err,
                size_t err_len)
{
    *out = NULL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx)
        return fail_build(NULL, err, err_len, TR_E_TLS, "cannot create", "TLS context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    if (!SSL_CTX_set_ciphersuites(ctx, MODERN_SUITES) ||
        !SSL_CTX_set1_groups_list(ctx, MODERN_GROUPS))
        return fail_build(ctx, err, err_len, TR_E_TLS, "cannot set", "TLS 1.3 suites");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    /* Long-lived connections: resumption would save little and adds state. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        return fail_build(ctx, err, err_len, TR_E_CERT, "[tls] cert: cannot use", cert);
    bool key_ok = SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1;
    if (!key_ok && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH)
        return fail_build(ctx, err, err_len, TR_E_CERT, "[tls] key: cannot use", key);
    if (!key_ok || SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(err, err_len, "[tls] key %s does not match the certificate in %s", key, cert);
        SSL_CTX_free(ctx);
        return TR_E_CERT;
    }
    *out = ctx;
    return 0;
}

int tls_ctx_trust(SSL_CTX *ctx, const char *ca, const char *crl, int purpose, char *err,
                  size_t err_len)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    if (X509_STORE_load_file(store, ca) != 1)
        return fail_build(NULL, err, err_len, TR_E_CERT, "[tls] ca: cannot load", ca);
    if (crl && crl[0]) {
        X509_LOOKUP *lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
        if (!lookup || X509_load_crl_file(lookup, crl, X509_FILETYPE_PEM) <= 0)
            return fail_build(NULL, err, err_len, TR_E_CERT, "[tls] crl: cannot load", crl);
        /* Every CA of the chain must have a CRL: `trellis pki` always writes one. */
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
    X509_STORE_set_purpose(store, purpose);
    SSL_CTX_set_verify_depth(ctx, 2); /* leaf, organisation CA, consortium root */
    return 0;
}

static int build(const config_t *cfg, bool for_public, SSL_CTX **out, char *err, size_t err_len)
{
    if (conn_index < 0)
        conn_index = SSL_get_ex_new_index(0, "trellis tls_conn", NULL, NULL, NULL);
    SSL_CTX *ctx;
    int rc = tls_ctx_new(true, cfg->tls_cert, cfg->tls_key, &ctx, err, err_len);
    if (rc != 0)
        return rc;
    /* Idle connections give their read/write buffers back: memory per idle
     * connection is what lets one node hold thousands of agents. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_num_tickets(ctx, 0);

    if (for_public) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        *out = ctx;
        return 0;
    }
    if ((rc = tls_ctx_trust(ctx, cfg->tls_ca, cfg->tls_crl, X509_PURPOSE_SSL_CLIENT, err,
                            err_len)) != 0) {
        SSL_CTX_free(ctx);
        return rc;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_ca);
    if (!names)
        return fail_build(ctx, err, err_len, TR_E_CERT, "[tls] ca: no certificate in", cfg->tls_ca);
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, on_verify);
    *out = ctx;
    return 0;
}

/* Revoked by a CRL in store issued by cert's issuer? */
static bool cert_revoked(X509 *cert, X509_STORE *store)
{
    bool revoked = false;
    X509_NAME *issuer = X509_get_issuer_name(cert);
    if (!X509_STORE_lock(store))
        return false;
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
    for (int i = 0; i < sk_X509_OBJECT_num(objs) && !revoked; i++) {
        X509_CRL *crl = X509_OBJECT_get0_X509_CRL(sk_X509_OBJECT_value(objs, i));
        X509_REVOKED *r;
        if (crl && X509_NAME_cmp(X509_CRL_get_issuer(crl), issuer) == 0)
            revoked = X509_CRL_get0_by_cert(crl, &r, cert) == 1;
    }
    X509_STORE_unlock(store);
    return revoked;
}

bool tls_conn_revoked(const tls_conn_t *t, X509_STORE *store)
{
    if (!t->ssl || !t->established)
        return false;
    STACK_OF(X509) *chain = SSL_get0_verified_chain(t->ssl);
    /* The last is the consortium root: a trust anchor, not revoked by a CRL. */
    for (int i = 0; chain && i < sk_X509_num(chain) - 1; i++)
        if (cert_revoked(sk_X509_value(chain, i), store))
            return true;
    return false;
}

int tls_ctx_build(const config_t *cfg, SSL_CTX **out, char *err, size_t err_len)
{
    return build(cfg, false, out, err, err_len);
}

int tls_ctx_build_public(const config_t *cfg, SSL_CTX **out, char *err, size_t err_len)
{
    return build(cfg, true, out, err, err_len);
}

int tls_ctx_org(SSL_CTX *ctx, char *org, size_t org_len)
{
    X509 *own = SSL_CTX_get0_certificate(ctx);
    if (!own || tr_cert_subject_field(own, NID_organizationName, org, org_len) != 0 ||
        !tr_name_valid(org))
        return TR_E_IDENTITY;
    return 0;
}

int tls_ctx_fingerprint(SSL_CTX *ctx, char out[65])
{
    X509 *own = SSL_CTX_get0_certificate(ctx);
    return own ? tr_cert_fingerprint(own, out) : TR_E_CERT;
}

const char *tls_fail_name(tls_fail_t f)
{
    static const char *const names[TLS_FAIL_COUNT_] = {
        [TLS_FAIL_NONE] = "none",
        [TLS_FAIL_NO_CERT] = "no_certificate",
        [TLS_FAIL_UNKNOWN_CA] = "unknown_ca",
        [TLS_FAIL_EXPIRED] = "expired",
        [TLS_FAIL_REVOKED] = "revoked",
        [TLS_FAIL_NO_CRL] = "crl_missing",
        [TLS_FAIL_IDENTITY] = "identity",
        [TLS_FAIL_BAD_CERT] = "bad_certificate",
        [TLS_FAIL_PROTOCOL] = "protocol",
        [TLS_FAIL_TIMEOUT] = "timeout",
    };
    return (unsigned)f < TLS_FAIL_COUNT_ ? names[f] : "unknown";
}

/* A plain connection (ctx NULL, the viewer listener behind its proxy) keeps
 * the two memory BIOs and no SSL: bytes fed in are read back unchanged and
 * bytes written are taken out unchanged, so conn.c needs no second path. */
static BIO *mem_bio(void)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (b)
        BIO_set_mem_eof_return(b, -1); /* empty means "wait for more", not EOF */
    return b;
}

int tls_conn_init(tls_conn_t *t, SSL_CTX *ctx)
{
    memset(t, 0, sizeof(*t));
    t->ssl = ctx ? SSL_new(ctx) : NULL;
    t->rbio = mem_bio();
    t->wbio = mem_bio();
    if ((ctx && !t->ssl) || !t->rbio || !t->wbio) {
        SSL_free(t->ssl);
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        memset(t, 0, sizeof(*t));
        return TR_E_NOMEM;
    }
    if (!ctx) {
        t->established = true; /* nothing to negotiate */
        return 0;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both BIOs now */
    if (conn_index >= 0) /* no server context built in this process: no verify callback */
        SSL_set_ex_data(t->ssl, conn_index, t);
    SSL_set_accept_state(t->ssl);
    return 0;
}

void tls_conn_close(tls_conn_t *t)
{
    free(t->identity_why);
    t->identity_why = NULL;
    if (t->ssl) {
        SSL_free(t->ssl);
    } else {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
    }
    t->ssl = NULL;
    t->rbio = t->wbio = NULL;
}

/* Memory BIOs for a connection that had none since tls_conn_shrink. */
static int ensure_bios(tls_conn_t *t)
{
    if (t->rbio)
        return 0;
    BIO *r = mem_bio(), *w = mem_bio();
    if (!r || !w) {
        BIO_free(r);
        BIO_free(w);
        return -1;
    }
    if (t->ssl) {
        SSL_set0_rbio(t->ssl, r);
        SSL_set0_wbio(t->ssl, w);
    }
    t->rbio = r;
    t->wbio = w;
    return 0;
}

int tls_conn_feed(tls_conn_t *t, const char *data, size_t len)
{
    if (ensure_bios(t) != 0)
        return -1;
    return BIO_write(t->rbio, data, (int)len) == (int)len ? 0 : -1;
}

static tls_fail_t classify_verify(long v)
{
    switch (v) {
    case X509_V_OK:
        return TLS_FAIL_PROTOCOL;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
        return TLS_FAIL_EXPIRED;
    case X509_V_ERR_CERT_REVOKED:
        return TLS_FAIL_REVOKED;
    case X509_V_ERR_APPLICATION_VERIFICATION:
        return TLS_FAIL_IDENTITY;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
        return TLS_FAIL_UNKNOWN_CA;
    default:
        return TLS_FAIL_BAD_CERT;
    }
}

int tls_conn_handshake(tls_conn_t *t, tls_fail_t *why)
{
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r == 1) {
        t->established = true;
        return 1;
    }
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    long v = SSL_get_verify_result(t->ssl);
    unsigned long reason = ERR_GET_REASON(ERR_peek_last_error());
    ERR_clear_error();
    if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
        *why = TLS_FAIL_NO_CERT;
    else
        *why = classify_verify(v);
    return -1;
}

int tls_conn_read(tls_conn_t *t, char *buf, size_t len)
{
    if (!t->ssl) {
        int n = t->rbio ? BIO_read(t->rbio, buf, (int)len) : 0;
        return n > 0 ? n : 0;
    }
    ERR_clear_error();
    int n = SSL_read(t->ssl, buf, (int)len);
    if (n > 0)
        return n;
    int e = SSL_get_error(t->ssl, n);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    return -1;
}

int tls_conn_write(tls_conn_t *t, const void *data, size_t len)
{
    if (ensure_bios(t) != 0)
        return -1;
    if (!t->ssl)
        return BIO_write(t->wbio, data, (int)len) == (int)len ? 0 : -1;
    ERR_clear_error();
    /* The write BIO is memory: it takes everything at once. */
    int n = SSL_write(t->ssl, data, (int)len);
    ERR_clear_error();
    return n == (int)len ? 0 : -1;
}

size_t tls_conn_pending(const tls_conn_t *t)
{
    return t->wbio ? BIO_ctrl_pending(t->wbio) : 0;
}

size_t tls_conn_take(tls_conn_t *t, char *buf, size_t len)
{
    if (!t->wbio)
        return 0;
    int n = BIO_read(t->wbio, buf, (int)len);
    return n > 0 ? (size_t)n : 0;
}

void tls_conn_shrink(tls_conn_t *t)
{
    if (!t->rbio || BIO_ctrl_pending(t->rbio) || BIO_ctrl_pending(t->wbio))
        return;
    if (t->ssl) {
        SSL_set0_rbio(t->ssl, NULL); /* frees them */
        SSL_set0_wbio(t->ssl, NULL);
    } else {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
    }
    t->rbio = t->wbio = NULL;
}

void tls_conn_shutdown(tls_conn_t *t)
{
    if (t->ssl && t->established && ensure_bios(t) == 0) {
        ERR_clear_error();
        SSL_shutdown(t->ssl);
        ERR_clear_error();
    }
}
