/* Signing and verifying records: ECDSA-SHA256 over the canonical JSON of the
 * record without "sig". */
#include "tr_sign.h"
#include "tr_canon.h"
#include "tr_error.h"
#include "tr_identity.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#define SIG_MAX 160 /* a DER ECDSA P-256 signature is at most 72 bytes */

/* The canonical bytes a signature covers: the record without "sig". A
 * shallow copy: the children are shared, not copied. */
static int signed_bytes(const json_t *doc, char **out, size_t *len)
{
    if (!json_is_object(doc))
        return TR_E_INVAL;
    json_t *copy = json_copy((json_t *)doc);
    if (!copy)
        abort();
    json_object_del(copy, "sig");
    int rc = tr_canon_dump(copy, out, len);
    json_decref(copy);
    return rc;
}

int tr_record_content_hash(const json_t *doc, char out[65])
{
    if (!json_is_object(doc))
        return TR_E_INVAL;
    json_t *copy = json_copy((json_t *)doc);
    if (!copy)
        abort();
    json_object_del(copy, "sig");
    json_object_del(copy, "signer");
    json_object_del(copy, "signed_at");
    json_object_del(copy, "audience");
    int rc = tr_canon_hash(copy, out);
    json_decref(copy);
    return rc;
}

struct tr_signer {
    EVP_PKEY_CTX *ctx; /* sign_init done: signs a SHA-256 digest */
    char fp[65];
};

tr_signer_t *tr_signer_new(EVP_PKEY *key, const char *signer_fp)
{
    tr_signer_t *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (!s->ctx || EVP_PKEY_sign_init(s->ctx) != 1 || strlen(signer_fp) >= sizeof(s->fp)) {
        ERR_clear_error();
        tr_signer_free(s);
        return NULL;
    }
    memcpy(s->fp, signer_fp, strlen(signer_fp) + 1);
    return s;
}

void tr_signer_free(tr_signer_t *s)
{
    if (!s)
        return;
    EVP_PKEY_CTX_free(s->ctx);
    free(s);
}

/* The base64 signature of bytes into b64 (NUL-terminated): 0 or TR_E_TLS. */
static int sign_bytes(tr_signer_t *s, const char *bytes, size_t len, char b64[2 * SIG_MAX])
{
    unsigned char md[32], sig[SIG_MAX];
    size_t sig_len = sizeof(sig);
    if (tr_sha256(bytes, len, md) != 0)
        return TR_E_TLS;
    /* ECDSA over the digest: the same signature EVP_DigestSign with SHA-256
     * makes, so verifiers (and openssl dgst) need nothing special. */
    if (EVP_PKEY_sign(s->ctx, sig, &sig_len, md, sizeof(md)) != 1) {
        ERR_clear_error();
        return TR_E_TLS;
    }
    return EVP_EncodeBlock((unsigned char *)b64, sig, (int)sig_len) > 0 ? 0 : TR_E_TLS;
}

int tr_signer_sign(tr_signer_t *s, json_t *doc)
{
    if (json_object_set_new(doc, "signer", json_string(s->fp)) != 0)
        return TR_E_INVAL;
    char *bytes;
    size_t len;
    int rc = signed_bytes(doc, &bytes, &len);
    if (rc)
        return rc;
    char b64[2 * SIG_MAX];
    rc = sign_bytes(s, bytes, len, b64);
    free(bytes);
    if (rc)
        return rc;
    return json_object_set_new(doc, "sig", json_string(b64)) == 0 ? 0 : TR_E_TLS;
}

/* Where the integer member key (",\"name\":") that ends at end starts in
 * the canonical text of an envelope, or NULL. The envelope's keys sort as
 * audience, body, id, kind, origin, sig, signed_at, signer, version: without
 * "sig" and "signer", "version" is last and "signed_at" (if any) just before
 * it. Nothing inside "body" can match at those places: body comes first, and
 * each tail is digits only. */
static const char *int_member_before(const char *text, const char *end, const char *key)
{
    size_t klen = strlen(key);
    const char *p = end;
    while (p > text && p[-1] >= '0' && p[-1] <= '9')
        p--;
    if (p == end || (size_t)(p - text) < klen || memcmp(p - klen, key, klen) != 0)
        return NULL;
    return p - klen;
}

int tr_signer_seal(tr_signer_t *s, const json_t *doc, char hash[65], char **out, size_t *out_len)
{
    if (json_object_get(doc, "sig") || json_object_get(doc, "signer"))
        return TR_E_INVAL;
    char *content;
    size_t len;
    int rc = tr_canon_dump(doc, &content, &len);
    if (rc)
        return rc;
    const char *tail = len > 1 && content[len - 1] == '}'
                           ? int_member_before(content, content + len - 1, ",\"version\":")
                           : NULL;
    const char *at = tail ? int_member_before(content, tail, ",\"signed_at\":") : NULL;
    /* The hash leaves out what signing adds (signed_at, audience): a record
     * posted again is the same record, whenever and however it is shared. */
    if (!tail || (json_object_get(doc, "signed_at") && !at) ||
        (json_object_get(doc, "signed_at") || json_object_get(doc, "audience")
             ? tr_record_content_hash(doc, hash)
             : tr_sha256_hex(content, len, hash)) != 0) {
        free(content);
        return TR_E_INVAL;
    }
    if (!at)
        at = tail;
    /* Signed: the content with "signer" put in its sorted place; stored: with
     * "sig" before "signed_at". Hex and base64 need no escaping in JSON. */
    size_t head = (size_t)(tail - content), fp_len = strlen(s->fp);
    size_t cap = len + fp_len + 2 * SIG_MAX + 32;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    int n = snprintf(buf, cap, "%.*s,\"signer\":\"%s\"%s", (int)head, content, s->fp, tail);
    char b64[2 * SIG_MAX];
    rc = n > 0 && (size_t)n < cap ? sign_bytes(s, buf, (size_t)n, b64) : TR_E_INVAL;
    if (rc == 0) {
        n = snprintf(buf, cap, "%.*s,\"sig\":\"%s\"%.*s,\"signer\":\"%s\"%s", (int)(at - content),
                     content, b64, (int)(tail - at), at, s->fp, tail);
        rc = n > 0 && (size_t)n < cap ? 0 : TR_E_INVAL;
    }
    free(content);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = (size_t)n;
    return 0;
}

int tr_record_sign(json_t *doc, EVP_PKEY *key, const char *signer_fp)
{
    tr_signer_t *s = tr_signer_new(key, signer_fp);
    if (!s)
        return TR_E_TLS;
    int rc = tr_signer_sign(s, doc);
    tr_signer_free(s);
    return rc;
}

int tr_record_verify(const json_t *doc, X509 *cert)
{
    const char *signer = json_string_value(json_object_get(doc, "signer"));
    const char *sig64 = json_string_value(json_object_get(doc, "sig"));
    char fp[65];
    if (!signer || !sig64 || tr_cert_fingerprint(cert, fp) != 0 || strcmp(fp, signer) != 0)
        return TR_E_CERT;
    size_t b64_len = strlen(sig64);
    if (b64_len == 0 || b64_len > 2 * SIG_MAX || b64_len % 4)
        return TR_E_CERT;
    unsigned char sig[2 * SIG_MAX];
    int n = EVP_DecodeBlock(sig, (const unsigned char *)sig64, (int)b64_len);
    if (n <= 0)
        return TR_E_CERT;
    /* EVP_DecodeBlock counts the padding as zero bytes: take them off. */
    if (sig64[b64_len - 1] == '=')
        n--;
    if (sig64[b64_len - 2] == '=')
        n--;
    char *bytes;
    size_t len;
    if (signed_bytes(doc, &bytes, &len) != 0)
        return TR_E_CERT;
    unsigned char md[32];
    int rc = tr_sha256(bytes, len, md);
    free(bytes);
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    EVP_PKEY_CTX *ctx = pub ? EVP_PKEY_CTX_new_from_pkey(NULL, pub, NULL) : NULL;
    int ok = rc == 0 && ctx && EVP_PKEY_verify_init(ctx) == 1 &&
             EVP_PKEY_verify(ctx, sig, (size_t)n, md, sizeof(md)) == 1;
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : TR_E_CERT;
}
