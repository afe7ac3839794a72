/* The dates a node's TLS depends on, read from its SSL_CTX: its certificate
 * chain, and the trust store's root and CRLs (the store is locked while it
 * is read; nothing is verified, so this is cheap enough for a scrape). */
#include "tls_expiry.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

static int asn1_to_time(const ASN1_TIME *a, time_t *out)
{
    struct tm tm;
    if (!a || ASN1_TIME_to_tm(a, &tm) != 1)
        return -1;
    *out = timegm(&tm);
    return 0;
}

/* The CN of name, or its one-line form, into buf. */
static void name_of(const X509_NAME *name, char *buf, size_t len)
{
    if (X509_NAME_get_text_by_NID((X509_NAME *)name, NID_commonName, buf, (int)len) <= 0)
        X509_NAME_oneline(name, buf, (int)len);
    /* A label value for Prometheus: no quotes, backslashes or newlines. */
    for (char *p = buf; *p; p++)
        if (*p == '"' || *p == '\\' || *p == '\n' || (unsigned char)*p < 0x20)
            *p = '?';
}

static size_t add(tls_expiry_t *out, size_t n, size_t max, const char *what, const X509_NAME *name,
                  const ASN1_TIME *t)
{
    if (n >= max || asn1_to_time(t, &out[n].at) != 0)
        return n;
    out[n].what = what;
    name_of(name, out[n].name, sizeof(out[n].name));
    return n + 1;
}

size_t tls_expiry_list(SSL_CTX *ctx, tls_expiry_t *out, size_t max)
{
    size_t n = 0;
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    if (leaf)
        n = add(out, n, max, "node_cert", X509_get_subject_name(leaf), X509_get0_notAfter(leaf));
    STACK_OF(X509) *chain = NULL;
    if (SSL_CTX_get0_chain_certs(ctx, &chain) == 1)
        for (int i = 0; chain && i < sk_X509_num(chain); i++) {
            X509 *ca = sk_X509_value(chain, i);
            n = add(out, n, max, "org_ca", X509_get_subject_name(ca), X509_get0_notAfter(ca));
        }
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    if (!store || !X509_STORE_lock(store))
        return n;
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
        X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
        X509 *x = X509_OBJECT_get0_X509(o);
        X509_CRL *crl = X509_OBJECT_get0_X509_CRL(o);
        if (x)
            n = add(out, n, max, "root_ca", X509_get_subject_name(x), X509_get0_notAfter(x));
        else if (crl && X509_CRL_get0_nextUpdate(crl))
            n = add(out, n, max, "crl", X509_CRL_get_issuer(crl), X509_CRL_get0_nextUpdate(crl));
    }
    X509_STORE_unlock(store);
    return n;
}
