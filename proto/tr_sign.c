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

int tr_record_sign(json_t *doc, EVP_PKEY *key, const char *signer_fp)
{
    if (json_object_set_new(doc, "signer", json_string(signer_fp)) != 0)
        return TR_E_INVAL;
    char *bytes;
    size_t len;
    int rc = signed_bytes(doc, &bytes, &len);
    if (rc)
        return rc;
    unsigned char sig[SIG_MAX];
    size_t sig_len = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    rc = TR_E_TLS;
    if (md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
        EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)bytes, len) == 1) {
        unsigned char b64[2 * SIG_MAX];
        int n = EVP_EncodeBlock(b64, sig, (int)sig_len);
        if (n > 0 && json_object_set_new(doc, "sig", json_stringn((char *)b64, (size_t)n)) == 0)
            rc = 0;
    }
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    free(bytes);
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
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && pub && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
             EVP_DigestVerify(md, sig, (size_t)n, (const unsigned char *)bytes, len) == 1;
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    free(bytes);
    return ok ? 0 : TR_E_CERT;
}
