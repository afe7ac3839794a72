/* Checking a batch pulled from a peer before it is stored: every record
 * valid (proto/), and its origin proved, by the mutual-TLS identity when the
 * peer is the origin, else by a signature from a node certificate of the
 * origin organisation that chains to the consortium root and is not revoked.
 * Runs on libuv's thread pool; the signer certificate cache is shared with
 * the loop under a mutex. */
#ifndef TRELLIS_SYNC_VERIFY_H
#define TRELLIS_SYNC_VERIFY_H

#include "record_arrays.h"
#include "tr_identity.h"
#include "tr_record.h"

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct signer_cache signer_cache_t;

signer_cache_t *signer_cache_new(void);
void signer_cache_free(signer_cache_t *c);
/* Forget every certificate (a new CRL may have revoked some). */
void signer_cache_clear(signer_cache_t *c);
/* Check a PEM chain (signer first, then its organisation CA) against store
 * (root and CRLs) and keep it under its fingerprint, which must be
 * expect_fp. 0, or TR_E_CERT with one line in err. On the loop: the chain is
 * at most three certificates. */
/* The certificate is checked against the root and the CRLs, and its chain's
 * validity window is kept: a record is verified against the certificate as
 * it was when the record was signed (its signed_at), so records outlive
 * their signer's certificate (docs/federation.md). */
int signer_cache_add_pem(signer_cache_t *c, X509_STORE *store, const char *pem, size_t len,
                         const char *expect_fp, char org[TR_NAME_MAX + 1], char *err,
                         size_t err_len);

/* Why a pulled record is refused: decided where the refusal is, counted by
 * it in /metrics (trellis_fed_records_refused_total{reason}). */
typedef enum {
    SYNC_REFUSED_INVALID,    /* not a valid record (proto/) */
    SYNC_REFUSED_UNSIGNED,   /* without a signature */
    SYNC_REFUSED_SIGNATURE,  /* the signature does not match the record */
    SYNC_REFUSED_SIGNER,     /* signer unknown, refused, of another organisation, or not
                                valid when the record was signed */
    SYNC_REFUSED_NOT_SHARED, /* its origin did not share it with this organisation */
    SYNC_REFUSED_PROTOCOL_1, /* a referral written under protocol 1: no to_org */
    SYNC_REFUSED_COUNT_
} sync_refusal_t;

const char *sync_refusal_name(sync_refusal_t why);

typedef struct {
    /* in */
    char *body; /* the peer's reply (taken) */
    size_t len;
    char peer_org[64];
    char own_org[64]; /* this node's organisation: a record must be shared with it */
    signer_cache_t *cache;
    bool final_pass; /* unknown signers were fetched already: refuse what is still unknown */
    int64_t since;   /* what was asked for: a reply must keep to it */
    int limit;
    char epoch_asked[TR_UUID_LEN + 1]; /* the peer's feed epoch our cursor is in ("": none) */
    bool recover;                      /* asked with recover=1: our own records too */
    /* out */
    record_arrays_t records; /* the valid ones: trellis_apply's parameters */
    size_t n_records;
    int64_t next_cursor, head;
    bool more;
    /* The peer's feed epoch ("" from a node without one); where the page
     * starts (since, or before it when the peer's feed went back: then
     * went_back); and the peer's cursor on this node's feed (has_your). */
    char epoch[TR_UUID_LEN + 1];
    int64_t reply_since;
    bool went_back;
    bool has_your;
    char your_epoch[TR_UUID_LEN + 1], your_went_back_epoch[TR_UUID_LEN + 1];
    int64_t your_cursor;
    json_t *refused; /* [{"kind","id","origin","code","reason"}]: validated ids, never a body */
    json_t *missing; /* signer fingerprints not in the cache: fetched, then verified again */
    char error[160]; /* the reply itself is unusable or breaks the protocol */
    json_t *root;    /* the reply parsed (sync_batch_parse), until verified */
    /* when (uv_hrtime) it was asked for, arrived, was verified: for the log */
    uint64_t asked_ns, arrived_ns, verified_ns;
} sync_batch_t;

/* An empty batch for the peer of organisation peer_org, pulled by a node of
 * own_org (both copied; cache borrowed). */
void sync_batch_init(sync_batch_t *b, signer_cache_t *cache, const char *peer_org,
                     const char *own_org);
/* Parse the reply and check it keeps to the protocol (error), without
 * verifying its records: what the reply says of the feed (epoch, since,
 * your_cursor, head) is known then. Cheap next to verifying. */
void sync_batch_parse(sync_batch_t *b);
/* Verify the records (parsing first if sync_batch_parse was not called). */
void sync_batch_verify(sync_batch_t *b);
/* Free what the batch holds and make it empty again, for the same peer. */
void sync_batch_clear(sync_batch_t *b);
/* Forget what verifying found (records, refusals, what the reply said) and
 * keep the reply and what was asked, for a second pass over the same reply
 * once unknown signers are fetched. */
void sync_batch_rewind(sync_batch_t *b);

#endif
