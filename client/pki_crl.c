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
        pki_revoked_t *r = NULL;
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

    const X509_NAME *issuer = ca->cert ? X509_get_subject_name(ca->cert) : ca->name;

    if (!issuer) {
        rc = pki_fail(err, TR_E_INVAL, "%s: a CA without a name cannot sign a CRL", ca->dir);
        goto fail;
    }
    if ((rc = pki_crl_make(issuer, ca->key, list, number, &crl, err)) != 0 ||
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

/* The CA a CRL is of: its issuer name and authorityKeyIdentifier. Two CRLs
 * are of the same CA when both match: an organisation's old and new CA
 * (after a rollover) share a name but not a key. */
static bool same_ca(X509_CRL *a, X509_CRL *b)
{
    if (X509_NAME_cmp(X509_CRL_get_issuer(a), X509_CRL_get_issuer(b)) != 0)
        return false;
    AUTHORITY_KEYID *ka = X509_CRL_get_ext_d2i(a, NID_authority_key_identifier, NULL, NULL);
    AUTHORITY_KEYID *kb = X509_CRL_get_ext_d2i(b, NID_authority_key_identifier, NULL, NULL);
    bool same =
        ka && kb && ka->keyid && kb->keyid && ASN1_OCTET_STRING_cmp(ka->keyid, kb->keyid) == 0;
    AUTHORITY_KEYID_free(ka);
    AUTHORITY_KEYID_free(kb);
    return same;
}

/* Push the CRLs of an organisation: its current CA's, then its retired ones'
 * (kept so records and certificates of a rolled-over CA stay verifiable). */
static int push_org(STACK_OF(X509_CRL) * crls, const char *dir, const char *org, pki_err_t *err)
{
    int rc;
    char org_dir[PATH_MAX], path[PATH_MAX];
    char **retired = NULL;
    size_t n = 0;

    if ((rc = pki_path(org_dir, sizeof(org_dir), err, "%s/orgs/%s", dir, org)) != 0 ||
        (rc = pki_path(path, sizeof(path), err, "%s/crl.pem", org_dir)) != 0 ||
        (rc = crl_push(crls, path, err)) != 0 ||
        (rc = pki_retired_names(org_dir, &retired, &n, err)) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if ((rc = pki_path(path, sizeof(path), err, "%s/retired/%s/crl.pem", org_dir,
                           retired[i])) != 0 ||
            (rc = crl_push(crls, path, err)) != 0)
            goto fail;
fail:
    pki_names_free(retired, n);
    return rc;
}

/* A member's folder: the consortium's CRLs it imported, except those of CAs
 * it holds itself (its own, newer, were pushed already). */
static int push_imported(STACK_OF(X509_CRL) * crls, const char *dir, pki_err_t *err)
{
    int rc;
    char path[PATH_MAX];
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509_CRL) *imported = NULL;
    int own = sk_X509_CRL_num(crls);

    if ((rc = pki_path(path, sizeof(path), err, "%s/consortium-crl.pem", dir)) != 0)
        return rc;
    if (!pki_exists(path))
        return 0;
    if ((rc = pki_read_pem_all(path, &certs, &imported, err)) != 0)
        goto fail;
    while (sk_X509_CRL_num(imported) > 0) {
        X509_CRL *c = sk_X509_CRL_shift(imported);
        bool held = false;
        for (int i = 0; i < own && !held; i++)
            held = same_ca(c, sk_X509_CRL_value(crls, i));
        if (held || !sk_X509_CRL_push(crls, c)) {
            X509_CRL_free(c);
            if (!held) {
                rc = oom(err);
                goto fail;
            }
        }
    }
fail:
    sk_X509_pop_free(certs, X509_free);
    sk_X509_CRL_pop_free(imported, X509_CRL_free);
    return rc;
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
     * later in every node that loads the bundle. A member's folder has no
     * root: the root's CRL comes with the imported consortium CRLs. */
    if ((rc = pki_path(path, sizeof(path), err, "%s/root/crl.pem", dir)) != 0 ||
        (pki_exists(path) && (rc = crl_push(crls, path, err)) != 0) ||
        (rc = pki_org_names(dir, &orgs, &n_orgs, err)) != 0)
        goto fail;
    for (size_t i = 0; i < n_orgs; i++)
        if ((rc = push_org(crls, dir, orgs[i], err)) != 0)
            goto fail;
    if ((rc = push_imported(crls, dir, err)) != 0 ||
        (rc = pki_path(path, sizeof(path), err, "%s/crl.pem", dir)) != 0)
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

int pki_crl_make(const X509_NAME *issuer, EVP_PKEY *ca_key, const pki_revoked_list_t *list,
                 long number, X509_CRL **out, pki_err_t *err)
{
    int rc = TR_E_CERT;
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *last = NULL, *next = NULL;
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
    unsigned char key_id[SHA_DIGEST_LENGTH];
    time_t now = time(NULL);

    *out = NULL;
    if (!crl || !num || !aki) {
        rc = pki_fail_ssl(err, TR_E_NOMEM, "cannot allocate a CRL");
        goto fail;
    }
    last = X509_time_adj_ex(NULL, 0, 0, &now);
    next = X509_time_adj_ex(NULL, PKI_CRL_DAYS, 0, &now);
    if (!last || !next || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
        !X509_CRL_set_issuer_name(crl, issuer) || !X509_CRL_set1_lastUpdate(crl, last) ||
        !X509_CRL_set1_nextUpdate(crl, next)) {
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot fill in the CRL");
        goto fail;
    }
    for (size_t i = 0; i < list->n; i++)
        if ((rc = crl_add_entry(crl, &list->items[i], err)) != 0)
            goto fail;
    /* The key id from the key itself, equal to the CA certificate's SKI: a
     * new organisation CA signs its first CRL before it has a certificate. */
    if ((rc = pki_key_id(ca_key, key_id, err)) != 0)
        goto fail;
    if (!(aki->keyid = ASN1_OCTET_STRING_new()) ||
        !ASN1_OCTET_STRING_set(aki->keyid, key_id, sizeof(key_id)) ||
        !ASN1_INTEGER_set(num, number) ||
        X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, X509V3_ADD_DEFAULT) != 1 ||
        X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, aki, 0, X509V3_ADD_DEFAULT) != 1) {
        rc = TR_E_CERT;
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
    AUTHORITY_KEYID_free(aki);
    ASN1_INTEGER_free(num);
    ASN1_TIME_free(next);
    ASN1_TIME_free(last);
    X509_CRL_free(crl);
    return rc;
}

bool pki_root_revoked(const char *dir, X509 *root, X509 *cert)
{
    char path[PATH_MAX];
    pki_err_t ignored;
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509_CRL) *crls = NULL;
    bool revoked = false;

    /* A member's folder holds no root/revoked.json: the root's CRL in the
     * bundle is what every node checks, so it is what counts here too. */
    if (pki_path(path, sizeof(path), &ignored, "%s/crl.pem", dir) != 0 ||
        pki_read_pem_all(path, &certs, &crls, &ignored) != 0)
        return false;
    for (int i = 0; i < sk_X509_CRL_num(crls) && !revoked; i++) {
        X509_CRL *crl = sk_X509_CRL_value(crls, i);
        X509_REVOKED *entry = NULL;
        revoked = X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(root)) == 0 &&
                  X509_CRL_verify(crl, X509_get0_pubkey(root)) == 1 &&
                  X509_CRL_get0_by_cert(crl, &entry, cert) == 1;
    }
    ERR_clear_error();
    sk_X509_pop_free(certs, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    return revoked;
}
