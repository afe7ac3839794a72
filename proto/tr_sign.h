/* Record signatures: the origin node signs each record it accepts from its
 * own agents, and every node checks what it stores. The signature covers the
 * record's canonical JSON (tr_canon.h) without its "sig" member; "signer" is
 * the SHA-256 fingerprint of the signing node's certificate, so a verifier
 * can fetch that certificate and check its chain and organisation. */
#ifndef TR_SIGN_H
#define TR_SIGN_H

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* Set doc's "signer" to signer_fp and "sig" to the base64 ECDSA-SHA256
 * signature by key. Thread-safe (key is only read). 0, TR_E_INVAL (doc not
 * canonical) or TR_E_TLS. */
int tr_record_sign(json_t *doc, EVP_PKEY *key, const char *signer_fp);

/* The same for many records: the signing context is set up once (that set-up
 * costs as much as a sixth of a signature). One thread at a time. */
typedef struct tr_signer tr_signer_t;
/* NULL if the key cannot sign. key gains a reference. */
tr_signer_t *tr_signer_new(EVP_PKEY *key, const char *signer_fp);
int tr_signer_sign(tr_signer_t *s, json_t *doc);
/* Everything a node does to a record its own agent sent, from one canonical
 * dump of doc (which must have neither "sig" nor "signer"): the content hash
 * (as tr_record_content_hash) and the canonical text of the signed record (as
 * tr_signer_sign then tr_canon_dump would give; caller frees). doc is not
 * changed. 0, TR_E_INVAL or TR_E_TLS. */
int tr_signer_seal(tr_signer_t *s, const json_t *doc, char hash[65], char **out, size_t *out_len);
void tr_signer_free(tr_signer_t *s);

/* Check doc's "sig" against cert's public key, and that "signer" is cert's
 * fingerprint. Chain, revocation and organisation are the caller's checks.
 * 0 or TR_E_CERT. */
int tr_record_verify(const json_t *doc, X509 *cert);

/* Hash of the record's content: canonical JSON without what signing adds
 * ("sig", "signer", "signed_at", "audience"), so a record signed again, at
 * another time or by another key, is the same record. out: 65 bytes. */
int tr_record_content_hash(const json_t *doc, char out[65]);

#endif
