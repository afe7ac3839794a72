/* The identity a certificate carries under Trellis's certificate profile
 * (docs/certificate-profile.md). This is the only place that reads identity
 * out of a certificate; the server trusts nothing else about a caller. */
#ifndef TR_IDENTITY_H
#define TR_IDENTITY_H

#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

#define TR_NAME_MAX 63 /* organisation and certificate names: [a-z0-9][a-z0-9-]{0,62} */

typedef enum { TR_ROLE_NONE = 0, TR_ROLE_NODE, TR_ROLE_AGENT } tr_role_t;

typedef struct {
    char org[TR_NAME_MAX + 1];  /* organisation id, e.g. "northside-refuge" */
    char name[TR_NAME_MAX + 1]; /* node or agent name within the organisation */
    tr_role_t role;
    char fingerprint[65]; /* lowercase hex SHA-256 of the leaf certificate (DER) */
} tr_identity_t;

/* True if s is a valid organisation or certificate name. */
bool tr_name_valid(const char *s);

const char *tr_role_name(tr_role_t role);

/* Extract the identity from a chain that OpenSSL has already verified against
 * the consortium root: chain[0] leaf, chain[1] organisation CA, chain[2] root.
 * Returns 0, or TR_E_IDENTITY with a reason written to why (may be NULL). */
int tr_identity_from_chain(STACK_OF(X509) * chain, tr_identity_t *id, char *why, size_t why_len);

/* Lowercase hex SHA-256 fingerprint of a certificate; out needs 65 bytes. */
int tr_cert_fingerprint(X509 *cert, char out[65]);

/* Copy the first subject entry with the given NID into out; 0 or TR_E_IDENTITY. */
int tr_cert_subject_field(X509 *cert, int nid, char *out, size_t out_len);

#endif
