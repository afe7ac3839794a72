/* `trellis pki list`: what the PKI folder holds, read-only. An unreadable
 * file is shown as such rather than ending the listing. */
#include "pki_internal.h"
#include "tr_error.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void cert_status(X509 *cert, const pki_revoked_list_t *revoked, char *out, size_t len)
{
    char serial[80];
    size_t idx;
    time_t now = time(NULL);

    if (pki_serial_hex(cert, serial, sizeof(serial)) == 0 &&
        pki_revoked_find(revoked, serial, &idx))
        snprintf(out, len, "revoked %s", revoked->items[idx].revoked_at);
    else if (X509_cmp_time(X509_get0_notAfter(cert), &now) < 0)
        snprintf(out, len, "expired");
    else if (X509_cmp_time(X509_get0_notBefore(cert), &now) > 0)
        snprintf(out, len, "not yet valid");
    else
        snprintf(out, len, "valid");
}

/* One table row for the certificate at path; its issuer's revoked list
 * decides whether it is revoked. */
static void print_row(const char *org, const char *kind, const char *name, const char *path,
                      const pki_revoked_list_t *revoked)
{
    X509 *cert = NULL;
    pki_err_t ignored;
    char serial[80] = "?", until[32] = "?", status[64];

    if (pki_read_cert(path, &cert, &ignored) != 0) {
        snprintf(status, sizeof(status), "unreadable (%s)", path);
    } else {
        pki_serial_hex(cert, serial, sizeof(serial));
        pki_time_str(X509_get0_notAfter(cert), true, until, sizeof(until));
        cert_status(cert, revoked, status, sizeof(status));
    }
    printf("%-20s %-6s %-24s %-33s %-11s %s\n", org, kind, name, serial, until, status);
    X509_free(cert);
    ERR_clear_error();
}

static void print_leaves(const char *org_dir, const char *org, const char *sub, const char *kind,
                         const pki_revoked_list_t *revoked)
{
    char folder[PATH_MAX], path[PATH_MAX];
    char **names = NULL;
    size_t n = 0;
    pki_err_t err;

    if (pki_path(folder, sizeof(folder), &err, "%s/%s", org_dir, sub) != 0 ||
        pki_cert_names(folder, &names, &n, &err) != 0) {
        printf("%-20s %-6s %s\n", org, kind, err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (pki_path(path, sizeof(path), &err, "%s/%s.crt", folder, names[i]) == 0)
            print_row(org, kind, names[i], path, revoked);
    pki_names_free(names, n);
}

/* One line per CRL: its number, entries and next update; stale ones stand out
 * because a node refuses every chain once one of its CRLs has expired. */
static void print_crl(const char *ca_dir)
{
    char path[PATH_MAX], next[32] = "?", note[64] = "";
    X509_CRL *crl = NULL;
    ASN1_INTEGER *num = NULL;
    pki_err_t err;
    time_t now = time(NULL), soon = now + 7 * 86400;

    if (pki_path(path, sizeof(path), &err, "%s/crl.pem", ca_dir) != 0 ||
        pki_read_crl(path, &crl, &err) != 0) {
        printf("  %s\n", err.msg);
        ERR_clear_error();
        return;
    }
    num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    int n_revoked = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)); /* -1 when none */
    pki_time_str(X509_CRL_get0_nextUpdate(crl), false, next, sizeof(next));
    if (!X509_CRL_get0_nextUpdate(crl) || X509_cmp_time(X509_CRL_get0_nextUpdate(crl), &now) < 0)
        snprintf(note, sizeof(note), "  EXPIRED: run trellis pki refresh-crls");
    else if (X509_cmp_time(X509_CRL_get0_nextUpdate(crl), &soon) < 0)
        snprintf(note, sizeof(note), "  due within a week: run trellis pki refresh-crls");
    printf("  %-40s number %-4ld revoked %-4d next update %s%s\n", path,
           num ? ASN1_INTEGER_get(num) : -1L, n_revoked < 0 ? 0 : n_revoked, next, note);
    ASN1_INTEGER_free(num);
    X509_CRL_free(crl);
    ERR_clear_error();
}

/* Add what an organisation's retired CAs revoked to list: a leaf they issued
 * and revoked shows as revoked even after the rollover. */
static int add_retired_revoked(const char *org_dir, char **retired, size_t n_retired,
                               pki_revoked_list_t *list, pki_err_t *err)
{
    char path[PATH_MAX];
    for (size_t k = 0; k < n_retired; k++) {
        pki_revoked_list_t more = {0};
        int rc = pki_path(path, sizeof(path), err, "%s/retired/%s", org_dir, retired[k]);
        if (rc == 0)
            rc = pki_revoked_load(path, &more, err);
        if (rc != 0)
            return rc;
        if (more.n > 0) {
            pki_revoked_t *grown = realloc(list->items, (list->n + more.n) * sizeof(*grown));
            if (!grown) {
                pki_revoked_free(&more);
                return pki_fail(err, TR_E_NOMEM, "out of memory");
            }
            memcpy(grown + list->n, more.items, more.n * sizeof(*grown));
            list->items = grown;
            list->n += more.n;
        }
        pki_revoked_free(&more);
    }
    return 0;
}

int pki_cmd_list(const pki_args_t *a, pki_err_t *err)
{
    int rc, lock = -1;
    char root_dir[PATH_MAX], org_dir[PATH_MAX], path[PATH_MAX], cn[128] = "?";
    char anchor[PATH_MAX];
    char **orgs = NULL, **retired = NULL;
    size_t n_orgs = 0, n_retired = 0;
    pki_ca_t root = {0};
    pki_revoked_list_t root_revoked = {0}, org_revoked = {0};

    /* DIR/ca.crt: a member's folder (import-org) has the root but not DIR/root. */
    if ((rc = pki_path(root_dir, sizeof(root_dir), err, "%s/root", a->dir)) != 0 ||
        (rc = pki_path(anchor, sizeof(anchor), err, "%s/ca.crt", a->dir)) != 0)
        goto fail;
    if ((rc = pki_read_cert(anchor, &root.cert, err)) != 0) {
        if (rc == TR_E_NOT_FOUND)
            rc = pki_fail(err, rc,
                          "no consortium in %s: run `trellis pki init-consortium` (the "
                          "coordinator) or `request-org` then `import-org` (a member) first",
                          a->dir);
        goto fail;
    }
    if ((rc = pki_lock(a->dir, false, &lock, err)) != 0 ||
        (rc = pki_revoked_load(root_dir, &root_revoked, err)) != 0 ||
        (rc = pki_org_names(a->dir, &orgs, &n_orgs, err)) != 0)
        goto fail;

    tr_cert_subject_field(root.cert, NID_commonName, cn, sizeof(cn));
    printf("PKI folder %s: consortium \"%s\", %zu organisation%s\n\n", a->dir, cn, n_orgs,
           n_orgs == 1 ? "" : "s");
    printf("%-20s %-6s %-24s %-33s %-11s %s\n", "ORG", "KIND", "NAME", "SERIAL", "NOT AFTER",
           "STATUS");
    /* The root cannot be revoked; an empty list shows its time status only. */
    pki_revoked_list_t none = {0};
    print_row("-", "root", "(consortium)", anchor, &none);
    for (size_t i = 0; i < n_orgs; i++) {
        if ((rc = pki_path(org_dir, sizeof(org_dir), err, "%s/orgs/%s", a->dir, orgs[i])) != 0 ||
            (rc = pki_path(path, sizeof(path), err, "%s/ca.crt", org_dir)) != 0)
            goto fail;
        print_row(orgs[i], "ca", "(organisation CA)", path, &root_revoked);
        /* Retired CAs (rollovers): trusted while their CRLs are in the bundle. */
        if ((rc = pki_retired_names(org_dir, &retired, &n_retired, err)) != 0)
            goto fail;
        for (size_t k = 0; k < n_retired; k++)
            if (pki_path(path, sizeof(path), err, "%s/retired/%s/ca.crt", org_dir, retired[k]) == 0)
                print_row(orgs[i], "ca", "(retired CA)", path, &root_revoked);
        if ((rc = pki_revoked_load(org_dir, &org_revoked, err)) != 0 ||
            (rc = add_retired_revoked(org_dir, retired, n_retired, &org_revoked, err)) != 0)
            goto fail;
        pki_names_free(retired, n_retired);
        retired = NULL;
        n_retired = 0;
        print_leaves(org_dir, orgs[i], "nodes", "node", &org_revoked);
        print_leaves(org_dir, orgs[i], "agents", "agent", &org_revoked);
        pki_revoked_free(&org_revoked);
    }
    printf("\nCRLs (bundled in %s/crl.pem):\n", a->dir);
    if (pki_exists(root_dir))
        print_crl(root_dir);
    for (size_t i = 0; i < n_orgs; i++) {
        if (pki_path(org_dir, sizeof(org_dir), err, "%s/orgs/%s", a->dir, orgs[i]) != 0)
            continue;
        print_crl(org_dir);
        if (pki_retired_names(org_dir, &retired, &n_retired, err) != 0)
            continue;
        for (size_t k = 0; k < n_retired; k++)
            if (pki_path(path, sizeof(path), err, "%s/retired/%s", org_dir, retired[k]) == 0)
                print_crl(path);
        pki_names_free(retired, n_retired);
        retired = NULL;
        n_retired = 0;
    }
fail:
    pki_names_free(retired, n_retired);
    pki_revoked_free(&org_revoked);
    pki_revoked_free(&root_revoked);
    pki_names_free(orgs, n_orgs);
    pki_ca_close(&root);
    pki_unlock(lock);
    return rc;
}
