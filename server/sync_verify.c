/* Verification of pulled batches and the signer certificate cache. */
#include "sync_verify.h"
#include "tr_canon.h"
#include "tr_error.h"
#include "tr_identity.h"
#include "tr_sign.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef struct signer {
    struct signer *next;
    char fp[65];
    char org[TR_NAME_MAX + 1];
    X509 *cert;
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

/* A new reference to the certificate with fingerprint fp, and its org. */
static X509 *signer_get(signer_cache_t *c, const char *fp, char org[TR_NAME_MAX + 1])
{
    X509 *x = NULL;
    uv_mutex_lock(&c->lock);
    for (signer_t *s = c->head; s; s = s->next) {
        if (strcmp(s->fp, fp) == 0) {
            X509_up_ref(s->cert);
            x = s->cert;
            memcpy(org, s->org, sizeof(s->org));
            break;
        }
    }
    uv_mutex_unlock(&c->lock);
    return x;
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
    if (X509_STORE_CTX_init(vctx, store, leaf, untrusted) != 1 || X509_verify_cert(vctx) != 1) {
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

static void refuse(sync_batch_t *b, json_t *doc, const char *reason)
{
    /* Only what identifies the record: never its body. */
    json_t *r = json_object();
    static const char *const keys[] = {"kind", "id", "origin"};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(doc, keys[i]);
        if (json_is_string(v) && json_string_length(v) <= 64)
            json_object_set(r, keys[i], v);
    }
    json_object_set_new(r, "reason", json_string(reason));
    json_array_append_new(b->refused, r);
}

/* Is the record's origin proved? 1 yes, 0 no (refused with a reason), -1
 * signer not known yet (fetch it, then verify the batch again). */
static int origin_proved(sync_batch_t *b, json_t *doc, const tr_record_t *rec)
{
    const char *fp = json_string_value(json_object_get(doc, "signer"));
    if (strcmp(rec->origin, b->peer_org) == 0) {
        /* The peer is the origin: its mutual-TLS identity proves it. Still
         * fetch the signer's certificate once, to serve it to our own peers
         * when we relay the record. */
        char org[TR_NAME_MAX + 1];
        X509 *cert = fp && !b->final_pass ? signer_get(b->cache, fp, org) : NULL;
        bool hex = fp && strlen(fp) == 64 && strspn(fp, "0123456789abcdef") == 64;
        if (!cert && hex && !b->final_pass)
            json_array_append_new(b->missing, json_string(fp));
        X509_free(cert);
        return 1;
    }
    if (!fp || !json_is_string(json_object_get(doc, "sig"))) {
        refuse(b, doc, "unsigned record relayed by another organisation");
        return 0;
    }
    char org[TR_NAME_MAX + 1];
    X509 *cert = signer_get(b->cache, fp, org);
    if (!cert) {
        bool hex = strlen(fp) == 64 && strspn(fp, "0123456789abcdef") == 64;
        if (!hex || b->final_pass) {
            refuse(b, doc,
                   hex ? "signer certificate unavailable or refused"
                       : "signer is not a certificate fingerprint");
            return 0;
        }
        json_array_append_new(b->missing, json_string(fp));
        return -1;
    }
    int ok = 1;
    if (strcmp(org, rec->origin) != 0) {
        refuse(b, doc, "signed by a node of another organisation than its origin");
        ok = 0;
    } else if (tr_record_verify(doc, cert) != 0) {
        refuse(b, doc, "signature does not match the record");
        ok = 0;
    }
    X509_free(cert);
    return ok;
}

void sync_batch_verify(sync_batch_t *b)
{
    b->refused = json_array();
    b->missing = json_array();
    json_error_t jerr;
    json_t *root = json_loadb(b->body, b->len, 0, &jerr);
    json_t *changes = json_object_get(root, "changes");
    const char *cursor = json_string_value(json_object_get(root, "cursor"));
    if (!json_is_array(changes) || !cursor) {
        snprintf(b->error, sizeof(b->error), "the peer's reply is not a change feed");
        json_decref(root);
        return;
    }
    b->next_cursor = strtoll(cursor, NULL, 10);
    b->more = json_is_true(json_object_get(root, "more"));
    b->head = json_integer_value(json_object_get(root, "head"));
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
        if (tr_record_validate(doc, &rec, &errs) != 0) {
            char reason[160];
            snprintf(reason, sizeof(reason), "invalid record: %s %s",
                     errs.n ? errs.items[0].path : "$", errs.n ? errs.items[0].code : "");
            refuse(b, doc, reason);
            tr_verrors_free(&errs);
            continue;
        }
        tr_verrors_free(&errs);
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

void sync_batch_clear(sync_batch_t *b)
{
    free(b->body);
    record_arrays_free(&b->records);
    json_decref(b->refused);
    json_decref(b->missing);
    /* Keep what describes the peer; forget the batch. */
    signer_cache_t *cache = b->cache;
    char org[sizeof(b->peer_org)];
    memcpy(org, b->peer_org, sizeof(org));
    memset(b, 0, sizeof(*b));
    b->cache = cache;
    memcpy(b->peer_org, org, sizeof(org));
}
