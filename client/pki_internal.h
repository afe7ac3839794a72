/* The parts of `trellis pki` and what they promise each other: certificate
 * building to the profile (pki_cert.c), the PKI folder on disk (pki_store.c),
 * revocation and CRLs (pki_crl.c), the commands (pki_cmd.c, pki_list.c) and
 * the command line (pki.c). */
#ifndef PKI_INTERNAL_H
#define PKI_INTERNAL_H

#include "tr_identity.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PKI_HOSTS_MAX 32 /* --host may be repeated this often */
#define PKI_CRL_DAYS 30  /* every CRL's nextUpdate: re-sign before then */

/* Errors: functions return 0 or a negative tr_error code and put a one-line
 * message here; only the command line prints it. */
typedef struct {
    char msg[768];
} pki_err_t;

int pki_fail(pki_err_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* As pki_fail, and appends the oldest OpenSSL error reason, then clears the
 * OpenSSL error queue so a later message does not pick up a stale reason. */
int pki_fail_ssl(pki_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the command line's parsed arguments (pki.c fills, commands read) ---- */

typedef struct {
    const char *dir;          /* the PKI folder */
    const char *display_name; /* --name: the root's CN */
    const char *hosts[PKI_HOSTS_MAX];
    size_t n_hosts;
    int days;      /* --days; 0 means the profile's default */
    int backdate;  /* --backdate, in days */
    bool rollover; /* --rollover: request-org and sign-org for a new CA of an existing org */
    bool keep_key; /* --keep-key: renew-node certifies the key the node already has */
    const char *pos[2];
    int n_pos;
} pki_args_t;

int pki_cmd_init_consortium(const pki_args_t *a, pki_err_t *err);
int pki_cmd_add_org(const pki_args_t *a, pki_err_t *err);
int pki_cmd_issue_node(const pki_args_t *a, pki_err_t *err);
int pki_cmd_issue_agent(const pki_args_t *a, pki_err_t *err);
int pki_cmd_revoke(const pki_args_t *a, pki_err_t *err);
int pki_cmd_refresh_crls(const pki_args_t *a, pki_err_t *err);
int pki_cmd_list(const pki_args_t *a, pki_err_t *err);
/* Enrolment without handing over keys (pki_enrol.c). */
int pki_cmd_request_org(const pki_args_t *a, pki_err_t *err);
int pki_cmd_sign_org(const pki_args_t *a, pki_err_t *err);
int pki_cmd_import_org(const pki_args_t *a, pki_err_t *err);
int pki_cmd_add_crl(const pki_args_t *a, pki_err_t *err);
/* Renewals (pki_cmd.c, through the same code as issue-*). */
int pki_cmd_renew_node(const pki_args_t *a, pki_err_t *err);
int pki_cmd_renew_agent(const pki_args_t *a, pki_err_t *err);

/* ---- certificates to the profile (pki_cert.c) ---- */

typedef enum { PKI_ROOT = 0, PKI_ORG_CA, PKI_NODE, PKI_AGENT } pki_kind_t;

#define PKI_ROOT_O "consortium"
#define PKI_ROOT_CN_DEFAULT "Trellis Consortium Root CA"

typedef struct {
    pki_kind_t kind;
    const char *org;          /* O: the organisation, PKI_ROOT_O for the root */
    const char *cn;           /* CN: display name, "<org> CA" or the leaf's name */
    const char *const *hosts; /* a node's extra subjectAltNames (borrowed) */
    size_t n_hosts;
    int days;     /* validity in days; 0 for the profile's default */
    int backdate; /* move notBefore this many days into the past */
} pki_cert_req_t;

/* The profile's OU and default lifetime of a kind. */
const char *pki_kind_ou(pki_kind_t kind);
int pki_kind_days(pki_kind_t kind);

/* True if host is an IPv4/IPv6 address or a DNS host name. */
bool pki_host_valid(const char *host);

/* A new P-256 key; *out is the caller's to free. */
int pki_key_new(EVP_PKEY **out, pki_err_t *err);

/* Issue a certificate for key (borrowed) to the profile of req->kind, signed
 * by issuer/issuer_key, or self-signed when issuer is NULL (the root). The
 * validity never outlasts the issuer's. *out is the caller's to free. */
int pki_cert_issue(const pki_cert_req_t *req, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                   X509 **out, pki_err_t *err);

/* A subject to the profile: O=org, OU=the kind's, CN=cn. *out is the caller's. */
int pki_subject_new(pki_kind_t kind, const char *org, const char *cn, X509_NAME **out,
                    pki_err_t *err);
/* The key identifier our certificates carry (SKI "hash"): SHA-1 of the public
 * key bits. Lets a CA sign its CRL before it has its certificate. */
int pki_key_id(EVP_PKEY *key, unsigned char id[SHA_DIGEST_LENGTH], pki_err_t *err);

/* Verify leaf <- org_ca <- root as the node would (minus time and CRLs) and
 * check that proto's tr_identity_from_chain reads back org, name and role. */
int pki_check_chain(X509 *leaf, X509 *org_ca, X509 *root, const char *org, const char *name,
                    tr_role_t role, pki_err_t *err);

/* One revoked certificate as recorded in revoked.json. */
typedef struct {
    char serial[80];     /* uppercase hex, as `openssl x509 -serial` prints it */
    char revoked_at[32]; /* 2025-01-31T12:00:00Z */
    char subject[256];   /* for people reading the file and `pki list` */
} pki_revoked_t;

typedef struct {
    pki_revoked_t *items;
    size_t n;
    long crl_number; /* number of the last CRL issued from this list */
} pki_revoked_list_t;

/* A v2 CRL over list, issued by the CA named issuer and signed with ca_key
 * (its authorityKeyIdentifier is ca_key's id), lastUpdate now, nextUpdate
 * +PKI_CRL_DAYS. */
int pki_crl_make(const X509_NAME *issuer, EVP_PKEY *ca_key, const pki_revoked_list_t *list,
                 long number, X509_CRL **out, pki_err_t *err);

/* Text helpers: one-line subject "O=a, OU=b, CN=c"; a time as ISO 8601 UTC
 * (date_only: YYYY-MM-DD); a serial as uppercase hex. */
void pki_name_str(const X509_NAME *name, char *out, size_t len);
void pki_time_str(const ASN1_TIME *t, bool date_only, char *out, size_t len);
int pki_serial_hex(const X509 *cert, char *out, size_t len);

/* ---- the PKI folder (pki_store.c) ----
 *
 *   DIR/ca.crt                         the root, the trust anchor nodes configure
 *   DIR/crl.pem                        every CA's CRL, concatenated
 *   DIR/root/{ca.crt,ca.key,crl.pem,revoked.json}
 *   DIR/orgs/ORG/{ca.crt,ca.key,crl.pem,revoked.json}
 *   DIR/orgs/ORG/{nodes,agents}/NAME.{crt,key,chain.crt}
 */

/* snprintf into a path buffer; TR_E_INVAL if it does not fit. */
int pki_path(char *out, size_t len, pki_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool pki_exists(const char *path);
/* mkdir -p with mode 0755 (keys are protected by their own 0600 mode). */
int pki_mkdirs(const char *path, pki_err_t *err);

/* Hold an advisory lock on DIR for the whole command, so two coordinators (or
 * scripts) cannot interleave CRL numbers or revocation records. */
int pki_lock(const char *dir, bool exclusive, int *fd_out, pki_err_t *err);
void pki_unlock(int fd);

/* What pki_write_file writes: 0 or a negative code (the writer adds context). */
typedef int (*pki_emit_fn)(BIO *out, const void *arg);
int pki_emit_key(BIO *out, const void *evp_pkey);
/* A CA's key: encrypted (AES-256-CBC) when a passphrase file is set. */
int pki_emit_ca_key(BIO *out, const void *evp_pkey);
/* The file holding the CA keys' passphrase (borrowed; NULL: none). */
void pki_set_passphrase_file(const char *path);
int pki_emit_cert(BIO *out, const void *x509);
int pki_emit_certs(BIO *out, const void *stack_of_x509);
int pki_emit_crl(BIO *out, const void *x509_crl);
int pki_emit_text(BIO *out, const void *c_string);

/* Write a file through a temporary beside it (created 0600 with O_EXCL), then
 * link it into place (replace false: fails with EEXIST rather than overwrite)
 * or rename it over the old one (replace true). mode is applied under the
 * umask except for 0600, which keys keep from creation to the end. */
int pki_write_file(const char *path, mode_t mode, bool replace, pki_emit_fn emit, const void *arg,
                   pki_err_t *err);

int pki_read_cert(const char *path, X509 **out, pki_err_t *err);
int pki_read_crl(const char *path, X509_CRL **out, pki_err_t *err);
/* A private key, decrypted with the passphrase file when it is encrypted. */
int pki_read_key(const char *path, EVP_PKEY **out, pki_err_t *err);

/* A CA loaded from its folder: DIR/root, DIR/orgs/ORG, or a retired one,
 * DIR/orgs/ORG/retired/SERIAL. */
typedef struct {
    X509 *cert;
    EVP_PKEY *key;   /* NULL unless loaded with_key */
    X509_NAME *name; /* owned; the subject of a CA that has no certificate yet
                      * (a request), used only when cert is NULL */
    char dir[PATH_MAX];
} pki_ca_t;

int pki_ca_load(pki_ca_t *ca, const char *ca_dir, bool with_key, pki_err_t *err);
void pki_ca_close(pki_ca_t *ca);

/* ---- revocation (pki_crl.c) ---- */

/* revoked.json beside a CA; a missing file is an empty list. */
int pki_revoked_load(const char *ca_dir, pki_revoked_list_t *list, pki_err_t *err);
void pki_revoked_free(pki_revoked_list_t *list);
bool pki_revoked_find(const pki_revoked_list_t *list, const char *serial_hex, size_t *idx);
/* Append a record for cert; copies what it needs. */
int pki_revoked_add(pki_revoked_list_t *list, const X509 *cert, pki_err_t *err);

/* Re-sign ca's CRL from list with the next CRL number, write CA_DIR/crl.pem,
 * then record the number in revoked.json. */
int pki_crl_publish(const pki_ca_t *ca, pki_revoked_list_t *list, pki_err_t *err);

/* Rewrite DIR/crl.pem from the root's crl.pem (when this folder holds the
 * root), every organisation's crl.pem and its retired CAs' ones, then every
 * CRL of DIR/consortium-crl.pem (what a member imported from the
 * coordinator) whose CA has no CRL in this folder. */
int pki_bundle_write(const char *dir, pki_err_t *err);

/* The organisations in DIR/orgs (valid names with a ca.crt), sorted; free
 * with pki_names_free. */
int pki_org_names(const char *dir, char ***names, size_t *n, pki_err_t *err);
/* The certificate names (NAME of NAME.crt, not NAME.chain.crt) in a folder,
 * sorted; a missing folder is an empty list. */
int pki_cert_names(const char *folder, char ***names, size_t *n, pki_err_t *err);
void pki_names_free(char **names, size_t n);
/* The retired CAs of an organisation: the SERIAL folders of
 * DIR/orgs/ORG/retired holding a ca.crt, sorted; free with pki_names_free. */
int pki_retired_names(const char *org_dir, char ***names, size_t *n, pki_err_t *err);
/* Move a CA's files (ca.crt, ca.key, crl.pem, revoked.json, those present)
 * from CA_DIR to CA_DIR/retired/SERIAL, SERIAL its certificate's; the
 * retired folder's path goes to out. Never overwrites. */
int pki_ca_retire(const char *ca_dir, char *out, size_t len, pki_err_t *err);
/* Move the files named in names (NULL-terminated) from one folder to another
 * without overwriting: link, then unlink. Missing ones are skipped. */
int pki_move_files(const char *from, const char *to, const char *const *names, pki_err_t *err);
/* Every certificate and CRL in a PEM file (any order); the caller frees both. */
int pki_read_pem_all(const char *path, STACK_OF(X509) * *certs, STACK_OF(X509_CRL) * *crls,
                     pki_err_t *err);
/* True if ca's key signed cert (names and key ids match too). */
bool pki_issued_by(X509 *ca, X509 *cert);
/* True if the root (the anchor, DIR/ca.crt) has revoked cert, per the root's
 * CRL in DIR/crl.pem. */
bool pki_root_revoked(const char *dir, X509 *root, X509 *cert);

/* Files a command has created so far, removed again if it fails half-way so a
 * retry does not trip over "already exists". */
typedef struct {
    char paths[8][PATH_MAX];
    int n;
} pki_undo_t;

void pki_undo_add(pki_undo_t *u, const char *path);
void pki_undo_run(pki_undo_t *u);

#endif
