/* Revocation: revoked.json beside each CA (the record), the CA's CRL signed
 * from it, and DIR/crl.pem, the bundle of every CRL that nodes load. */
#include "pki_internal.h"
#include "tr_error.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int oom(pki_err_t *err)
{
    return pki_fail(err, TR_E_NOMEM, "out of memory");
}

static int emit_crls(BIO *out, const void *stack_of_crl)
{
    const STACK_OF(X509_CRL) *crls = stack_of_crl;
    for (int i = 0; i < sk_X509_CRL_num(crls); i++)
        if (!PEM_write_bio_X509_CRL(out, sk_X509_CRL_value(crls, i)))
            return TR_E_IO;
    return 0;
}

void pki_revoked_free(pki_revoked_list_t *list)
{
    free(list->items);
    memset(list, 0, sizeof(*list));
}

static int revoked_push(pki_revoked_list_t *list, pki_revoked_t **slot, pki_err_t *err)
{
    pki_revoked_t *items = realloc(list->items, (list->n + 1) * sizeof(*items));
    if (!items)
        return oom(err);
    list->items = items;
    *slot = &items[list->n++];
    memset(*slot, 0, sizeof(**slot));
    return 0;
}

static bool serial_valid(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < sizeof(((pki_revoked_t *)0)->serial) && strspn(s, "0123456789ABCDEF") == n;
}

int pki_revoked_load(const char *ca_dir, pki_revoked_list_t *list, pki_err_t *err)
{
    int rc = TR_E_CONFIG;
    char path[PATH_MAX];
    json_error_t jerr;
    json_t *root = NULL, *entries, *number;

    memset(list, 0, sizeof(*list));
    if ((rc = pki_path(path, sizeof(path), err, "%s/revoked.json", ca_dir)) != 0)
        return rc;
    if (!pki_exists(path))
        return 0;
    if (!(root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr))) {
        rc = pki_fail(err, TR_E_CONFIG, "%s:%d: %s", path, jerr.line, jerr.text);
        goto fail;
    }
    number = json_object_get(root, "crl_number");
    entries = json_object_get(root, "revoked");
    if (!json_is_integer(number) || json_integer_value(number) < 0 || !json_is_array(entries)) {
        rc = pki_fail(err, TR_E_CONFIG, "%s: needs \"crl_number\" and a \"revoked\" list", path);
        goto fail;
    }
    list->crl_number = (long)json_integer_value(number);
    for (size_t i = 0; i < json_array_size(entries); i++) {
        json_t *e = json_array_get(entries, i);
        const char *serial = json_string_value(json_object_get(e, "serial"));
        const char *when = json_string_value(json_object_get(e, "revoked_at"));
        const char *subject = json_string_value(json_object_get(e, "subject"));
        pki_revoked_t *r;
        if (!serial || !serial_valid(serial) || !when || strlen(when) >= sizeof(r->revoked_at)) {
            rc = pki_fail(err, TR_E_CONFIG,
                          "%s: entry %zu needs a hex \"serial\" and \"revoked_at\"", path, i + 1);
            goto fail;
        }
        if ((rc = revoked_push(list, &r, err)) != 0)
            goto fail;
        snprintf(r->serial, sizeof(r->serial), "%s", serial);
        snprintf(r->revoked_at, sizeof(r->revoked_at), "%s", when);
        snprintf(r->subject, sizeof(r->subject), "%s", subject ? subject : "");
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    pki_revoked_free(list);
    return rc;
}

static int revoked_save(const char *ca_dir, const pki_revoked_list_t *list, pki_err_t *err)
{
    int rc;
    char path[PATH_MAX];
    char *text = NULL;
    json_t *entries = json_array();
    json_t *root = json_object();

    if (!entries || !root) {
        rc = pki_fail(err, TR_E_NOMEM, "cannot build %s/revoked.json", ca_dir);
        goto fail;
    }
    for (size_t i = 0; i < list->n; i++) {
        const pki_revoked_t *r = &list->items[i];
        /* json_pack's "s" copies the strings; append_new takes e. */
        json_t *e = json_pack("{s:s, s:s, s:s}", "serial", r->serial, "revoked_at", r->revoked_at,
                              "subject", r->subject);
        if (!e || json_array_append_new(entries, e) != 0) {
            rc = pki_fail(err, TR_E_NOMEM, "cannot build %s/revoked.json", ca_dir);
            goto fail;
        }
    }
    if (json_object_set_new(root, "crl_number", json_integer(list->crl_number)) != 0 ||
        json_object_set(root, "revoked", entries) != 0 ||
        !(text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
        rc = pki_fail(err, TR_E_NOMEM, "cannot build %s/revoked.json", ca_dir);
        goto fail;
    }
    size_t n = strlen(text);
    char *with_nl = realloc(text, n + 2);
    if (!with_nl) {
        rc = pki_fail(err, TR_E_NOMEM, "cannot build %s/revoked.json", ca_dir);
        goto fail;
    }
    text = with_nl;
    memcpy(text + n, "\n", 2);
    if ((rc = pki_path(path, sizeof(path), err, "%s/revoked.json", ca_dir)) != 0)
        goto fail;
    rc = pki_write_file(path, 0644, true, pki_emit_text, text, err);
fail:
    free(text);
    json_decref(root);
    json_decref(entries);
    return rc;
}

bool pki_revoked_find(const pki_revoked_list_t *list, const char *serial_hex, size_t *idx)
{
    for (size_t i = 0; i < list->n; i++)
        if (strcmp(list->items[i].serial, serial_hex) == 0) {
            if (idx)
                *idx = i;
            return true;
        }
    return false;
}

int pki_revoked_add(pki_revoked_list_t *list, const X509 *cert, pki_err_t *err)
{
    int rc;
    pki_revoked_t *r = NULL;
    char serial[sizeof(r->serial)];
    time_t now = time(NULL);
    struct tm tm;

    if (pki_serial_hex(cert, serial, sizeof(serial)) != 0)
        return pki_fail(err, TR_E_CERT, "cannot read the certificate's serial number");
    if ((rc = revoked_push(list, &r, err)) != 0)
        return rc;
    memcpy(r->serial, serial, sizeof(serial));
    strftime(r->revoked_at, sizeof(r->revoked_at), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    pki_name_str(X509_get_subject_name(cert), r->subject, sizeof(r->subject));
    return 0;
}

/* The number of the CRL now in CA_DIR/crl.pem, 0 if none can be read. */
static long current_crl_number(const char *ca_dir)
{
    char path[PATH_MAX];
    pki_err_t ignored;
    X509_CRL *crl = NULL;
    long number = 0;
    if (pki_path(path, sizeof(path), &ignored, "%s/crl.pem", ca_dir) != 0 ||
        pki_read_crl(path, &crl, &ignored) != 0)
        return 0;
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    if (n)
        number = ASN1_INTEGER_get(n);
    ASN1_INTEGER_free(n);
    X509_CRL_free(crl);
    ERR_clear_error();
    return number > 0 ? number : 0;
}

int pki_crl_publish(const pki_ca_t *ca, pki_revoked_list_t *list, pki_err_t *err)
{
    int rc;
    char path[PATH_MAX];
    X509_CRL *crl = NULL;
    /* The CRL is written before revoked.json; if the second write failed, the
     * published CRL's own number still keeps the sequence increasing. */
    long current = current_crl_number(ca->dir);
    long number = (list->crl_number > current ? list->crl_number : current) + 1;

    if ((rc = pki_crl_make(ca->cert, ca->key, list, number, &crl, err)) != 0 ||
        (rc = pki_path(path, sizeof(path), err, "%s/crl.pem", ca->dir)) != 0 ||
        (rc = pki_write_file(path, 0644, true, pki_emit_crl, crl, err)) != 0)
        goto fail;
    list->crl_number = number;
    rc = revoked_save(ca->dir, list, err);
fail:
    X509_CRL_free(crl);
    return rc;
}

static int crl_push(STACK_OF(X509_CRL) * crls, const char *path, pki_err_t *err)
{
    X509_CRL *crl = NULL;
    int rc = pki_read_crl(path, &crl, err);
    if (rc != 0)
        return rc;
    if (!sk_X509_CRL_push(crls, crl)) {
        X509_CRL_free(crl);
        return oom(err);
    }
    return 0;
}

int pki_bundle_write(const char *dir, pki_err_t *err)
{
    int rc;
    char path[PATH_MAX];
    char **orgs = NULL;
    size_t n_orgs = 0;
    STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();

    if (!crls) {
        rc = oom(err);
        goto fail;
    }
    /* Parse each CRL rather than copy bytes: a damaged file fails here, not
     * later in every node that loads the bundle. */
    if ((rc = pki_path(path, sizeof(path), err, "%s/root/crl.pem", dir)) != 0 ||
        (rc = crl_push(crls, path, err)) != 0 ||
        (rc = pki_org_names(dir, &orgs, &n_orgs, err)) != 0)
        goto fail;
    for (size_t i = 0; i < n_orgs; i++)
        if ((rc = pki_path(path, sizeof(path), err, "%s/orgs/%s/crl.pem", dir, orgs[i])) != 0 ||
            (rc = crl_push(crls, path, err)) != 0)
            goto fail;
    if ((rc = pki_path(path, sizeof(path), err, "%s/crl.pem", dir)) != 0)
        goto fail;
    rc = pki_write_file(path, 0644, true, emit_crls, crls, err);
fail:
    pki_names_free(orgs, n_orgs);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    return rc;
}

/* ---- signing a CRL ---- */

/* "2025-01-31T12:00:00Z" -> ASN1_TIME; OpenSSL parses "20250131120000Z". */
static ASN1_TIME *time_from_iso(const char *iso)
{
    char digits[16];
    size_t n = 0;
    for (const char *p = iso; *p && *p != 'Z'; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n == 14)
                return NULL;
            digits[n++] = *p;
        } else if (*p != '-' && *p != 'T' && *p != ':') {
            return NULL;
        }
    }
    if (n != 14)
        return NULL;
    digits[n++] = 'Z';
    digits[n] = '\0';
    ASN1_TIME *t = ASN1_TIME_new();
    if (t && !ASN1_TIME_set_string_X509(t, digits)) {
        ASN1_TIME_free(t);
        t = NULL;
    }
    return t;
}

static int crl_add_entry(X509_CRL *crl, const pki_revoked_t *r, pki_err_t *err)
{
    int rc = TR_E_CERT;
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_TIME *when = time_from_iso(r->revoked_at);
    X509_REVOKED *rev = X509_REVOKED_new();

    if (!when || !BN_hex2bn(&bn, r->serial) || !(serial = BN_to_ASN1_INTEGER(bn, NULL)) || !rev) {
        rc = pki_fail_ssl(err, TR_E_CERT, "bad revocation record (serial %s, revoked_at %s)",
                          r->serial, r->revoked_at);
        goto fail;
    }
    if (!X509_REVOKED_set_serialNumber(rev, serial) ||
        !X509_REVOKED_set_revocationDate(rev, when) || !X509_CRL_add0_revoked(crl, rev)) {
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot add serial %s to the CRL", r->serial);
        goto fail;
    }
    rev = NULL; /* the CRL owns it */
    rc = 0;
fail:
    X509_REVOKED_free(rev);
    ASN1_TIME_free(when);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return rc;
}

int pki_crl_make(X509 *ca, EVP_PKEY *ca_key, const pki_revoked_list_t *list, long number,
                 X509_CRL **out, pki_err_t *err)
{
    int rc = TR_E_CERT;
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *last = NULL, *next = NULL;
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    X509_EXTENSION *aki = NULL;
    X509V3_CTX ctx;
    time_t now = time(NULL);

    *out = NULL;
    if (!crl || !num) {
        rc = pki_fail_ssl(err, TR_E_NOMEM, "cannot allocate a CRL");
        goto fail;
    }
    last = X509_time_adj_ex(NULL, 0, 0, &now);
    next = X509_time_adj_ex(NULL, PKI_CRL_DAYS, 0, &now);
    if (!last || !next || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
        !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) ||
        !X509_CRL_set1_lastUpdate(crl, last) || !X509_CRL_set1_nextUpdate(crl, next)) {
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot fill in the CRL");
        goto fail;
    }
    for (size_t i = 0; i < list->n; i++)
        if ((rc = crl_add_entry(crl, &list->items[i], err)) != 0)
            goto fail;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
    aki = X509V3_EXT_nconf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    if (!ASN1_INTEGER_set(num, number) ||
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, X509V3_ADD_DEFAULT) != 1 || !aki ||
        !X509_CRL_add_ext(crl, aki, -1)) {
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot add the CRL's extensions");
        goto fail;
    }
    if (!X509_CRL_sort(crl) || X509_CRL_sign(crl, ca_key, EVP_sha256()) <= 0) {
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot sign the CRL");
        goto fail;
    }
    *out = crl;
    crl = NULL;
    rc = 0;
fail:
    X509_EXTENSION_free(aki);
    ASN1_INTEGER_free(num);
    ASN1_TIME_free(next);
    ASN1_TIME_free(last);
    X509_CRL_free(crl);
    return rc;
}
