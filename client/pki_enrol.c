/* Joining a consortium without handing over keys: a member makes its
 * organisation CA's key and a certificate request in its own folder
 * (request-org), the coordinator signs it with the root (sign-org) and sends
 * back a bundle (the certificate, the root, the consortium's CRLs) that the
 * member imports (import-org); the member's later CRLs come back to the
 * coordinator with add-crl. No private key leaves the folder it was made in.
 * The same requests, with --rollover, replace an organisation's CA. */
#include "pki_internal.h"
#include "tr_error.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REQUEST_MAX_BYTES (64 * 1024) /* a CSR and a CRL are a few kB */

/* ---- what travels: a request (CSR + the new CA's first CRL), a bundle ---- */

typedef struct {
    X509_REQ *csr;
    X509_CRL *crl;   /* the new CA's first CRL, signed by the requested key */
    X509_CRL *proof; /* a rollover's: the current CA's CRL, freshly signed by the
                      * current CA key, which vouches for the request */
} request_t;

static int emit_request(BIO *out, const void *arg)
{
    const request_t *r = arg;
    if (!PEM_write_bio_X509_REQ(out, r->csr) || !PEM_write_bio_X509_CRL(out, r->crl))
        return TR_E_IO;
    return !r->proof || PEM_write_bio_X509_CRL(out, r->proof) ? 0 : TR_E_IO;
}

typedef struct {
    X509 *org_ca, *root;
    STACK_OF(X509_CRL) * crls;
} bundle_t;

static int emit_bundle(BIO *out, const void *arg)
{
    const bundle_t *b = arg;
    if (!PEM_write_bio_X509(out, b->org_ca) || !PEM_write_bio_X509(out, b->root))
        return TR_E_IO;
    for (int i = 0; i < sk_X509_CRL_num(b->crls); i++)
        if (!PEM_write_bio_X509_CRL(out, sk_X509_CRL_value(b->crls, i)))
            return TR_E_IO;
    return 0;
}

static int emit_crl_stack(BIO *out, const void *arg)
{
    const STACK_OF(X509_CRL) *crls = arg;
    for (int i = 0; i < sk_X509_CRL_num(crls); i++)
        if (!PEM_write_bio_X509_CRL(out, sk_X509_CRL_value(crls, i)))
            return TR_E_IO;
    return 0;
}

/* The one value of nid in name; false if absent or repeated. */
static bool name_field(const X509_NAME *name, int nid, char *out, size_t len)
{
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    if (i < 0 || X509_NAME_get_index_by_NID(name, nid, i) >= 0)
        return false;
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    int n = ASN1_STRING_length(s);
    if (n <= 0 || (size_t)n >= len || memchr(ASN1_STRING_get0_data(s), '\0', (size_t)n))
        return false;
    memcpy(out, ASN1_STRING_get0_data(s), (size_t)n);
    out[n] = '\0';
    return true;
}

/* The organisation an organisation CA's subject names: exactly O=ORG, OU=ca,
 * CN="ORG CA", ORG a valid name. */
static bool org_ca_subject(const X509_NAME *name, char org[TR_NAME_MAX + 1])
{
    char ou[16], cn[TR_NAME_MAX + 8], want[TR_NAME_MAX + 8];
    if (X509_NAME_entry_count(name) != 3 ||
        !name_field(name, NID_organizationName, org, TR_NAME_MAX + 1) || !tr_name_valid(org) ||
        !name_field(name, NID_organizationalUnitName, ou, sizeof(ou)) ||
        strcmp(ou, pki_kind_ou(PKI_ORG_CA)) != 0 ||
        !name_field(name, NID_commonName, cn, sizeof(cn)))
        return false;
    snprintf(want, sizeof(want), "%s CA", org);
    return strcmp(cn, want) == 0;
}

/* docs/certificate-profile.md: every key is ECDSA P-256. */
static bool key_is_p256(EVP_PKEY *key)
{
    char group[32] = "";
    size_t len = 0;
    bool ok = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
              EVP_PKEY_get_group_name(key, group, sizeof(group), &len) == 1 &&
              (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0);
    ERR_clear_error();
    return ok;
}

static long crl_number(X509_CRL *crl)
{
    ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    long v = n ? ASN1_INTEGER_get(n) : 0;
    ASN1_INTEGER_free(n);
    return v;
}

/* The request file: its CSR, then the CRL the new key signed. */
static int read_request(const char *path, request_t *r, pki_err_t *err)
{
    int rc = 0;
    BIO *bio = BIO_new_file(path, "r");
    char buf[REQUEST_MAX_BYTES + 1];
    int n;

    memset(r, 0, sizeof(*r));
    if (!bio)
        return pki_fail(err, errno == ENOENT ? TR_E_NOT_FOUND : TR_E_IO, "cannot read %s: %s", path,
                        strerror(errno));
    n = BIO_read(bio, buf, sizeof(buf));
    BIO_free(bio);
    if (n > REQUEST_MAX_BYTES)
        return pki_fail(err, TR_E_INVAL, "%s is larger than a request (%d bytes at most)", path,
                        REQUEST_MAX_BYTES);
    if (n <= 0 || !(bio = BIO_new_mem_buf(buf, n)))
        return pki_fail(err, TR_E_INVAL, "%s is empty", path);
    if (!(r->csr = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL)))
        rc = pki_fail_ssl(err, TR_E_CERT,
                          "%s holds no certificate request (make one with `trellis pki "
                          "request-org ORG`)",
                          path);
    else if (!(r->crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)))
        rc = pki_fail_ssl(err, TR_E_CERT,
                          "%s holds no CRL after the request: it is not what `trellis pki "
                          "request-org` writes",
                          path);
    else
        r->proof = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL); /* a rollover's only */
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

static void request_free(request_t *r)
{
    X509_REQ_free(r->csr);
    X509_CRL_free(r->crl);
    X509_CRL_free(r->proof);
    memset(r, 0, sizeof(*r));
}

/* ---- request-org: on the member's machine ---- */

int pki_cmd_request_org(const pki_args_t *a, pki_err_t *err)
{
    int rc, lock = -1;
    const char *org = a->pos[0];
    char cn[TR_NAME_MAX + 8], org_dir[PATH_MAX], key[PATH_MAX], crl[PATH_MAX], rev[PATH_MAX];
    char req_path[PATH_MAX], path[PATH_MAX];
    pki_ca_t ca = {0};
    pki_revoked_list_t list = {0};
    request_t r = {0};
    static pki_undo_t undo;

    snprintf(cn, sizeof(cn), "%s CA", org);
    if ((rc = pki_path(org_dir, sizeof(org_dir), err, "%s/orgs/%s", a->dir, org)) != 0 ||
        (rc = pki_path(ca.dir, sizeof(ca.dir), err, a->rollover ? "%s/next" : "%s", org_dir)) !=
            0 ||
        (rc = pki_path(key, sizeof(key), err, "%s/ca.key", ca.dir)) != 0 ||
        (rc = pki_path(crl, sizeof(crl), err, "%s/crl.pem", ca.dir)) != 0 ||
        (rc = pki_path(rev, sizeof(rev), err, "%s/revoked.json", ca.dir)) != 0 ||
        (rc = pki_path(req_path, sizeof(req_path), err, "%s/request.pem", ca.dir)) != 0 ||
        (rc = pki_mkdirs(ca.dir, err)) != 0 || (rc = pki_lock(a->dir, true, &lock, err)) != 0)
        goto fail;
    if (a->rollover) {
        /* A rollover replaces a CA this folder holds: its key must be here. */
        if ((rc = pki_path(path, sizeof(path), err, "%s/ca.crt", org_dir)) != 0)
            goto fail;
        if (!pki_exists(path)) {
            rc = pki_fail(err, TR_E_NOT_FOUND,
                          "organisation %s has no CA in %s to roll over (%s): for a first CA, "
                          "request-org %s without --rollover",
                          org, a->dir, path, org);
            goto fail;
        }
        if (pki_exists(key)) {
            rc = pki_fail(err, TR_E_INVAL,
                          "a rollover request for %s is already waiting (%s): send it to the "
                          "coordinator, or remove %s to start again",
                          org, req_path, ca.dir);
            goto fail;
        }
    } else if (pki_exists(key)) {
        if ((rc = pki_path(path, sizeof(path), err, "%s/ca.crt", org_dir)) != 0)
            goto fail;
        rc = pki_exists(path) ? pki_fail(err, TR_E_INVAL,
                                         "organisation %s already has a CA in %s; to replace it: "
                                         "request-org %s --rollover",
                                         org, a->dir, org)
                              : pki_fail(err, TR_E_INVAL,
                                         "a request for %s is already waiting (%s): send it to the "
                                         "coordinator, then import-org the bundle that comes back",
                                         org, req_path);
        goto fail;
    }
    if ((rc = pki_key_new(&ca.key, err)) != 0 ||
        (rc = pki_subject_new(PKI_ORG_CA, org, cn, &ca.name, err)) != 0)
        goto fail;
    if (!(r.csr = X509_REQ_new()) || !X509_REQ_set_version(r.csr, 0) ||
        !X509_REQ_set_subject_name(r.csr, ca.name) || !X509_REQ_set_pubkey(r.csr, ca.key) ||
        X509_REQ_sign(r.csr, ca.key, EVP_sha256()) <= 0) {
        rc = pki_fail_ssl(err, TR_E_CERT, "cannot make the certificate request");
        goto fail;
    }
    if ((rc = pki_write_file(key, 0600, false, pki_emit_ca_key, ca.key, err)) != 0)
        goto fail;
    pki_undo_add(&undo, key);
    /* The new CA's first CRL, signed now with its key (its name and key id
     * are known before its certificate is): it travels with the request, so
     * the coordinator's bundle covers the new CA from the first day. */
    pki_undo_add(&undo, crl);
    pki_undo_add(&undo, rev);
    if ((rc = pki_crl_publish(&ca, &list, err)) != 0 || (rc = pki_read_crl(crl, &r.crl, err)) != 0)
        goto fail;
    /* A rollover request is vouched for by the current CA key: its CRL,
     * re-signed now, goes with the request. Anyone can send the coordinator
     * a request naming ORG; only ORG holds this key. */
    if (a->rollover) {
        pki_ca_t cur = {0};
        pki_revoked_list_t cur_list = {0};
        if ((rc = pki_ca_load(&cur, org_dir, true, err)) == 0 &&
            (rc = pki_revoked_load(org_dir, &cur_list, err)) == 0 &&
            (rc = pki_crl_publish(&cur, &cur_list, err)) == 0 &&
            (rc = pki_path(path, sizeof(path), err, "%s/crl.pem", org_dir)) == 0)
            rc = pki_read_crl(path, &r.proof, err);
        pki_revoked_free(&cur_list);
        pki_ca_close(&cur);
        if (rc != 0)
            goto fail;
    }
    if ((rc = pki_write_file(req_path, 0644, false, emit_request, &r, err)) != 0)
        goto fail;
    pki_undo_add(&undo, req_path);

    printf("made organisation %s's %sCA key and its certificate request\n", org,
           a->rollover ? "new " : "");
    printf("  %s  private key (mode 0600): it never leaves this machine\n", key);
    printf("  %s  the request and the new CA's first CRL\n", req_path);
    printf("send %s to the consortium's coordinator, who runs:\n", req_path);
    printf("  trellis pki sign-org request.pem%s\n", a->rollover ? " --rollover" : "");
    printf("then import the bundle that comes back: trellis pki import-org BUNDLE\n");
fail:
    if (rc != 0)
        pki_undo_run(&undo);
    pki_unlock(lock);
    request_free(&r);
    pki_revoked_free(&list);
    pki_ca_close(&ca);
    return rc;
}

/* ---- sign-org: on the coordinator's machine ---- */

/* Check a request as docs/certificate-profile.md wants an organisation CA:
 * self-signature, subject, key type, and a CRL signed by the same key. */
static int check_request(const char *path, const request_t *r, char org[TR_NAME_MAX + 1],
                         pki_err_t *err)
{
    EVP_PKEY *key = X509_REQ_get0_pubkey(r->csr);
    int ok;
    if (!key)
        return pki_fail_ssl(err, TR_E_CERT, "%s: the request carries no readable key", path);
    ok = X509_REQ_verify(r->csr, key);
    ERR_clear_error();
    if (ok != 1)
        return pki_fail(err, TR_E_CERT,
                        "%s: the request's signature does not verify: it was altered after it "
                        "was made (tampered or damaged); ask for a new one",
                        path);
    if (!org_ca_subject(X509_REQ_get_subject_name(r->csr), org))
        return pki_fail(err, TR_E_CERT,
                        "%s: the request's subject is not an organisation CA's (O=ORG, OU=ca, "
                        "CN=ORG CA, ORG 1-%d of a-z, 0-9 and '-')",
                        path, TR_NAME_MAX);
    if (!key_is_p256(key))
        return pki_fail(err, TR_E_CERT,
                        "%s: the request's key is not ECDSA P-256, the only key the profile "
                        "allows",
                        path);
    ok = X509_NAME_cmp(X509_CRL_get_issuer(r->crl), X509_REQ_get_subject_name(r->csr)) == 0 &&
         X509_CRL_verify(r->crl, key) == 1;
    ERR_clear_error();
    if (!ok)
        return pki_fail(err, TR_E_CERT,
                        "%s: the CRL in the request is not signed by the requested key "
                        "(tampered or damaged)",
                        path);
    return 0;
}

/* A rollover must come from whoever holds the organisation's current CA key
 * (its CRL in the request, signed by that key), unless the root has revoked
 * that CA: a lost or stolen key is revoked first, then replaced. */
static int check_vouched(const char *path, const request_t *r, X509 *current, const char *dir,
                         const char *org, pki_err_t *err)
{
    char anchor[PATH_MAX];
    X509 *root = NULL;
    bool revoked = false, ok;
    int rc = pki_path(anchor, sizeof(anchor), err, "%s/ca.crt", dir);
    if (rc == 0 && (rc = pki_read_cert(anchor, &root, err)) == 0)
        revoked = pki_root_revoked(dir, root, current);
    X509_free(root);
    if (rc != 0 || revoked)
        return rc;
    ok = r->proof &&
         X509_NAME_cmp(X509_CRL_get_issuer(r->proof), X509_get_subject_name(current)) == 0 &&
         X509_CRL_verify(r->proof, X509_get0_pubkey(current)) == 1;
    ERR_clear_error();
    if (!ok)
        return pki_fail(err, TR_E_CERT,
                        "%s is not vouched for by organisation %s's current CA key (`trellis pki "
                        "request-org %s --rollover` in %s's folder adds that): refusing the "
                        "rollover. If that key is lost or stolen, revoke the current CA first "
                        "(trellis pki revoke orgs/%s/ca.crt), then sign",
                        path, org, org, org, org);
    return 0;
}

int pki_cmd_sign_org(const pki_args_t *a, pki_err_t *err)
{
    int rc, lock = -1;
    const char *file = a->pos[0];
    char org[TR_NAME_MAX + 1] = "", org_dir[PATH_MAX], crt[PATH_MAX], key[PATH_MAX];
    char crl[PATH_MAX], bundle_path[PATH_MAX], path[PATH_MAX], retired[PATH_MAX] = "";
    char cn[TR_NAME_MAX + 8], until[32];
    request_t r = {0};
    pki_ca_t root = {0};
    X509 *current = NULL;
    X509_CRL *held = NULL;
    pki_cert_req_t req = {.kind = PKI_ORG_CA, .cn = cn, .backdate = a->backdate};
    bundle_t b = {0};
    STACK_OF(X509) *certs = NULL;
    static pki_undo_t undo;
    static const char *const ca_files[] = {"ca.crt", "ca.key", "crl.pem", "revoked.json", NULL};

    if ((rc = pki_path(path, sizeof(path), err, "%s/root/ca.key", a->dir)) != 0)
        goto fail;
    if (!pki_exists(path)) {
        rc = pki_fail(err, TR_E_NOT_FOUND,
                      "%s holds no root key (%s): `trellis pki sign-org` runs in the "
                      "coordinator's folder",
                      a->dir, path);
        goto fail;
    }
    if ((rc = pki_lock(a->dir, true, &lock, err)) != 0 || (rc = read_request(file, &r, err)) != 0 ||
        (rc = check_request(file, &r, org, err)) != 0)
        goto fail;
    snprintf(cn, sizeof(cn), "%s CA", org);
    req.org = org;
    if ((rc = pki_path(org_dir, sizeof(org_dir), err, "%s/orgs/%s", a->dir, org)) != 0 ||
        (rc = pki_path(crt, sizeof(crt), err, "%s/ca.crt", org_dir)) != 0 ||
        (rc = pki_path(key, sizeof(key), err, "%s/ca.key", org_dir)) != 0 ||
        (rc = pki_path(crl, sizeof(crl), err, "%s/crl.pem", org_dir)) != 0 ||
        (rc = pki_path(bundle_path, sizeof(bundle_path), err, "%s/bundle.pem", org_dir)) != 0)
        goto fail;
    if (pki_exists(crt)) {
        if ((rc = pki_read_cert(crt, &current, err)) != 0)
            goto fail;
        bool same_key = EVP_PKEY_eq(X509_get0_pubkey(current), X509_REQ_get0_pubkey(r.csr)) == 1;
        if (same_key) {
            rc = pki_fail(err, TR_E_INVAL,
                          "organisation %s already has a CA with this very key in %s: the "
                          "request was signed before (its bundle: %s)",
                          org, a->dir, bundle_path);
            goto fail;
        }
        if (!a->rollover) {
            rc = pki_fail(err, TR_E_INVAL,
                          "organisation %s already exists in %s, with a different key: refusing "
                          "it. If %s is replacing its CA, sign the request with --rollover",
                          org, a->dir, org);
            goto fail;
        }
        if ((rc = check_vouched(file, &r, current, a->dir, org, err)) != 0)
            goto fail;
    } else if (a->rollover) {
        rc = pki_fail(err, TR_E_NOT_FOUND,
                      "organisation %s has no CA in %s to roll over: sign its first request "
                      "without --rollover",
                      org, a->dir);
        goto fail;
    } else if (pki_exists(key)) {
        rc = pki_fail(err, TR_E_INVAL, "%s exists without a certificate beside it: fix %s first",
                      key, org_dir);
        goto fail;
    }
    if ((rc = pki_path(root.dir, sizeof(root.dir), err, "%s/root", a->dir)) != 0 ||
        (rc = pki_ca_load(&root, root.dir, true, err)) != 0 ||
        (rc = pki_cert_issue(&req, X509_REQ_get0_pubkey(r.csr), root.cert, root.key, &b.org_ca,
                             err)) != 0)
        goto fail;
    /* A rollover keeps the old CA beside the new one (retired/SERIAL): its
     * CRL stays in the bundle, so certificates it issued keep working until
     * they are renewed and records signed under it stay verifiable. */
    if (a->rollover && (rc = pki_ca_retire(org_dir, retired, sizeof(retired), err)) != 0)
        goto fail;
    /* The vouching CRL is the old CA's newest: it replaces the one held. */
    if (a->rollover && r.proof && X509_CRL_verify(r.proof, X509_get0_pubkey(current)) == 1 &&
        (rc = pki_path(path, sizeof(path), err, "%s/crl.pem", retired)) == 0 &&
        (!pki_exists(path) || pki_read_crl(path, &held, err) != 0 ||
         crl_number(r.proof) > crl_number(held)) &&
        (rc = pki_write_file(path, 0644, true, pki_emit_crl, r.proof, err)) != 0)
        goto fail;
    ERR_clear_error();
    if ((rc = pki_mkdirs(org_dir, err)) != 0 ||
        (rc = pki_write_file(crt, 0644, false, pki_emit_cert, b.org_ca, err)) != 0)
        goto fail;
    pki_undo_add(&undo, crt);
    if ((rc = pki_write_file(crl, 0644, false, pki_emit_crl, r.crl, err)) != 0)
        goto fail;
    pki_undo_add(&undo, crl);
    if ((rc = pki_bundle_write(a->dir, err)) != 0 ||
        (rc = pki_path(path, sizeof(path), err, "%s/crl.pem", a->dir)) != 0 ||
        (rc = pki_read_pem_all(path, &certs, &b.crls, err)) != 0)
        goto fail;
    b.root = root.cert;
    if ((rc = pki_write_file(bundle_path, 0644, true, emit_bundle, &b, err)) != 0)
        goto fail;

    pki_time_str(X509_get0_notAfter(b.org_ca), true, until, sizeof(until));
    printf("signed organisation %s's %sCA, valid until %s\n", org, a->rollover ? "new " : "",
           until);
    printf("  %s  its certificate (its key stays with %s)\n", crt, org);
    printf("  %s  its first CRL, now in %s/crl.pem\n", crl, a->dir);
    if (a->rollover)
        printf("  %s  the old CA: its CRL stays in the bundle\n", retired);
    printf("send %s back to %s (trellis pki import-org bundle.pem);\n", bundle_path, org);
    printf("copy %s/crl.pem to every node and reload them\n", a->dir);
fail:
    if (rc != 0) {
        pki_err_t ignored;
        bool wrote = undo.n > 0 || retired[0];
        pki_undo_run(&undo);
        if (retired[0]) /* the old CA back in place: nothing changed */
            (void)pki_move_files(retired, org_dir, ca_files, &ignored);
        if (wrote)
            (void)pki_bundle_write(a->dir, &ignored);
    }
    pki_unlock(lock);
    sk_X509_pop_free(certs, X509_free);
    sk_X509_CRL_pop_free(b.crls, X509_CRL_free);
    X509_free(b.org_ca);
    X509_free(current);
    X509_CRL_free(held);
    pki_ca_close(&root);
    request_free(&r);
    return rc;
}

/* ---- import-org: back on the member's machine ---- */

/* The bundle's root (self-signed, O=consortium) and organisation CA. */
static int split_bundle(const char *path, STACK_OF(X509) * certs, X509 **root, X509 **org_ca,
                        pki_err_t *err)
{
    *root = *org_ca = NULL;
    if (sk_X509_num(certs) != 2)
        return pki_fail(err, TR_E_CERT,
                        "%s holds %d certificates; a bundle from `trellis pki sign-org` holds "
                        "two (the organisation CA and the root)",
                        path, sk_X509_num(certs));
    for (int i = 0; i < 2; i++) {
        X509 *x = sk_X509_value(certs, i);
        if (pki_issued_by(x, x))
            *root = x;
        else
            *org_ca = x;
    }
    if (!*root || !*org_ca)
        return pki_fail(err, TR_E_CERT, "%s: no root certificate (self-signed) in it", path);
    if (!pki_issued_by(*root, *org_ca))
        return pki_fail(err, TR_E_CERT,
                        "%s: the organisation CA in it is not signed by the root in it "
                        "(tampered or mixed up)",
                        path);
    return 0;
}

/* Where the key a bundle answers is: orgs/ORG (a first CA) or orgs/ORG/next
 * (a rollover), and whether it matches the bundle's certificate. */
static int find_request(const char *dir, const char *org, X509 *org_ca, pki_ca_t *ca,
                        bool *rollover, pki_err_t *err)
{
    int rc;
    char key[PATH_MAX], crt[PATH_MAX];

    *rollover = false;
    if ((rc = pki_path(ca->dir, sizeof(ca->dir), err, "%s/orgs/%s/next", dir, org)) != 0 ||
        (rc = pki_path(key, sizeof(key), err, "%s/ca.key", ca->dir)) != 0)
        return rc;
    if (pki_exists(key)) {
        *rollover = true;
    } else if ((rc = pki_path(ca->dir, sizeof(ca->dir), err, "%s/orgs/%s", dir, org)) != 0 ||
               (rc = pki_path(key, sizeof(key), err, "%s/ca.key", ca->dir)) != 0 ||
               (rc = pki_path(crt, sizeof(crt), err, "%s/ca.crt", ca->dir)) != 0) {
        return rc;
    } else if (!pki_exists(key) || pki_exists(crt)) {
        return pki_fail(err, TR_E_NOT_FOUND,
                        "this bundle is for organisation %s, and %s holds no request waiting "
                        "for %s (`trellis pki request-org %s` makes one): is it another "
                        "organisation's bundle?",
                        org, dir, org, org);
    }
    /* The key is read only to compare it with the certificate. */
    if ((rc = pki_read_key(key, &ca->key, err)) != 0)
        return rc;
    if (X509_check_private_key(org_ca, ca->key) != 1) {
        ERR_clear_error();
        return pki_fail(err, TR_E_CERT,
                        "the bundle's certificate for %s does not match the key of the request "
                        "in %s: it answers another request",
                        org, ca->dir);
    }
    return 0;
}

int pki_cmd_import_org(const pki_args_t *a, pki_err_t *err)
{
    int rc, lock = -1;
    const char *file = a->pos[0];
    char org[TR_NAME_MAX + 1] = "", anchor[PATH_MAX], imported[PATH_MAX], org_dir[PATH_MAX];
    char crt[PATH_MAX], retired[PATH_MAX] = "", path[PATH_MAX];
    STACK_OF(X509) *certs = NULL;
    STACK_OF(X509_CRL) *crls = NULL;
    X509 *root = NULL, *org_ca = NULL, *have_root = NULL;
    pki_ca_t ca = {0};
    bool rollover = false, root_crl = false, swapped = false;
    static const char *const next_files[] = {"ca.key", "crl.pem", "revoked.json", NULL};

    if ((rc = pki_path(anchor, sizeof(anchor), err, "%s/ca.crt", a->dir)) != 0 ||
        (rc = pki_path(imported, sizeof(imported), err, "%s/consortium-crl.pem", a->dir)) != 0 ||
        (rc = pki_lock(a->dir, true, &lock, err)) != 0 ||
        (rc = pki_read_pem_all(file, &certs, &crls, err)) != 0)
        goto fail;
    if (pki_exists(anchor) && (rc = pki_read_cert(anchor, &have_root, err)) != 0)
        goto fail;
    if (sk_X509_num(certs) == 0) {
        /* Only CRLs: the coordinator's monthly DIR/crl.pem. */
        if (!have_root) {
            rc = pki_fail(err, TR_E_NOT_FOUND,
                          "%s holds only CRLs and %s has no consortium yet: import the bundle "
                          "from sign-org first",
                          file, a->dir);
            goto fail;
        }
        root = have_root;
    } else {
        if ((rc = split_bundle(file, certs, &root, &org_ca, err)) != 0)
            goto fail;
        if (have_root && X509_cmp(have_root, root) != 0) {
            rc = pki_fail(err, TR_E_CERT,
                          "%s: its root is not this folder's consortium root (%s): a bundle from "
                          "another consortium?",
                          file, anchor);
            goto fail;
        }
        if (!org_ca_subject(X509_get_subject_name(org_ca), org)) {
            rc = pki_fail(err, TR_E_CERT, "%s: its certificate is not an organisation CA's", file);
            goto fail;
        }
        if ((rc = find_request(a->dir, org, org_ca, &ca, &rollover, err)) != 0)
            goto fail;
    }
    /* The CRLs must be the consortium's: the root's own among them. */
    for (int i = 0; i < sk_X509_CRL_num(crls) && !root_crl; i++) {
        X509_CRL *c = sk_X509_CRL_value(crls, i);
        root_crl = X509_NAME_cmp(X509_CRL_get_issuer(c), X509_get_subject_name(root)) == 0 &&
                   X509_CRL_verify(c, X509_get0_pubkey(root)) == 1;
    }
    ERR_clear_error();
    if (!root_crl) {
        rc = pki_fail(err, TR_E_CERT,
                      "%s holds no CRL signed by the consortium root: not a consortium bundle",
                      file);
        goto fail;
    }
    if (!have_root && (rc = pki_write_file(anchor, 0644, false, pki_emit_cert, root, err)) != 0)
        goto fail;
    if (org_ca) {
        if ((rc = pki_path(org_dir, sizeof(org_dir), err, "%s/orgs/%s", a->dir, org)) != 0 ||
            (rc = pki_path(crt, sizeof(crt), err, "%s/ca.crt", org_dir)) != 0)
            goto fail;
        /* One folder for both sides (the coordinator rolling over an
         * organisation it holds, add-org style): sign-org has already
         * retired the old CA and put the new certificate in place. */
        bool signed_here = false;
        X509 *placed = NULL;
        if (rollover && pki_exists(crt) && pki_read_cert(crt, &placed, err) == 0)
            signed_here = X509_cmp(placed, org_ca) == 0;
        X509_free(placed);
        ERR_clear_error();
        if (rollover && signed_here) {
            static const char *const key_files[] = {"ca.key", "revoked.json", NULL};
            if ((rc = pki_move_files(ca.dir, org_dir, key_files, err)) != 0 ||
                (rc = pki_path(path, sizeof(path), err, "%s/crl.pem", ca.dir)) != 0)
                goto fail;
            unlink(path); /* the same CRL sign-org took from the request */
        } else if (rollover) {
            /* The old CA moves to retired/SERIAL, keeping its key: it goes on
             * re-signing its CRL (refresh-crls) and revoking what it issued. */
            if ((rc = pki_ca_retire(org_dir, retired, sizeof(retired), err)) != 0)
                goto fail;
            swapped = true;
            if ((rc = pki_move_files(ca.dir, org_dir, next_files, err)) != 0)
                goto fail;
        }
        if (!signed_here &&
            (rc = pki_write_file(crt, 0644, false, pki_emit_cert, org_ca, err)) != 0)
            goto fail;
        swapped = false; /* the new CA is in place: from here on, forward only */
        if (rollover && (rc = pki_path(path, sizeof(path), err, "%s/request.pem", ca.dir)) == 0) {
            unlink(path);
            rmdir(ca.dir);
        }
    }
    if ((rc = pki_write_file(imported, 0644, true, emit_crl_stack, crls, err)) != 0 ||
        (rc = pki_bundle_write(a->dir, err)) != 0)
        goto fail;

    if (org_ca) {
        printf("imported organisation %s's %sCA certificate\n", org, rollover ? "new " : "");
        printf("  %s  its certificate; its key is beside it\n", crt);
        if (retired[0])
            printf("  %s  the old CA, kept to re-sign its CRL\n", retired);
    } else {
        printf("imported the consortium's CRLs\n");
    }
    printf("  %s  the consortium root: every node's [tls] ca\n", anchor);
    printf("  %s/crl.pem  every CA's CRL with this folder's own: every node's [tls] crl\n", a->dir);
    if (org_ca)
        printf("next: trellis pki %s %s NAME --host HOST\n", rollover ? "renew-node" : "issue-node",
               org);
fail:
    if (rc != 0 && swapped) {
        /* Half-way through a rollover: the new key back to next/, the old CA
         * back in place, so import-org can simply be run again. */
        static const char *const old_files[] = {"ca.crt", "ca.key", "crl.pem", "revoked.json",
                                                NULL};
        pki_err_t ignored;
        (void)pki_move_files(org_dir, ca.dir, next_files, &ignored);
        (void)pki_move_files(retired, org_dir, old_files, &ignored);
    }
    pki_unlock(lock);
    sk_X509_pop_free(certs, X509_free);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    X509_free(have_root);
    pki_ca_close(&ca);
    return rc;
}

/* ---- add-crl: the coordinator takes a member's new CRL in ---- */

int pki_cmd_add_crl(const pki_args_t *a, pki_err_t *err)
{
    int rc, lock = -1;
    const char *org = a->pos[0], *file = a->pos[1];
    char org_dir[PATH_MAX], path[PATH_MAX], ca_dir[PATH_MAX] = "", next[32];
    char **retired = NULL;
    size_t n_retired = 0;
    X509_CRL *crl = NULL, *have = NULL;
    X509 *cert = NULL;

    if ((rc = pki_path(org_dir, sizeof(org_dir), err, "%s/orgs/%s", a->dir, org)) != 0 ||
        (rc = pki_path(path, sizeof(path), err, "%s/ca.crt", org_dir)) != 0)
        goto fail;
    if (!pki_exists(path)) {
        rc = pki_fail(err, TR_E_NOT_FOUND, "no organisation %s in %s", org, a->dir);
        goto fail;
    }
    if ((rc = pki_lock(a->dir, true, &lock, err)) != 0 ||
        (rc = pki_read_crl(file, &crl, err)) != 0 ||
        (rc = pki_retired_names(org_dir, &retired, &n_retired, err)) != 0)
        goto fail;
    /* Its current CA or a retired one: the one whose key signed it. */
    for (size_t i = 0; i <= n_retired && !ca_dir[0]; i++) {
        if ((rc = pki_path(path, sizeof(path), err, i == 0 ? "%s%s/ca.crt" : "%s/retired/%s/ca.crt",
                           org_dir, i == 0 ? "" : retired[i - 1])) != 0 ||
            (rc = pki_read_cert(path, &cert, err)) != 0)
            goto fail;
        if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(cert)) == 0 &&
            X509_CRL_verify(crl, X509_get0_pubkey(cert)) == 1)
            snprintf(ca_dir, sizeof(ca_dir), "%.*s", (int)(strlen(path) - strlen("/ca.crt")), path);
        ERR_clear_error();
        X509_free(cert);
        cert = NULL;
    }
    if (!ca_dir[0]) {
        rc = pki_fail(err, TR_E_CERT,
                      "%s is not signed by organisation %s's CA (nor by one it retired): "
                      "refusing it",
                      file, org);
        goto fail;
    }
    if (X509_cmp_current_time(X509_CRL_get0_nextUpdate(crl)) <= 0) {
        pki_time_str(X509_CRL_get0_nextUpdate(crl), false, next, sizeof(next));
        rc = pki_fail(err, TR_E_CERT,
                      "%s expired on %s: nodes would refuse it; %s re-signs it with `trellis "
                      "pki refresh-crls`",
                      file, next, org);
        goto fail;
    }
    if ((rc = pki_path(path, sizeof(path), err, "%s/crl.pem", ca_dir)) != 0)
        goto fail;
    if (pki_exists(path) && pki_read_crl(path, &have, err) == 0 &&
        crl_number(crl) < crl_number(have)) {
        /* An older CRL could undo a revocation. */
        rc = pki_fail(err, TR_E_INVAL,
                      "%s is CRL number %ld, older than the one %s holds (%ld): refusing to go "
                      "back",
                      file, crl_number(crl), path, crl_number(have));
        goto fail;
    }
    if ((rc = pki_write_file(path, 0644, true, pki_emit_crl, crl, err)) != 0 ||
        (rc = pki_bundle_write(a->dir, err)) != 0)
        goto fail;
    pki_time_str(X509_CRL_get0_nextUpdate(crl), false, next, sizeof(next));
    printf("took in %s's CRL number %ld (%d revoked, next update %s)\n", org, crl_number(crl),
           sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), next);
    printf("  %s\n", path);
    printf("copy %s/crl.pem to every node and reload them\n", a->dir);
fail:
    ERR_clear_error();
    pki_unlock(lock);
    pki_names_free(retired, n_retired);
    X509_CRL_free(crl);
    X509_CRL_free(have);
    X509_free(cert);
    return rc;
}
