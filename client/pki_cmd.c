/* The `trellis pki` commands that change the PKI folder: make the consortium
 * root, add an organisation, issue node and agent certificates, revoke, and
 * re-sign CRLs. Each holds the folder's lock and undoes its files on failure. */
#include "pki_internal.h"
#include "tr_error.h"

#include <openssl/err.h>
#include <arpa/inet.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

/* Print what a command wrote, one "  PATH  what" line each, aligned. */
typedef struct {
    const char *path;
    const char *what;
} file_line_t;

static void print_files(const file_line_t *lines, size_t n)
{
    int width = 0;
    for (size_t i = 0; i < n; i++)
        if ((int)strlen(lines[i].path) > width)
            width = (int)strlen(lines[i].path);
    for (size_t i = 0; i < n; i++)
        printf("  %-*s  %s\n", width, lines[i].path, lines[i].what);
}

/* DIR/ca.crt, the root certificate: the coordinator's folder has it from
 * init-consortium, a member's from import-org. */
static int require_consortium(const char *dir, pki_err_t *err)
{
    char path[PATH_MAX];
    int rc = pki_path(path, sizeof(path), err, "%s/ca.crt", dir);
    if (rc == 0 && !pki_exists(path))
        rc = pki_fail(err, TR_E_NOT_FOUND,
                      "no consortium in %s (no %s): run `trellis pki init-consortium` (the "
                      "coordinator) or `request-org` then `import-org` (a member) first",
                      dir, path);
    return rc;
}

/* The root's key: only the coordinator's folder has it. */
static int require_root_key(const char *dir, const char *cmd, pki_err_t *err)
{
    char path[PATH_MAX];
    int rc = require_consortium(dir, err);
    if (rc == 0 && (rc = pki_path(path, sizeof(path), err, "%s/root/ca.key", dir)) == 0 &&
        !pki_exists(path))
        rc = pki_fail(err, TR_E_NOT_FOUND,
                      "%s holds no root key (%s): `trellis pki %s` runs in the coordinator's "
                      "folder",
                      dir, path, cmd);
    return rc;
}

static int require_org(const char *dir, const char *org, pki_err_t *err)
{
    char path[PATH_MAX];
    int rc = pki_path(path, sizeof(path), err, "%s/orgs/%s/ca.crt", dir, org);
    if (rc == 0 && !pki_exists(path))
        rc = pki_fail(err, TR_E_NOT_FOUND,
                      "no organisation %s in %s: run `trellis pki add-org %s` (one folder) or "
                      "`request-org %s` then `import-org` (a member's own folder) first",
                      org, dir, org, org);
    return rc;
}

static int refuse_existing(const char *path, const char *what, pki_err_t *err)
{
    if (pki_exists(path))
        return pki_fail(err, TR_E_INVAL, "%s already exists (%s); refusing to overwrite it", what,
                        path);
    return 0;
}

/* Write a new CA's key and certificate, then its first (empty) CRL and
 * revoked.json; every file goes on undo. */
static int write_new_ca(const pki_ca_t *ca, pki_undo_t *undo, pki_err_t *err)
{
    int rc;
    char key[PATH_MAX], crt[PATH_MAX], crl[PATH_MAX], rev[PATH_MAX];
    pki_revoked_list_t list = {0};

    if ((rc = pki_path(key, sizeof(key), err, "%s/ca.key", ca->dir)) != 0 ||
        (rc = pki_path(crt, sizeof(crt), err, "%s/ca.crt", ca->dir)) != 0 ||
        (rc = pki_path(crl, sizeof(crl), err, "%s/crl.pem", ca->dir)) != 0 ||
        (rc = pki_path(rev, sizeof(rev), err, "%s/revoked.json", ca->dir)) != 0)
        goto fail;
    if ((rc = pki_write_file(key, 0600, false, pki_emit_ca_key, ca->key, err)) != 0)
        goto fail;
    pki_undo_add(undo, key);
    if ((rc = pki_write_file(crt, 0644, false, pki_emit_cert, ca->cert, err)) != 0)
        goto fail;
    pki_undo_add(undo, crt);
    /* Every CA has a CRL from the start: a node checking the whole chain
     * (CRL_CHECK_ALL) refuses a chain with a CA that has none. */
    pki_undo_add(undo, crl);
    pki_undo_add(undo, rev);
    rc = pki_crl_publish(ca, &list, err);
fail:
    pki_revoked_free(&list);
    return rc;
}

int pki_cmd_init_consortium(const pki_args_t *a, pki_err_t *err)
{
    int rc, lock = -1;
    char anchor[PATH_MAX], bundle[PATH_MAX], crt[PATH_MAX], key[PATH_MAX], crl[PATH_MAX];
    char until[32];
    const char *cn = a->display_name ? a->display_name : PKI_ROOT_CN_DEFAULT;
    pki_cert_req_t req = {.kind = PKI_ROOT, .org = PKI_ROOT_O, .cn = cn};
    pki_ca_t ca = {0};
    static pki_undo_t undo; /* large; one command per process */

    if ((rc = pki_path(ca.dir, sizeof(ca.dir), err, "%s/root", a->dir)) != 0 ||
        (rc = pki_path(anchor, sizeof(anchor), err, "%s/ca.crt", a->dir)) != 0 ||
        (rc = pki_path(bundle, sizeof(bundle), err, "%s/crl.pem", a->dir)) != 0 ||
        (rc = pki_path(crt, sizeof(crt), err, "%s/ca.crt", ca.dir)) != 0 ||
        (rc = pki_path(key, sizeof(key), err, "%s/ca.key", ca.dir)) != 0 ||
        (rc = pki_path(crl, sizeof(crl), err, "%s/crl.pem", ca.dir)) != 0)
        goto fail;
    if (pki_exists(anchor) || pki_exists(crt) || pki_exists(key)) {
        rc = pki_fail(err, TR_E_INVAL,
                      "a consortium already exists in %s; refusing to replace it (use another "
                      "--dir)",
                      a->dir);
        goto fail;
    }
    if ((rc = pki_mkdirs(ca.dir, err)) != 0 || (rc = pki_lock(a->dir, true, &lock, err)) != 0 ||
        (rc = pki_key_new(&ca.key, err)) != 0 ||
        (rc = pki_cert_issue(&req, ca.key, NULL, NULL, &ca.cert, err)) != 0 ||
        (rc = write_new_ca(&ca, &undo, err)) != 0)
        goto fail;
    if ((rc = pki_write_file(anchor, 0644, false, pki_emit_cert, ca.cert, err)) != 0)
        goto fail;
    pki_undo_add(&undo, anchor);
    pki_undo_add(&undo, bundle);
    if ((rc = pki_bundle_write(a->dir, err)) != 0)
        goto fail;

    pki_time_str(X509_get0_notAfter(ca.cert), true, until, sizeof(until));
    printf("created the consortium root CA \"%s\", valid until %s\n", cn, until);
    const file_line_t files[] = {
        {key, "private key (mode 0600): keep it, and this folder, safe"},
        {crt, "root certificate"},
        {crl, "its CRL (empty)"},
        {anchor, "trust anchor: configure it on every node"},
        {bundle, "every CA's CRL: configure it on every node"},
    };
    print_files(files, sizeof(files) / sizeof(files[0]));
    printf("next: trellis pki add-org ORG\n");
fail:
    if (rc != 0)
        pki_undo_run(&undo);
    pki_unlock(lock);
    pki_ca_close(&ca);
    return rc;
}

int pki_cmd_add_org(const pki_args_t *a, pki_err_t *err)
{
    int rc, lock = -1;
    const char *org = a->pos[0];
    char cn[TR_NAME_MAX + 8], crt[PATH_MAX], key[PATH_MAX], crl[PATH_MAX], bundle[PATH_MAX];
    char until[32];
    pki_cert_req_t req = {.kind = PKI_ORG_CA, .org = org, .cn = cn, .backdate = a->backdate};
    pki_ca_t root = {0}, ca = {0};
    static pki_undo_t undo;

    snprintf(cn, sizeof(cn), "%s CA", org);
    if ((rc = require_root_key(a->dir, "add-org", err)) != 0 ||
        (rc = pki_lock(a->dir, true, &lock, err)) != 0 ||
        (rc = pki_path(ca.dir, sizeof(ca.dir), err, "%s/orgs/%s", a->dir, org)) != 0 ||
        (rc = pki_path(crt, sizeof(crt), err, "%s/ca.crt", ca.dir)) != 0 ||
        (rc = pki_path(key, sizeof(key), err, "%s/ca.key", ca.dir)) != 0 ||
        (rc = pki_path(crl, sizeof(crl), err, "%s/crl.pem", ca.dir)) != 0 ||
        (rc = pki_path(bundle, sizeof(bundle), err, "%s/crl.pem", a->dir)) != 0)
        goto fail;
    if (pki_exists(crt) || pki_exists(key)) {
        rc = pki_fail(err, TR_E_INVAL, "organisation %s already exists in %s", org, a->dir);
        goto fail;
    }
    if ((rc = pki_path(root.dir, sizeof(root.dir), err, "%s/root", a->dir)) != 0 ||
        (rc = pki_ca_load(&root, root.dir, true, err)) != 0 ||
        (rc = pki_mkdirs(ca.dir, err)) != 0 || (rc = pki_key_new(&ca.key, err)) != 0 ||
        (rc = pki_cert_issue(&req, ca.key, root.cert, root.key, &ca.cert, err)) != 0 ||
        (rc = write_new_ca(&ca, &undo, err)) != 0 || (rc = pki_bundle_write(a->dir, err)) != 0)
        goto fail;

    pki_time_str(X509_get0_notAfter(ca.cert), true, until, sizeof(until));
    printf("created organisation %s's CA, valid until %s\n", org, until);
    const file_line_t files[] = {
        {key, "private key (mode 0600)"},
        {crt, "organisation CA certificate, signed by the root"},
        {crl, "its CRL (empty)"},
        {bundle, "every CA's CRL, now including this one"},
    };
    print_files(files, sizeof(files) / sizeof(files[0]));
    printf("next: trellis pki issue-node %s NAME --host HOST\n", org);
fail:
    if (rc != 0)
        pki_undo_run(&undo);
    pki_unlock(lock);
    pki_ca_close(&ca);
    pki_ca_close(&root);
    return rc;
}

/* "DNS:alpha, IP Address:127.0.0.1" from a certificate's subjectAltName. */
static void san_str(X509 *cert, char *out, size_t len)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    out[0] = '\0';
    for (int i = 0; mem && i < sk_GENERAL_NAME_num(gens); i++) {
        if (i > 0)
            BIO_puts(mem, ", ");
        GENERAL_NAME_print(mem, sk_GENERAL_NAME_value(gens, i));
    }
    if (mem)
        n = BIO_get_mem_data(mem, &data);
    if (n > 0)
        snprintf(out, len, "%.*s", (int)n, data);
    BIO_free(mem);
    GENERAL_NAMES_free(gens);
}

/* An organisation CA the root has revoked issues nothing more: every
 * certificate it signed would be refused at the first handshake anyway. */
static int refuse_revoked_ca(const char *dir, X509 *root, const pki_ca_t *ca, const char *org,
                             pki_err_t *err)
{
    if (pki_root_revoked(dir, root, ca->cert))
        return pki_fail(err, TR_E_INVAL,
                        "organisation %s's CA is revoked: it can issue no more certificates", org);
    return 0;
}

/* The names a node certificate was reached by, but DNS:NAME, so a renewal
 * without --host keeps them. */
typedef struct {
    char text[PKI_HOSTS_MAX][64];
    const char *ptr[PKI_HOSTS_MAX];
    size_t n;
} hosts_t;

static void hosts_of(X509 *cert, const char *name, hosts_t *h)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    h->n = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(gens) && h->n < PKI_HOSTS_MAX; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char *out = h->text[h->n];
        if (g->type == GEN_DNS) {
            const ASN1_STRING *s = g->d.dNSName;
            snprintf(out, sizeof(h->text[0]), "%.*s", ASN1_STRING_length(s),
                     (const char *)ASN1_STRING_get0_data(s));
            if (strcmp(out, name) == 0)
                continue;
        } else if (g->type == GEN_IPADD) {
            int len = ASN1_STRING_length(g->d.iPAddress);
            if ((len != 4 && len != 16) ||
                !inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress),
                           out, sizeof(h->text[0])))
                continue;
        } else {
            continue;
        }
        if (pki_host_valid(out)) {
            h->ptr[h->n] = out;
            h->n++;
        }
    }
    GENERAL_NAMES_free(gens);
}

/* Issue a node or agent certificate; with renew, a new key (or with
 * --keep-key the same one) and certificate for a NAME that has one: the old
 * files move to
 * orgs/ORG/{nodes,agents}/replaced/SERIAL/ (kept, not revoked: records the
 * old certificate signed must stay verifiable) and the new ones take the
 * paths the node's or agent's configuration already names. */
static int issue_leaf(const pki_args_t *a, pki_kind_t kind, bool renew, pki_err_t *err)
{
    int rc, lock = -1;
    char replaced[PATH_MAX] = "", old_serial[80] = "";
    char key_file[NAME_MAX + 1], crt_file[NAME_MAX + 1], chain_file[NAME_MAX + 1];
    const char *const leaf_files[] = {key_file, crt_file, chain_file, NULL};
    bool moved = false;
    static hosts_t old_hosts;
    X509 *old = NULL;
    const char *org = a->pos[0], *name = a->pos[1];
    const char *sub = kind == PKI_NODE ? "nodes" : "agents";
    tr_role_t role = kind == PKI_NODE ? TR_ROLE_NODE : TR_ROLE_AGENT;
    char folder[PATH_MAX], key_path[PATH_MAX], crt_path[PATH_MAX], chain_path[PATH_MAX];
    char serial[80], from[32], until[32], sans[1024], anchor[PATH_MAX];
    pki_cert_req_t req = {.kind = kind,
                          .org = org,
                          .cn = name,
                          .hosts = a->hosts,
                          .n_hosts = a->n_hosts,
                          .days = a->days,
                          .backdate = a->backdate};
    pki_ca_t ca = {0};
    X509 *root = NULL;
    EVP_PKEY *key = NULL;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    static pki_undo_t undo;

    snprintf(key_file, sizeof(key_file), "%s.key", name);
    snprintf(crt_file, sizeof(crt_file), "%s.crt", name);
    snprintf(chain_file, sizeof(chain_file), "%s.chain.crt", name);
    if ((rc = require_consortium(a->dir, err)) != 0 || (rc = require_org(a->dir, org, err)) != 0 ||
        (rc = pki_lock(a->dir, true, &lock, err)) != 0 ||
        (rc = pki_path(folder, sizeof(folder), err, "%s/orgs/%s/%s", a->dir, org, sub)) != 0 ||
        (rc = pki_path(key_path, sizeof(key_path), err, "%s/%s.key", folder, name)) != 0 ||
        (rc = pki_path(crt_path, sizeof(crt_path), err, "%s/%s.crt", folder, name)) != 0 ||
        (rc = pki_path(chain_path, sizeof(chain_path), err, "%s/%s.chain.crt", folder, name)) != 0)
        goto fail;
    if (renew) {
        if (!pki_exists(crt_path)) {
            rc = pki_fail(err, TR_E_NOT_FOUND,
                          "no certificate %s to renew (%s): issue it with `trellis pki issue-%s "
                          "%s %s`",
                          name, crt_path, pki_kind_ou(kind), org, name);
            goto fail;
        }
        if ((rc = pki_read_cert(crt_path, &old, err)) != 0)
            goto fail;
        if (pki_serial_hex(old, old_serial, sizeof(old_serial)) != 0) {
            rc = pki_fail(err, TR_E_CERT, "%s: cannot read its serial number", crt_path);
            goto fail;
        }
        if ((rc = pki_path(replaced, sizeof(replaced), err, "%s/replaced/%s", folder,
                           old_serial)) != 0 ||
            (rc = refuse_existing(replaced, "the folder for the replaced certificate", err)) != 0)
            goto fail;
        if (kind == PKI_NODE && a->n_hosts == 0) {
            hosts_of(old, name, &old_hosts);
            req.hosts = old_hosts.ptr;
            req.n_hosts = old_hosts.n;
        }
    } else if ((rc = refuse_existing(crt_path, "the certificate", err)) != 0 ||
               (rc = refuse_existing(key_path, "the key", err)) != 0 ||
               (rc = refuse_existing(chain_path, "the chain", err)) != 0) {
        goto fail;
    }
    if ((rc = pki_path(anchor, sizeof(anchor), err, "%s/ca.crt", a->dir)) != 0 ||
        (rc = pki_read_cert(anchor, &root, err)) != 0 ||
        (rc = pki_path(ca.dir, sizeof(ca.dir), err, "%s/orgs/%s", a->dir, org)) != 0 ||
        (rc = pki_ca_load(&ca, ca.dir, true, err)) != 0 ||
        (rc = refuse_revoked_ca(a->dir, root, &ca, org, err)) != 0 ||
        (rc = pki_mkdirs(folder, err)) != 0 ||
        (rc = renew && a->keep_key ? pki_read_key(key_path, &key, err) : pki_key_new(&key, err)) !=
            0 ||
        (rc = pki_cert_issue(&req, key, ca.cert, ca.key, &leaf, err)) != 0 ||
        (rc = pki_check_chain(leaf, ca.cert, root, org, name, role, err)) != 0)
        goto fail;
    /* Only now, with the new certificate made, does the old one move aside. */
    if (renew) {
        if ((rc = pki_mkdirs(replaced, err)) != 0 ||
            (rc = pki_move_files(folder, replaced, leaf_files, err)) != 0)
            goto fail;
        moved = true;
    }
    if (!(chain = sk_X509_new_null()) || !sk_X509_push(chain, leaf) ||
        !sk_X509_push(chain, ca.cert)) {
        rc = pki_fail(err, TR_E_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = pki_write_file(key_path, 0600, false, pki_emit_key, key, err)) != 0)
        goto fail;
    pki_undo_add(&undo, key_path);
    if ((rc = pki_write_file(crt_path, 0644, false, pki_emit_cert, leaf, err)) != 0)
        goto fail;
    pki_undo_add(&undo, crt_path);
    if ((rc = pki_write_file(chain_path, 0644, false, pki_emit_certs, chain, err)) != 0)
        goto fail;

    pki_serial_hex(leaf, serial, sizeof(serial));
    pki_time_str(X509_get0_notBefore(leaf), false, from, sizeof(from));
    pki_time_str(X509_get0_notAfter(leaf), false, until, sizeof(until));
    printf("%s %s certificate %s of %s, serial %s\n", renew ? "renewed" : "issued",
           pki_kind_ou(kind), name, org, serial);
    printf("  valid %s to %s%s\n", from, until,
           ASN1_TIME_compare(X509_get0_notAfter(leaf), X509_get0_notAfter(ca.cert)) == 0
               ? " (cut to the organisation CA's expiry)"
               : "");
    if (kind == PKI_NODE) {
        san_str(leaf, sans, sizeof(sans));
        printf("  names %s\n", sans);
    }
    const file_line_t files[] = {
        {key_path, "private key (mode 0600)"},
        {crt_path, "certificate"},
        {chain_path, "certificate + organisation CA: what it presents in TLS"},
    };
    print_files(files, sizeof(files) / sizeof(files[0]));
    if (renew) {
        printf("the replaced certificate (serial %s) is kept in %s: it stays valid until it\n"
               "expires, so install the new files and reload (SIGHUP) at leisure. Do not revoke\n"
               "it unless its key was stolen: records it signed would be refused.\n",
               old_serial, replaced);
    }
fail:
    if (rc != 0) {
        pki_undo_run(&undo);
        if (moved) /* put the old certificate back where the configuration names it */
            (void)pki_move_files(replaced, folder, leaf_files, err);
    }
    pki_unlock(lock);
    sk_X509_free(chain); /* borrowed certificates */
    X509_free(leaf);
    X509_free(old);
    X509_free(root);
    EVP_PKEY_free(key);
    pki_ca_close(&ca);
    return rc;
}

int pki_cmd_issue_node(const pki_args_t *a, pki_err_t *err)
{
    return issue_leaf(a, PKI_NODE, false, err);
}

int pki_cmd_issue_agent(const pki_args_t *a, pki_err_t *err)
{
    return issue_leaf(a, PKI_AGENT, false, err);
}

int pki_cmd_renew_node(const pki_args_t *a, pki_err_t *err)
{
    return issue_leaf(a, PKI_NODE, true, err);
}

int pki_cmd_renew_agent(const pki_args_t *a, pki_err_t *err)
{
    return issue_leaf(a, PKI_AGENT, true, err);
}

/* If the CA in ca_dir issued cert, load it with its key into ca (*found). */
static int try_issuer(const char *ca_dir, X509 *cert, pki_ca_t *ca, bool *found, pki_err_t *err)
{
    char key[PATH_MAX];
    int rc = pki_ca_load(ca, ca_dir, false, err);
    if (rc != 0)
        return rc;
    *found = pki_issued_by(ca->cert, cert);
    pki_ca_close(ca);
    if (!*found)
        return 0;
    if ((rc = pki_path(key, sizeof(key), err, "%s/ca.key", ca_dir)) != 0)
        return rc;
    if (!pki_exists(key))
        return pki_fail(err, TR_E_NOT_FOUND,
                        "the CA that issued it (%s) has its key elsewhere: revoke it in the "
                        "folder that holds that key (a member revokes its own certificates)",
                        ca_dir);
    return pki_ca_load(ca, ca_dir, true, err);
}

/* Find the CA in dir that issued cert (the root, an organisation's CA or
 * one of its retired CAs) and load it with its key. */
static int find_issuer(const char *dir, X509 *cert, pki_ca_t *ca, pki_err_t *err)
{
    int rc;
    bool found = false;
    char path[PATH_MAX];
    char **orgs = NULL, **retired = NULL;
    size_t n_orgs = 0, n_retired = 0;
    X509 *anchor = NULL;

    if ((rc = pki_path(path, sizeof(path), err, "%s/ca.crt", dir)) != 0 ||
        (rc = pki_read_cert(path, &anchor, err)) != 0)
        goto fail;
    if (X509_cmp(cert, anchor) == 0) {
        rc = pki_fail(err, TR_E_INVAL,
                      "that is the consortium root itself: it cannot be revoked, only replaced "
                      "by a new consortium");
        goto fail;
    }
    if ((rc = pki_path(path, sizeof(path), err, "%s/root/ca.crt", dir)) != 0)
        goto fail;
    if (pki_issued_by(anchor, cert)) {
        if (!pki_exists(path)) {
            rc = pki_fail(err, TR_E_NOT_FOUND,
                          "the consortium root issued it, and %s holds no root key: the "
                          "coordinator revokes organisation CAs",
                          dir);
            goto fail;
        }
        rc = pki_path(path, sizeof(path), err, "%s/root", dir);
        if (rc == 0)
            rc = pki_ca_load(ca, path, true, err);
        goto fail;
    }
    if ((rc = pki_org_names(dir, &orgs, &n_orgs, err)) != 0)
        goto fail;
    for (size_t i = 0; i < n_orgs && !found; i++) {
        if ((rc = pki_path(path, sizeof(path), err, "%s/orgs/%s", dir, orgs[i])) != 0 ||
            (rc = try_issuer(path, cert, ca, &found, err)) != 0 ||
            (rc = pki_retired_names(path, &retired, &n_retired, err)) != 0)
            goto fail;
        for (size_t k = 0; k < n_retired && !found; k++)
            if ((rc = pki_path(path, sizeof(path), err, "%s/orgs/%s/retired/%s", dir, orgs[i],
                               retired[k])) != 0 ||
                (rc = try_issuer(path, cert, ca, &found, err)) != 0)
                goto fail;
        pki_names_free(retired, n_retired);
        retired = NULL;
        n_retired = 0;
    }
    if (!found)
        rc = pki_fail(err, TR_E_NOT_FOUND, "no CA in %s issued this certificate", dir);
fail:
    X509_free(anchor);
    pki_names_free(retired, n_retired);
    pki_names_free(orgs, n_orgs);
    return rc;
}

int pki_cmd_revoke(const pki_args_t *a, pki_err_t *err)
{
    int rc, lock = -1;
    const char *file = a->pos[0];
    X509 *cert = NULL;
    pki_ca_t ca = {0};
    pki_revoked_list_t list = {0};
    char serial[80], subject[256];
    size_t idx;

    if ((rc = require_consortium(a->dir, err)) != 0 ||
        (rc = pki_lock(a->dir, true, &lock, err)) != 0 ||
        (rc = pki_read_cert(file, &cert, err)) != 0 ||
        (rc = find_issuer(a->dir, cert, &ca, err)) != 0 ||
        (rc = pki_revoked_load(ca.dir, &list, err)) != 0)
        goto fail;
    if (pki_serial_hex(cert, serial, sizeof(serial)) != 0) {
        rc = pki_fail(err, TR_E_CERT, "%s: cannot read its serial number", file);
        goto fail;
    }
    pki_name_str(X509_get_subject_name(cert), subject, sizeof(subject));
    if (pki_revoked_find(&list, serial, &idx)) {
        printf("%s (serial %s) was already revoked on %s; nothing to do\n", subject, serial,
               list.items[idx].revoked_at);
        /* Rewriting the bundle changes nothing when it is current, and repairs
         * it if an earlier revoke failed between the CRL and the bundle. */
        rc = pki_bundle_write(a->dir, err);
        goto fail;
    }
    if ((rc = pki_revoked_add(&list, cert, err)) != 0 ||
        (rc = pki_crl_publish(&ca, &list, err)) != 0 || (rc = pki_bundle_write(a->dir, err)) != 0)
        goto fail;
    printf("revoked %s (serial %s)\n", subject, serial);
    printf("  %s/crl.pem is now CRL number %ld; %s/crl.pem includes it\n", ca.dir, list.crl_number,
           a->dir);
    printf("  copy %s/crl.pem to every node (and reload them) for the revocation to take effect\n",
           a->dir);
fail:
    pki_unlock(lock);
    pki_revoked_free(&list);
    pki_ca_close(&ca);
    X509_free(cert);
    return rc;
}

static int refresh_one(const char *ca_dir, pki_err_t *err)
{
    int rc;
    pki_ca_t ca = {0};
    pki_revoked_list_t list = {0};
    char path[PATH_MAX], next[32];
    X509_CRL *crl = NULL;

    /* A member's CA in the coordinator's folder (sign-org), or the root in a
     * member's: the key is elsewhere, so is the re-signing. */
    if ((rc = pki_path(path, sizeof(path), err, "%s/ca.key", ca_dir)) != 0)
        return rc;
    if (!pki_exists(path)) {
        printf("  %s: key held elsewhere: its holder re-signs it (then `add-crl` / "
               "`import-org`)\n",
               ca_dir);
        return 0;
    }
    if ((rc = pki_ca_load(&ca, ca_dir, true, err)) != 0 ||
        (rc = pki_revoked_load(ca_dir, &list, err)) != 0 ||
        (rc = pki_crl_publish(&ca, &list, err)) != 0 ||
        (rc = pki_path(path, sizeof(path), err, "%s/crl.pem", ca_dir)) != 0 ||
        (rc = pki_read_crl(path, &crl, err)) != 0)
        goto fail;
    pki_time_str(X509_CRL_get0_nextUpdate(crl), false, next, sizeof(next));
    printf("  %s: CRL number %ld, %zu revoked, next update %s\n", path, list.crl_number, list.n,
           next);
fail:
    X509_CRL_free(crl);
    pki_revoked_free(&list);
    pki_ca_close(&ca);
    return rc;
}

int pki_cmd_refresh_crls(const pki_args_t *a, pki_err_t *err)
{
    int rc, lock = -1;
    char path[PATH_MAX];
    char **orgs = NULL, **retired = NULL;
    size_t n_orgs = 0, n_retired = 0;

    if ((rc = require_consortium(a->dir, err)) != 0 ||
        (rc = pki_lock(a->dir, true, &lock, err)) != 0 ||
        (rc = pki_org_names(a->dir, &orgs, &n_orgs, err)) != 0)
        goto fail;
    printf("re-signed every CRL whose key is here:\n");
    if ((rc = pki_path(path, sizeof(path), err, "%s/root", a->dir)) != 0 ||
        (pki_exists(path) && (rc = refresh_one(path, err)) != 0))
        goto fail;
    for (size_t i = 0; i < n_orgs; i++) {
        if ((rc = pki_path(path, sizeof(path), err, "%s/orgs/%s", a->dir, orgs[i])) != 0 ||
            (rc = refresh_one(path, err)) != 0 ||
            (rc = pki_retired_names(path, &retired, &n_retired, err)) != 0)
            goto fail;
        /* Retired CAs too: their CRLs stay in the bundle for as long as
         * records signed under them must verify. */
        for (size_t k = 0; k < n_retired; k++)
            if ((rc = pki_path(path, sizeof(path), err, "%s/orgs/%s/retired/%s", a->dir, orgs[i],
                               retired[k])) != 0 ||
                (rc = refresh_one(path, err)) != 0)
                goto fail;
        pki_names_free(retired, n_retired);
        retired = NULL;
        n_retired = 0;
    }
    if ((rc = pki_bundle_write(a->dir, err)) != 0)
        goto fail;
    printf("copy %s/crl.pem to every node (and reload them)\n", a->dir);
fail:
    pki_names_free(retired, n_retired);
    pki_names_free(orgs, n_orgs);
    pki_unlock(lock);
    return rc;
}
