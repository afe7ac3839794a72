/* Keys and certificates built to Trellis's certificate profile
 * (docs/certificate-profile.md). proto/tr_identity.c reads what this writes. */
#include "pki_internal.h"
#include "tr_error.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* The profile, one row per kind of certificate: keep it in step with the
 * table in docs/certificate-profile.md. Extension values use OpenSSL's
 * config syntax; they are constants here, never user input. */
typedef struct {
    const char *ou;
    int days;
    const char *basic_constraints;
    const char *key_usage;
    const char *ext_key_usage; /* NULL: none (CAs are not TLS endpoints) */
    bool aki;                  /* every certificate but the self-signed root */
    bool san;                  /* DNS:NAME plus every --host */
} profile_t;

static const profile_t profile[] = {
    [PKI_ROOT] = {"root", 3650, "critical,CA:TRUE,pathlen:1", "critical,keyCertSign,cRLSign", NULL,
                  false, false},
    [PKI_ORG_CA] = {"ca", 1825, "critical,CA:TRUE,pathlen:0", "critical,keyCertSign,cRLSign", NULL,
                    true, false},
    [PKI_NODE] = {"node", 397, "critical,CA:FALSE", "critical,digitalSignature",
                  "serverAuth,clientAuth", true, true},
    [PKI_AGENT] = {"agent", 397, "critical,CA:FALSE", "critical,digitalSignature", "clientAuth",
                   true, false},
};

__attribute__((format(printf, 2, 0))) static void vfail(pki_err_t *err, const char *fmt, va_list ap)
{
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int pki_fail(pki_err_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, fmt, ap);
    va_end(ap);
    return code;
}

int pki_fail_ssl(pki_err_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, fmt, ap);
    va_end(ap);
    unsigned long e = ERR_get_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (reason) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", reason);
    }
    ERR_clear_error();
    return code;
}

const char *pki_kind_ou(pki_kind_t kind)
{
    return profile[kind].ou;
}

int pki_kind_days(pki_kind_t kind)
{
    return profile[kind].days;
}

/* A DNS host name as RFC 1123 allows: labels of letters, digits and inner
 * hyphens, 1-63 long, 253 in all, no trailing dot and no wildcard. */
static bool dns_name_valid(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (isalnum(c) || (c == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0 && s[n - 1] != '-';
}

/* Binary form of an IP address; 4, 16, or 0 if host is not an address. */
static int parse_ip(const char *host, unsigned char buf[16])
{
    if (inet_pton(AF_INET, host, buf) == 1)
        return 4;
    if (inet_pton(AF_INET6, host, buf) == 1)
        return 16;
    return 0;
}

bool pki_host_valid(const char *host)
{
    unsigned char buf[16];
    return parse_ip(host, buf) > 0 || dns_name_valid(host);
}

int pki_key_new(EVP_PKEY **out, pki_err_t *err)
{
    /* Named-curve encoding is OpenSSL 3's default, which X509_STRICT wants. */
    *out = EVP_EC_gen("P-256");
    if (!*out)
        return pki_fail_ssl(err, TR_E_CERT, "cannot generate a P-256 key");
    return 0;
}

static int set_random_serial(X509 *x, pki_err_t *err)
{
    int rc = TR_E_CERT;
    unsigned char b[16];
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;

    if (RAND_bytes(b, sizeof(b)) != 1) {
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot draw a random serial");
        goto fail;
    }
    /* Positive (top bit clear) and exactly 16 bytes in DER (first byte not 0). */
    b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);
    bn = BN_bin2bn(b, sizeof(b), NULL);
    serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    if (!serial || !X509_set_serialNumber(x, serial)) {
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot set the serial number");
        goto fail;
    }
    rc = 0;
fail:
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return rc;
}

static int name_add(X509_NAME *name, int nid, const char *value, pki_err_t *err)
{
    if (!X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (const unsigned char *)value, -1, -1,
                                    0))
        return pki_fail_ssl(err, TR_E_CERT, "cannot put \"%s\" in the subject %s", value,
                            OBJ_nid2sn(nid));
    return 0;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, pki_err_t *err)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok = ext && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    if (!ok)
        return pki_fail_ssl(err, TR_E_CERT, "cannot add %s", OBJ_nid2sn(nid));
    return 0;
}

/* Append host to gens as an IP or DNS name, unless the same name is there. */
static int san_push(GENERAL_NAMES *gens, const char *host, pki_err_t *err)
{
    int rc = TR_E_CERT;
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_STRING *value = NULL;
    unsigned char ip[16];
    char lower[254];
    int iplen = parse_ip(host, ip);

    if (!gn)
        goto fail_ssl;
    if (iplen > 0) {
        value = ASN1_OCTET_STRING_new();
        if (!value || !ASN1_OCTET_STRING_set(value, ip, iplen))
            goto fail_ssl;
        GENERAL_NAME_set0_value(gn, GEN_IPADD, value);
    } else {
        /* DNS names compare case-insensitively: store them lower-case so the
         * duplicate check below sees "Node1" and "node1" as one name. */
        size_t n = strlen(host);
        if (n >= sizeof(lower)) {
            rc = pki_fail(err, TR_E_INVAL, "host name too long: %s", host);
            goto fail;
        }
        for (size_t i = 0; i <= n; i++)
            lower[i] = (char)tolower((unsigned char)host[i]);
        value = ASN1_IA5STRING_new();
        if (!value || !ASN1_STRING_set(value, lower, (int)n))
            goto fail_ssl;
        GENERAL_NAME_set0_value(gn, GEN_DNS, value);
    }
    value = NULL; /* gn owns it now */
    for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++)
        if (GENERAL_NAME_cmp(sk_GENERAL_NAME_value(gens, i), gn) == 0) {
            GENERAL_NAME_free(gn);
            return 0;
        }
    if (!sk_GENERAL_NAME_push(gens, gn))
        goto fail_ssl;
    return 0;
fail_ssl:
    rc = pki_fail_ssl(err, TR_E_CERT, "cannot add subjectAltName %s", host);
fail:
    ASN1_STRING_free(value);
    GENERAL_NAME_free(gn);
    return rc;
}

static int add_san(X509 *x, const pki_cert_req_t *req, pki_err_t *err)
{
    int rc = TR_E_CERT;
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    if (!gens) {
        rc = pki_fail_ssl(err, TR_E_NOMEM, "cannot build subjectAltName");
        goto fail;
    }
    /* The node's own name always comes first, so peers can address it by name. */
    if ((rc = san_push(gens, req->cn, err)) != 0)
        goto fail;
    for (size_t i = 0; i < req->n_hosts; i++)
        if ((rc = san_push(gens, req->hosts[i], err)) != 0)
            goto fail;
    if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1) {
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot add subjectAltName");
        goto fail;
    }
    rc = 0;
fail:
    GENERAL_NAMES_free(gens);
    return rc;
}

static int set_validity(X509 *x, const pki_cert_req_t *req, X509 *issuer, pki_err_t *err)
{
    time_t now = time(NULL);
    int days = req->days > 0 ? req->days : profile[req->kind].days;
    char when[32];

    if (issuer && X509_cmp_time(X509_get0_notAfter(issuer), &now) <= 0) {
        pki_time_str(X509_get0_notAfter(issuer), false, when, sizeof(when));
        return pki_fail(err, TR_E_CERT, "the issuing CA expired on %s", when);
    }
    if (!X509_time_adj_ex(X509_getm_notBefore(x), -req->backdate, 0, &now) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), days - req->backdate, 0, &now))
        return pki_fail_ssl(err, TR_E_CERT, "cannot set the validity period");
    /* A certificate must not outlive its issuer: a chain is only as good as
     * its shortest link, and a later date would only mislead. */
    if (issuer && ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(issuer)) > 0 &&
        !X509_set1_notAfter(x, X509_get0_notAfter(issuer)))
        return pki_fail_ssl(err, TR_E_CERT, "cannot set the validity period");
    return 0;
}

int pki_subject_new(pki_kind_t kind, const char *org, const char *cn, X509_NAME **out,
                    pki_err_t *err)
{
    int rc;
    X509_NAME *name = X509_NAME_new();
    *out = NULL;
    if (!name)
        return pki_fail_ssl(err, TR_E_NOMEM, "cannot allocate a name");
    /* O, OU, CN in this order: what tr_identity_from_chain reads, and what
     * `openssl x509 -subject` shows people. */
    if ((rc = name_add(name, NID_organizationName, org, err)) != 0 ||
        (rc = name_add(name, NID_organizationalUnitName, profile[kind].ou, err)) != 0 ||
        (rc = name_add(name, NID_commonName, cn, err)) != 0) {
        X509_NAME_free(name);
        return rc;
    }
    *out = name;
    return 0;
}

int pki_key_id(EVP_PKEY *key, unsigned char id[SHA_DIGEST_LENGTH], pki_err_t *err)
{
    X509_PUBKEY *pk = NULL;
    const unsigned char *bits;
    int len, rc = 0;
    /* RFC 5280 4.2.1.2 method 1, which is what "subjectKeyIdentifier=hash"
     * computes: SHA-1 of the subjectPublicKey bit string. */
    if (!X509_PUBKEY_set(&pk, key) || !X509_PUBKEY_get0_param(NULL, &bits, &len, NULL, pk) ||
        !SHA1(bits, (size_t)len, id))
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot compute the key's identifier");
    X509_PUBKEY_free(pk);
    return rc;
}

int pki_cert_issue(const pki_cert_req_t *req, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                   X509 **out, pki_err_t *err)
{
    int rc = TR_E_CERT;
    const profile_t *prof = &profile[req->kind];
    X509 *x = X509_new();
    X509_NAME *name = NULL;
    X509V3_CTX ctx;

    *out = NULL;
    if (!x) {
        rc = pki_fail_ssl(err, TR_E_NOMEM, "cannot allocate a certificate");
        goto fail;
    }
    if (!X509_set_version(x, X509_VERSION_3)) {
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot set the version");
        goto fail;
    }
    if ((rc = set_random_serial(x, err)) != 0)
        goto fail;
    if ((rc = pki_subject_new(req->kind, req->org, req->cn, &name, err)) != 0)
        goto fail;
    if (!X509_set_subject_name(x, name) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
        !X509_set_pubkey(x, key)) {
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot set subject, issuer or key");
        goto fail;
    }
    if ((rc = set_validity(x, req, issuer, err)) != 0)
        goto fail;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    if ((rc = add_ext(x, &ctx, NID_basic_constraints, prof->basic_constraints, err)) != 0 ||
        (rc = add_ext(x, &ctx, NID_key_usage, prof->key_usage, err)) != 0)
        goto fail;
    if (prof->ext_key_usage &&
        (rc = add_ext(x, &ctx, NID_ext_key_usage, prof->ext_key_usage, err)) != 0)
        goto fail;
    if (prof->san && (rc = add_san(x, req, err)) != 0)
        goto fail;
    if ((rc = add_ext(x, &ctx, NID_subject_key_identifier, "hash", err)) != 0)
        goto fail;
    if (prof->aki &&
        (rc = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", err)) != 0)
        goto fail;

    if (X509_sign(x, issuer ? issuer_key : key, EVP_sha256()) <= 0) {
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot sign the certificate");
        goto fail;
    }
    X509_NAME_free(name);
    *out = x;
    return 0;
fail:
    X509_NAME_free(name);
    X509_free(x);
    return rc;
}

int pki_check_chain(X509 *leaf, X509 *org_ca, X509 *root, const char *org, const char *name,
                    tr_role_t role, pki_err_t *err)
{
    int rc = TR_E_CERT;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    tr_identity_t id;
    char why[128];

    if (!store || !ctx || !untrusted || !X509_STORE_add_cert(store, root) ||
        !sk_X509_push(untrusted, org_ca) || !X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
        rc = pki_fail_ssl(err, TR_E_NOMEM, "cannot set up chain verification");
        goto fail;
    }
    /* The node checks time and CRLs itself; here we check the structure, and
     * a deliberately backdated (expired) test certificate must still pass. */
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
                                X509_V_FLAG_X509_STRICT | X509_V_FLAG_NO_CHECK_TIME);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    if (X509_verify_cert(ctx) != 1) {
        rc = pki_fail(err, TR_E_CERT, "issued certificate does not verify: %s",
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto fail;
    }
    if (tr_identity_from_chain(X509_STORE_CTX_get0_chain(ctx), &id, why, sizeof(why)) != 0) {
        rc = pki_fail(err, TR_E_IDENTITY, "issued certificate carries no identity: %s", why);
        goto fail;
    }
    if (strcmp(id.org, org) != 0 || strcmp(id.name, name) != 0 || id.role != role) {
        rc = pki_fail(err, TR_E_IDENTITY, "issued certificate reads back as %s %s of %s",
                      tr_role_name(id.role), id.name, id.org);
        goto fail;
    }
    if (role == TR_ROLE_NODE && X509_check_purpose(leaf, X509_PURPOSE_SSL_SERVER, 0) != 1) {
        rc = pki_fail(err, TR_E_CERT, "issued node certificate is not fit for a TLS server");
        goto fail;
    }
    rc = 0;
fail:
    ERR_clear_error();
    sk_X509_free(untrusted); /* borrowed certificates: free the stack only */
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

void pki_name_str(const X509_NAME *name, char *out, size_t len)
{
    /* "O=acme, OU=node, CN=alpha": OpenSSL's one-line form without spaces
     * around '=', and UTF-8 shown as is rather than escaped. */
    unsigned long flags =
        (XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ & ~ASN1_STRFLGS_ESC_MSB) | ASN1_STRFLGS_UTF8_CONVERT;
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    out[0] = '\0';
    if (mem && X509_NAME_print_ex(mem, name, 0, flags) >= 0)
        n = BIO_get_mem_data(mem, &data);
    if (n > 0)
        snprintf(out, len, "%.*s", (int)n, data);
    BIO_free(mem);
}

void pki_time_str(const ASN1_TIME *t, bool date_only, char *out, size_t len)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm) ||
        strftime(out, len, date_only ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, len, "?");
}

int pki_serial_hex(const X509 *cert, char *out, size_t len)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    int rc = 0;
    if (!hex || strlen(hex) >= len)
        rc = TR_E_CERT;
    else
        snprintf(out, len, "%s", hex);
    OPENSSL_free(hex);
    BN_free(bn);
    return rc;
}
