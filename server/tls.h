/* TLS for trellisd: building the server context (Mozilla "modern": TLS 1.3
 * only, client certificate required, verified against the consortium root
 * and its CRLs) and the per-connection engine over memory BIOs, so that the
 * bytes move on libuv streams and OpenSSL never touches a socket. */
#ifndef TRELLIS_TLS_H
#define TRELLIS_TLS_H

#include "config.h"
#include "tr_identity.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* Build a complete server context from cfg (reads files: call it before the
 * loop runs or on the thread pool). 0, or TR_E_TLS/TR_E_CERT with one line in err. */
/* The one place the suites, groups, protocol version and key checks are set,
 * for the node's listeners and for the client it pulls from peers with: a
 * context for cert and its key (a server's or a client's). 0, or a code
 * with one line in err naming the file. */
int tls_ctx_new(bool server, const char *cert, const char *key, SSL_CTX **out, char *err,
                size_t err_len);
/* Trust the consortium root in ca and, if crl is given, require every CA's
 * CRL from it; purpose X509_PURPOSE_SSL_CLIENT or _SSL_SERVER. 0, or a code
 * with one line in err (ctx is not freed). */
int tls_ctx_trust(SSL_CTX *ctx, const char *ca, const char *crl, int purpose, char *err,
                  size_t err_len);

int tls_ctx_build(const config_t *cfg, SSL_CTX **out, char *err, size_t err_len);
/* The public listener's context: same certificate, no client certificate asked. */
int tls_ctx_build_public(const config_t *cfg, SSL_CTX **out, char *err, size_t err_len);

/* The organisation named by the context's own certificate (the node's). */
int tls_ctx_org(SSL_CTX *ctx, char *org, size_t org_len);
/* The SHA-256 fingerprint of the context's own certificate. */
int tls_ctx_fingerprint(SSL_CTX *ctx, char out[65]);

typedef enum {
    TLS_FAIL_NONE = 0,
    TLS_FAIL_NO_CERT,
    TLS_FAIL_UNKNOWN_CA,
    TLS_FAIL_EXPIRED,
    TLS_FAIL_REVOKED,
    TLS_FAIL_NO_CRL,
    TLS_FAIL_IDENTITY,
    TLS_FAIL_BAD_CERT,
    TLS_FAIL_PROTOCOL,
    TLS_FAIL_TIMEOUT,
    TLS_FAIL_COUNT_
} tls_fail_t;

const char *tls_fail_name(tls_fail_t f);

typedef struct {
    SSL *ssl;
    BIO *rbio; /* network -> OpenSSL */
    BIO *wbio; /* OpenSSL -> network */
    bool established;
    tr_identity_t identity; /* valid once established */
    char *identity_why;     /* why the identity was refused, if it was (owned) */
} tls_conn_t;

/* ctx NULL: a plain connection (the viewer listener, plain HTTP behind the
 * charity's proxy): established at once, bytes pass through unchanged, no
 * identity. */
int tls_conn_init(tls_conn_t *t, SSL_CTX *ctx);
void tls_conn_close(tls_conn_t *t);

/* Hand received ciphertext to OpenSSL. */
int tls_conn_feed(tls_conn_t *t, const char *data, size_t len);

/* Drive the handshake. Returns 1 when established, 0 when it needs more
 * input, or -1 on failure with *why set. */
int tls_conn_handshake(tls_conn_t *t, tls_fail_t *why);

/* Read decrypted bytes. Returns >0 bytes, 0 when it needs more input, -1 when
 * the peer closed (close_notify) or on error. */
int tls_conn_read(tls_conn_t *t, char *buf, size_t len);

/* Encrypt plaintext into the outgoing buffer. 0 or -1. */
int tls_conn_write(tls_conn_t *t, const void *data, size_t len);

/* Bytes waiting to go to the network. */
size_t tls_conn_pending(const tls_conn_t *t);
/* Move up to len pending bytes into buf; returns the count. */
size_t tls_conn_take(tls_conn_t *t, char *buf, size_t len);

/* Drop both memory BIOs if nothing is pending in either (a memory BIO never
 * shrinks its buffer); fresh ones are made when bytes next move. */
void tls_conn_shrink(tls_conn_t *t);

/* Is a certificate of the established connection's verified chain (its
 * leaf or its organisation CA) revoked by a CRL of store? For a reload: a
 * CRL lookup per certificate, no signature checks, cheap enough to run over
 * every open connection on the loop. */
bool tls_conn_revoked(const tls_conn_t *t, X509_STORE *store);

/* Queue a close_notify alert. */
void tls_conn_shutdown(tls_conn_t *t);

#endif
