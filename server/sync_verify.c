/* Verification of pulled batches and the signer certificate cache. */
#include "sync_verify.h"
#include "tr_canon.h"
#include "tr_check.h"
#include "tr_error.h"
#include "tr_identity.h"
#include "tr_sign.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

typedef struct signer {
    struct signer *next;
    char fp[65];
    char org[TR_NAME_MAX + 1];
    X509 *cert;
    time_t not_before, not_after; /* of the whole chain: the latest start, the earliest end */
} signer_t;

struct signer_cache {
    uv_mutex_t lock;
    signer_t *head;
};

signer_cache_t *signer_cache_new(void)
{
    signer_cache_t *c = calloc(1, sizeof(*c));
    if (!c || uv_mutex_init(&c->lock) != 0)
        abort();
    return c;
}

void signer_cache_clear(signer_cache_t *c)
{
    uv_mutex_lock(&c->lock);
    while (c->head) {
        signer_t *s = c->head;
        c->head = s->next;
        X509_free(s->cert);
        free(s);
    }
    uv_mutex_unlock(&c->lock);
}

void signer_cache_free(signer_cache_t *c)
{
    if (!c)
        return;
    signer_cache_clear(c);
    uv_mutex_destroy(&c->lock);
    free(c);
}

/* A new reference to the certificate with fingerprint fp, its org and its
 * chain's validity window (window may be NULL). */
static X509 *signer_get(signer_cache_t *c, const char *fp, char org[TR_NAME_MAX + 1],
                        time_t window[2])
{
    X509 *x = NULL;
    uv_mutex_lock(&c->lock);
    for (signer_t *s = c->head; s; s = s->next) {
        if (strcmp(s->fp, fp) == 0) {
            X509_up_ref(s->cert);
            x = s->cert;
            memcpy(org, s->org, sizeof(s->org));
            if (window) {
                window[0] = s->not_before;
                window[1] = s->not_after;
            }
            break;
        }
    }
    uv_mutex_unlock(&c->lock);
    return x;
}

static int asn1_time_t(const ASN1_TIME *a, time_t *out)
{
    struct tm tm;
    if (!a || ASN1_TIME_to_tm(a, &tm) != 1)
        return -1;
    *out = timegm(&tm);
    return 0;
}

/* The window in which the signer and its organisation CA were both valid:
 * every certificate of chain but the last, the consortium root, which is
 * the trust anchor configured here rather than a dated statement. */
static int chain_window(STACK_OF(X509) * chain, time_t *not_before, time_t *not_after)
{
    *not_before = 0;
    *not_after = (time_t)INT64_MAX;
    for (int i = 0; i < sk_X509_num(chain) - 1; i++) {
        time_t b, a;
        X509 *x = sk_X509_value(chain, i);
        if (asn1_time_t(X509_get0_notBefore(x), &b) != 0 ||
            asn1_time_t(X509_get0_notAfter(x), &a) != 0)
            return -1;
        if (b > *not_before)
            *not_before = b;
        if (a < *not_after)
            *not_after = a;
    }
    return 0;
}

int signer_cache_add_pem(signer_cache_t *c, X509_STORE *store, const char *pem, size_t len,
                         const char *expect_fp, char org[TR_NAME_MAX + 1], char *err,
                         size_t err_len)
{
    int rc = TR_E_CERT;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE_CTX *vctx = X509_STORE_CTX_new();
    X509 *leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    char fp[65];
    tr_identity_t id;
    char why[96] = "";
    if (!leaf || !untrusted || !vctx) {
        snprintf(err, err_len, "signer certificate is not PEM");
        goto done;
    }
    for (X509 *x; (x = PEM_read_bio_X509(bio, NULL, NULL, NULL));)
        sk_X509_push(untrusted, x);
    ERR_clear_error();
    if (tr_cert_fingerprint(leaf, fp) != 0 || strcmp(fp, expect_fp) != 0) {
        snprintf(err, err_len, "signer certificate does not have the fingerprint asked for");
        goto done;
    }
    if (X509_STORE_CTX_init(vctx, store, leaf, untrusted) != 1) {
        snprintf(err, err_len, "signer certificate cannot be checked");
        goto done;
    }
    /* The chain, signatures, roles and CRLs are checked now; the time is
     * checked per record, against the time it was signed. */
    X509_STORE_CTX_set_flags(vctx, X509_V_FLAG_NO_CHECK_TIME);
    if (X509_verify_cert(vctx) != 1) {
        snprintf(err, err_len, "signer certificate refused: %s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)));
        goto done;
    }
    if (tr_identity_from_chain(X509_STORE_CTX_get0_chain(vctx), &id, why, sizeof(why)) != 0 ||
        id.role != TR_ROLE_NODE) {
        snprintf(err, err_len, "signer certificate is not a node's: %s", why[0] ? why : "agent");
        goto done;
    }
    signer_t *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    memcpy(s->fp, fp, sizeof(fp));
    snprintf(s->org, sizeof(s->org), "%s", id.org);
    snprintf(org, TR_NAME_MAX + 1, "%s", id.org);
    if (chain_window(X509_STORE_CTX_get0_chain(vctx), &s->not_before, &s->not_after) != 0) {
        free(s);
        snprintf(err, err_len, "signer certificate has unreadable validity dates");
        goto done;
    }
    s->cert = leaf;
    leaf = NULL;
    uv_mutex_lock(&c->lock);
    s->next = c->head;
    c->head = s;
    uv_mutex_unlock(&c->lock);
    rc = 0;
done:
    ERR_clear_error();
    X509_free(leaf);
    sk_X509_pop_free(untrusted, X509_free);
    X509_STORE_CTX_free(vctx);
    BIO_free(bio);
    return rc;
}

#define SIGNED_AT_SKEW_S 300 /* clocks of members' nodes may differ this much */

/* Is the record shared with this node's organisation? Its audience is the
 * origin's decision, signed: a relay must not widen it, and this node
 * refuses what it should never have been sent. A record without one (signed
 * before audiences existed) is taken only from its origin. */
static bool shared_with_us(const sync_batch_t *b, json_t *doc, const tr_record_t *rec)
{
    json_t *a = json_object_get(doc, "audience");
    if (strcmp(rec->origin, b->own_org) == 0)
        return true;
    if (!a || json_is_null(a))
        return strcmp(rec->origin, b->peer_org) == 0;
    if (json_is_string(a))
        return true; /* "consortium": validated */
    for (size_t i = 0; i < json_array_size(a); i++)
        if (strcmp(json_string_value(json_array_get(a, i)), b->own_org) == 0)
            return true;
    return false;
}

const char *sync_refusal_name(sync_refusal_t why)
{
    static const char *const names[SYNC_REFUSED_COUNT_] = {
        [SYNC_REFUSED_INVALID] = "invalid",       [SYNC_REFUSED_UNSIGNED] = "unsigned",
        [SYNC_REFUSED_SIGNATURE] = "signature",   [SYNC_REFUSED_SIGNER] = "signer",
        [SYNC_REFUSED_NOT_SHARED] = "not_shared", [SYNC_REFUSED_PROTOCOL_1] = "protocol_1",
    };
    return (unsigned)why < SYNC_REFUSED_COUNT_ ? names[why] : "unknown";
}

/* Only what identifies the record, and only once it is known to be what it
 * should be (a kind name, a UUID, an organisation id): a peer must not be
 * able to put a name or a phone number into this node's log. Never a body. */
static void refuse(sync_batch_t *b, json_t *doc, sync_refusal_t why, const char *reason)
{
    json_t *r = json_object();
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    const char *id = json_string_value(json_object_get(doc, "id"));
    const char *origin = json_string_value(json_object_get(doc, "origin"));
    tr_kind_t k;
    if (kind && tr_kind_parse(kind, &k) == 0)
        json_object_set_new(r, "kind", json_string(kind));
    if (id && tr_is_uuid(id))
        json_object_set_new(r, "id", json_string(id));
    if (origin && tr_name_valid(origin))
        json_object_set_new(r, "origin", json_string(origin));
    json_object_set_new(r, "code", json_string(sync_refusal_name(why)));
    json_object_set_new(r, "reason", json_string(reason));
    json_array_append_new(b->refused, r);
}

/* Is the record's origin proved? 1 yes, 0 no (refused with a reason), -1
 * signer not known yet (fetch it, then verify the batch again). Every record
 * is checked the same way, whoever hands it over (DESIGN.md, "A node
 * verifies every record it stores"): a peer that is the record's origin is
 * not taken at its TLS word, so that nothing is stored here that this
 * node's own peers would refuse when it relays it. */
static int origin_proved(sync_batch_t *b, json_t *doc, const tr_record_t *rec)
{
    const char *fp = json_string_value(json_object_get(doc, "signer"));
    if (!fp || !json_is_string(json_object_get(doc, "sig"))) {
        refuse(b, doc, SYNC_REFUSED_UNSIGNED, "unsigned record");
        return 0;
    }
    char org[TR_NAME_MAX + 1];
    time_t window[2];
    X509 *cert = signer_get(b->cache, fp, org, window);
    if (!cert) {
        bool hex = strlen(fp) == 64 && strspn(fp, "0123456789abcdef") == 64;
        if (!hex || b->final_pass) {
            refuse(b, doc, SYNC_REFUSED_SIGNER,
                   hex ? "signer certificate unavailable or refused"
                       : "signer is not a certificate fingerprint");
            return 0;
        }
        json_array_append_new(b->missing, json_string(fp));
        return -1;
    }
    /* Signed while the certificate was valid: at signed_at, or now for a
     * record signed before signed_at existed. A time ahead of this node's
     * clock by more than the skew allowed is not believed. */
    json_t *at = json_object_get(doc, "signed_at");
    time_t now = time(NULL), when = json_is_integer(at) ? (time_t)json_integer_value(at) : now;
    int ok = 1;
    if (strcmp(org, rec->origin) != 0) {
        refuse(b, doc, SYNC_REFUSED_SIGNER,
               "signed by a node of another organisation than its origin");
        ok = 0;
    } else if (when > now + SIGNED_AT_SKEW_S) {
        refuse(b, doc, SYNC_REFUSED_SIGNER, "signed_at is in the future");
        ok = 0;
    } else if (when < window[0] || when > window[1]) {
        refuse(b, doc, SYNC_REFUSED_SIGNER,
               "signer certificate was not valid when the record was signed");
        ok = 0;
    } else if (tr_record_verify(doc, cert) != 0) {
        refuse(b, doc, SYNC_REFUSED_SIGNATURE, "signature does not match the record");
        ok = 0;
    }
    X509_free(cert);
    return ok;
}

/* A reply that breaks the protocol is an error for the whole batch (the
 * loop backs off and the status says why), never a page to apply: a cursor
 * that goes backwards would loop for ever, more records than asked for is
 * not what was asked, and so on. */
static int parse_seq(const char *s, long long *out)
{
    char *end;
    errno = 0;
    *out = s ? strtoll(s, &end, 10) : -1;
    return s && *s && !*end && !errno && *out >= 0 ? 0 : -1;
}

/* An epoch in a reply: absent or null, else a UUID. */
static int parse_epoch(json_t *v, char out[TR_UUID_LEN + 1])
{
    out[0] = '\0';
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    if (!s || !tr_is_uuid(s))
        return -1;
    snprintf(out, TR_UUID_LEN + 1, "%s", s);
    return 0;
}

/* What the peer says of its feed's epoch and of its cursor on ours. */
static int check_epochs(sync_batch_t *b, json_t *root)
{
    if (parse_epoch(json_object_get(root, "epoch"), b->epoch) != 0) {
        snprintf(b->error, sizeof(b->error), "the peer's epoch is not a UUID");
        return -1;
    }
    json_t *your = json_object_get(root, "your_cursor");
    if (!your || json_is_null(your))
        return 0;
    long long cur;
    if (!json_is_object(your) ||
        parse_seq(json_string_value(json_object_get(your, "cursor")), &cur) != 0 ||
        parse_epoch(json_object_get(your, "epoch"), b->your_epoch) != 0 ||
        parse_epoch(json_object_get(your, "went_back_epoch"), b->your_went_back_epoch) != 0) {
        snprintf(b->error, sizeof(b->error), "the peer's your_cursor is not a cursor");
        return -1;
    }
    b->has_your = true;
    b->your_cursor = cur;
    return 0;
}

static int check_protocol(sync_batch_t *b, json_t *root, json_t *changes, const char *cursor)
{
    long long next, from = b->since;
    if (parse_seq(cursor, &next) != 0) {
        snprintf(b->error, sizeof(b->error), "the peer's cursor is not a number");
        return -1;
    }
    if (check_epochs(b, root) != 0)
        return -1;
    /* A page that starts before the cursor asked from: the peer's feed went
     * back, which it may say only under another epoch than ours. */
    const char *since = json_string_value(json_object_get(root, "since"));
    if (since && parse_seq(since, &from) != 0) {
        snprintf(b->error, sizeof(b->error), "the peer's since is not a number");
        return -1;
    }
    if (from > b->since || (from < b->since && (!b->epoch_asked[0] || !b->epoch[0] ||
                                                strcmp(b->epoch, b->epoch_asked) == 0))) {
        snprintf(b->error, sizeof(b->error),
                 "the peer's page starts at %lld, not at %lld asked for, in the same epoch", from,
                 (long long)b->since);
        return -1;
    }
    b->reply_since = from;
    b->went_back = from < b->since;
    if (next < from) {
        snprintf(b->error, sizeof(b->error),
                 "the peer's cursor went backwards (asked from %lld, "
                 "told to go on from %lld)",
                 from, next);
        return -1;
    }
    if (b->limit > 0 && json_array_size(changes) > (size_t)b->limit) {
        snprintf(b->error, sizeof(b->error),
                 "the peer sent %zu records, more than the %d asked for", json_array_size(changes),
                 b->limit);
        return -1;
    }
    long long prev = from;
    size_t i;
    json_t *c;
    json_array_foreach(changes, i, c)
    {
        json_t *seq = json_object_get(c, "seq");
        if (!json_is_integer(seq) || json_integer_value(seq) <= prev ||
            json_integer_value(seq) > next || !json_is_object(json_object_get(c, "record"))) {
            snprintf(b->error, sizeof(b->error),
                     "change %zu of the peer's reply is out of order or not a record", i);
            return -1;
        }
        prev = json_integer_value(seq);
    }
    b->next_cursor = next;
    return 0;
}

void sync_batch_parse(sync_batch_t *b)
{
    if (b->root || b->error[0])
        return;
    json_error_t jerr;
    json_t *root = json_loadb(b->body, b->len, 0, &jerr);
    json_t *changes = json_object_get(root, "changes");
    const char *cursor = json_string_value(json_object_get(root, "cursor"));
    if (!json_is_array(changes) || !cursor) {
        snprintf(b->error, sizeof(b->error), "the peer's reply is not a change feed");
        json_decref(root);
        return;
    }
    if (check_protocol(b, root, changes, cursor) != 0) {
        json_decref(root);
        return;
    }
    b->more = json_is_true(json_object_get(root, "more"));
    b->head = json_integer_value(json_object_get(root, "head"));
    b->root = root;
}

/* A pathway.referral whose body has no to_org: what protocol 1 wrote
 * (sql/006 made to_org part of a referral). Its signature covers the body,
 * so nobody can add the field on the origin's behalf. */
static bool written_under_protocol_1(json_t *doc)
{
    json_t *body = json_object_get(doc, "body");
    return json_is_object(body) &&
           !strcmp(json_string_value(json_object_get(doc, "kind")) ?: "", "pathway.referral") &&
           !json_object_get(body, "to_org");
}

void sync_batch_verify(sync_batch_t *b)
{
    b->refused = json_array();
    b->missing = json_array();
    sync_batch_parse(b);
    if (b->error[0])
        return;
    json_t *root = b->root;
    json_t *changes = json_object_get(root, "changes");
    b->root = NULL;
    record_arrays_init(&b->records);
    size_t i;
    json_t *change;
    json_array_foreach(changes, i, change)
    {
        json_t *doc = json_object_get(change, "record");
        tr_record_t rec;
        tr_verrors_t errs;
        tr_verrors_init(&errs);
        b->n_records++;
        int valid = tr_record_validate(doc, &rec, &errs);
        if (valid != 0 && written_under_protocol_1(doc)) {
            /* Its own refusal, not "invalid": the operator learns that the
             * origin wrote it before its upgrade (docs/federation.md). */
            refuse(b, doc, SYNC_REFUSED_PROTOCOL_1,
                   "a referral of protocol 1 (no to_org): the current rules need its "
                   "receiving organisation");
            tr_verrors_free(&errs);
            continue;
        }
        if (valid != 0) {
            /* The error's code only: its path may name a member the peer
             * made up, and a name is personal data. */
            char reason[64];
            snprintf(reason, sizeof(reason), "invalid record: %s",
                     errs.n ? errs.items[0].code : "invalid");
            refuse(b, doc, SYNC_REFUSED_INVALID, reason);
            tr_verrors_free(&errs);
            continue;
        }
        tr_verrors_free(&errs);
        if (!shared_with_us(b, doc, &rec)) {
            refuse(b, doc, SYNC_REFUSED_NOT_SHARED,
                   "its origin did not share it with this organisation");
            tr_record_clear(&rec);
            continue;
        }
        int proved = origin_proved(b, doc, &rec);
        char hash[65], *text;
        size_t text_len;
        if (proved == 1 && tr_record_content_hash(doc, hash) == 0 &&
            tr_canon_dump(doc, &text, &text_len) == 0) {
            record_arrays_add(&b->records, (int)i, &rec, hash, text, text_len);
            free(text);
        }
        tr_record_clear(&rec);
    }
    json_decref(root);
}

void sync_batch_init(sync_batch_t *b, signer_cache_t *cache, const char *peer_org,
                     const char *own_org)
{
    memset(b, 0, sizeof(*b));
    b->cache = cache;
    snprintf(b->peer_org, sizeof(b->peer_org), "%s", peer_org);
    snprintf(b->own_org, sizeof(b->own_org), "%s", own_org);
}

void sync_batch_clear(sync_batch_t *b)
{
    free(b->body);
    record_arrays_free(&b->records);
    json_decref(b->refused);
    json_decref(b->missing);
    json_decref(b->root);
    /* Keep what describes the peer; forget the batch. */
    sync_batch_t fresh;
    sync_batch_init(&fresh, b->cache, b->peer_org, b->own_org);
    *b = fresh;
}

void sync_batch_rewind(sync_batch_t *b)
{
    sync_batch_t kept = *b;
    b->body = NULL; /* the reply stays */
    sync_batch_clear(b);
    b->body = kept.body;
    b->len = kept.len;
    b->asked_ns = kept.asked_ns;
    b->arrived_ns = kept.arrived_ns;
    b->since = kept.since;
    b->limit = kept.limit;
    b->recover = kept.recover;
    memcpy(b->epoch_asked, kept.epoch_asked, sizeof(b->epoch_asked));
}
