/* What expires in a node's TLS set-up, and when: every CA's CRL (its
 * nextUpdate: past it, that organisation's handshakes fail), this node's
 * certificate and its organisation CA, and the consortium root. Read from
 * the live context, for /metrics and for the warnings the node logs from
 * [tls] expiry_warning ahead (docs/operations). */
#ifndef TRELLIS_TLS_EXPIRY_H
#define TRELLIS_TLS_EXPIRY_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <time.h>

#define TLS_EXPIRY_MAX 256 /* a consortium's CAs, with room to spare */

typedef struct {
    const char *what; /* "crl", "node_cert", "org_ca", "root_ca" */
    char name[96];    /* the CA a CRL is of, or the certificate's subject CN */
    time_t at;        /* nextUpdate or notAfter */
} tls_expiry_t;

/* Fill out with up to max items of ctx (borrowed); returns how many. */
size_t tls_expiry_list(SSL_CTX *ctx, tls_expiry_t *out, size_t max);

#endif
