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

int tr_signer_sign(tr_signer_t *s, json_t *doc)
{
    if (json_object_set_new(doc, "signer", json_string(s->fp)) != 0)
        return TR_E_INVAL;
    char *bytes;
    size_t len;
    int rc = signed_bytes(doc, &bytes, &len);
    if (rc)
        return rc;
    unsigned char md[32], sig[SIG_MAX];
    size_t sig_len = sizeof(sig);
    rc = tr_sha256(bytes, len, md);
    free(bytes);
    if (rc)
        return rc;
    /* ECDSA over the digest: the same signature EVP_DigestSign with SHA-256
     * makes, so verifiers (and openssl dgst) need nothing special. */
    if (EVP_PKEY_sign(s->ctx, sig, &sig_len, md, sizeof(md)) != 1) {
        ERR_clear_error();
        return TR_E_TLS;
    }
    unsigned char b64[2 * SIG_MAX];
    int n = EVP_EncodeBlock(b64, sig, (int)sig_len);
    if (n <= 0 || json_object_set_new(doc, "sig", json_stringn((char *)b64, (size_t)n)) != 0)
        return TR_E_TLS;
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
