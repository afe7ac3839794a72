/* The PKI folder on disk: paths, the folder lock, crash-safe writes that never
 * overwrite a key or certificate, reading PEM files, CAs and folder listings. */
#include "pki_internal.h"
#include "tr_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int pki_path(char *out, size_t len, pki_err_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len)
        return pki_fail(err, TR_E_INVAL, "path too long: %.80s...", out);
    return 0;
}

static int oom(pki_err_t *err)
{
    return pki_fail(err, TR_E_NOMEM, "out of memory");
}

bool pki_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int pki_mkdirs(const char *path, pki_err_t *err)
{
    char buf[PATH_MAX];
    struct stat st;
    if (pki_path(buf, sizeof(buf), err, "%s", path) != 0)
        return TR_E_INVAL;
    if (buf[0] == '\0')
        return pki_fail(err, TR_E_INVAL, "empty folder name");
    /* Create each prefix in turn; an existing one must be a directory. */
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0) {
            int e = errno;
            if (e != EEXIST)
                return pki_fail(err, TR_E_IO, "cannot create folder %s: %s", buf, strerror(e));
            if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
                return pki_fail(err, TR_E_IO, "cannot create folder %s: a file is in the way", buf);
        }
        *p = saved;
        if (saved == '\0')
            return 0;
    }
}

int pki_lock(const char *dir, bool exclusive, int *fd_out, pki_err_t *err)
{
    /* flock on the folder itself: no lock file to leave behind. */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *fd_out = -1;
    if (fd < 0)
        return pki_fail(err, errno == ENOENT ? TR_E_NOT_FOUND : TR_E_IO,
                        "cannot open PKI folder %s: %s", dir, strerror(errno));
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return pki_fail(err, TR_E_IO, "another trellis pki command is using %s; try again",
                            dir);
        return pki_fail(err, TR_E_IO, "cannot lock %s: %s", dir, strerror(e));
    }
    *fd_out = fd;
    return 0;
}

void pki_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing releases the flock */
}

static const char *passphrase_file;

void pki_set_passphrase_file(const char *path)
{
    passphrase_file = path;
}

/* The passphrase from its file, without the line end: its length, or -1. */
static int read_passphrase(char *buf, int size)
{
    FILE *f = passphrase_file ? fopen(passphrase_file, "r") : NULL;
    if (!f)
        return -1;
    int n = fgets(buf, size, f) ? (int)strcspn(buf, "\r\n") : -1;
    fclose(f);
    if (n >= 0)
        buf[n] = '\0';
    return n >= 4 ? n : -1;
}

static int passphrase_cb(char *buf, int size, int rwflag, void *u)
{
    if (passphrase_file)
        return read_passphrase(buf, size);
    return isatty(STDIN_FILENO) ? PEM_def_callback(buf, size, rwflag, u) : -1;
}

int pki_emit_ca_key(BIO *out, const void *evp_pkey)
{
    char pass[1024];
    if (!passphrase_file)
        return pki_emit_key(out, evp_pkey);
    int n = read_passphrase(pass, sizeof(pass));
    int ok = n > 0 && PEM_write_bio_PrivateKey(out, evp_pkey, EVP_aes_256_cbc(),
                                               (unsigned char *)pass, n, NULL, NULL);
    OPENSSL_cleanse(pass, sizeof(pass));
    return ok ? 0 : TR_E_IO;
}

int pki_emit_key(BIO *out, const void *evp_pkey)
{
    /* PKCS#8, unencrypted: trellisd reads it unattended at start-up. */
    return PEM_write_bio_PrivateKey(out, evp_pkey, NULL, NULL, 0, NULL, NULL) ? 0 : TR_E_IO;
}

int pki_emit_cert(BIO *out, const void *x509)
{
    return PEM_write_bio_X509(out, x509) ? 0 : TR_E_IO;
}

int pki_emit_certs(BIO *out, const void *stack_of_x509)
{
    const STACK_OF(X509) *certs = stack_of_x509;
    for (int i = 0; i < sk_X509_num(certs); i++)
        if (!PEM_write_bio_X509(out, sk_X509_value(certs, i)))
            return TR_E_IO;
    return 0;
}

int pki_emit_crl(BIO *out, const void *x509_crl)
{
    return PEM_write_bio_X509_CRL(out, x509_crl) ? 0 : TR_E_IO;
}

int pki_emit_text(BIO *out, const void *c_string)
{
    int n = (int)strlen(c_string);
    return BIO_write(out, c_string, n) == n ? 0 : TR_E_IO;
}

/* fsync the folder holding path, so a rename or link survives a crash. */
static void sync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) + (slash == path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: the data itself was already synced */
        close(fd);
    }
}

int pki_write_file(const char *path, mode_t mode, bool replace, pki_emit_fn emit, const void *arg,
                   pki_err_t *err)
{
    int rc = TR_E_IO;
    char tmp[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd = -1;
    FILE *f = NULL;
    BIO *bio = NULL;
    bool have_tmp = false;

    /* A hidden temporary in the same folder, so link and rename stay atomic. */
    if (slash)
        rc = pki_path(tmp, sizeof(tmp), err, "%.*s/.%s.XXXXXX", (int)(slash - path), path,
                      slash + 1);
    else
        rc = pki_path(tmp, sizeof(tmp), err, ".%s.XXXXXX", path);
    if (rc != 0)
        goto fail;
    /* mkstemp opens with O_CREAT|O_EXCL and mode 0600: a key is never readable
     * by anyone else, not even for a moment. */
    if ((fd = mkstemp(tmp)) < 0) {
        rc = pki_fail(err, TR_E_IO, "cannot create %s: %s", tmp, strerror(errno));
        goto fail;
    }
    have_tmp = true;
    if (mode != 0600) {
        mode_t mask = umask(0);
        umask(mask);
        if (fchmod(fd, mode & ~mask) != 0) {
            rc = pki_fail(err, TR_E_IO, "cannot set mode of %s: %s", tmp, strerror(errno));
            goto fail;
        }
    }
    if (!(f = fdopen(fd, "w"))) {
        rc = pki_fail(err, TR_E_IO, "cannot write %s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1; /* f owns it */
    if (!(bio = BIO_new_fp(f, BIO_NOCLOSE))) {
        rc = pki_fail_ssl(err, TR_E_NOMEM, "cannot write %s", path);
        goto fail;
    }
    if (emit(bio, arg) != 0 || BIO_flush(bio) <= 0) {
        rc = pki_fail_ssl(err, TR_E_IO, "cannot write %s", path);
        goto fail;
    }
    BIO_free(bio);
    bio = NULL;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        rc = pki_fail(err, TR_E_IO, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    int closed = fclose(f);
    f = NULL;
    if (closed != 0) {
        rc = pki_fail(err, TR_E_IO, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    if (replace) {
        if (rename(tmp, path) != 0) {
            rc = pki_fail(err, TR_E_IO, "cannot replace %s: %s", path, strerror(errno));
            goto fail;
        }
        have_tmp = false;
    } else {
        /* link, unlike rename, refuses to replace: two commands racing for
         * the same name cannot both win. */
        if (link(tmp, path) != 0) {
            if (errno == EEXIST)
                rc = pki_fail(err, TR_E_IO, "%s already exists", path);
            else
                rc = pki_fail(err, TR_E_IO, "cannot create %s: %s", path, strerror(errno));
            goto fail;
        }
        unlink(tmp);
        have_tmp = false;
    }
    sync_parent(path);
    return 0;
fail:
    BIO_free(bio);
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (have_tmp)
        unlink(tmp);
    return rc;
}

/* Never prompt on a terminal for a passphrase: our keys have none, and a
 * command in a script must fail rather than hang. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

static FILE *open_read(const char *path, int *rc, pki_err_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        *rc = pki_fail(err, errno == ENOENT ? TR_E_NOT_FOUND : TR_E_IO, "cannot read %s: %s", path,
                       strerror(errno));
    return f;
}

int pki_read_cert(const char *path, X509 **out, pki_err_t *err)
{
    int rc = 0;
    FILE *f = open_read(path, &rc, err);
    if (!f)
        return rc;
    *out = PEM_read_X509(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (!*out)
        return pki_fail_ssl(err, TR_E_CERT, "%s holds no PEM certificate", path);
    return 0;
}

int pki_read_crl(const char *path, X509_CRL **out, pki_err_t *err)
{
    int rc = 0;
    FILE *f = open_read(path, &rc, err);
    if (!f)
        return rc;
    *out = PEM_read_X509_CRL(f, NULL, no_passphrase, NULL);
    fclose(f);
    if (!*out)
        return pki_fail_ssl(err, TR_E_CERT, "%s holds no PEM CRL", path);
    return 0;
}

int pki_read_key(const char *path, EVP_PKEY **out, pki_err_t *err)
{
    int rc = 0;
    FILE *f = open_read(path, &rc, err);
    if (!f)
        return rc;
    *out = PEM_read_PrivateKey(f, NULL, passphrase_cb, NULL);
    fclose(f);
    if (!*out)
        return pki_fail_ssl(err, TR_E_CERT,
                            "%s holds no PEM private key, or it is encrypted and its passphrase "
                            "is wrong or missing (--passphrase-file)",
                            path);
    return 0;
}

int pki_ca_load(pki_ca_t *ca, const char *ca_dir, bool with_key, pki_err_t *err)
{
    int rc;
    char path[PATH_MAX];

    /* ca_dir may be ca->dir itself: copy it before clearing ca. */
    if ((rc = pki_path(path, sizeof(path), err, "%s", ca_dir)) != 0)
        return rc;
    memset(ca, 0, sizeof(*ca));
    memcpy(ca->dir, path, sizeof(ca->dir));
    ca_dir = ca->dir;
    if ((rc = pki_path(path, sizeof(path), err, "%s/ca.crt", ca_dir)) != 0 ||
        (rc = pki_read_cert(path, &ca->cert, err)) != 0)
        goto fail;
    if (!with_key)
        return 0;
    if ((rc = pki_path(path, sizeof(path), err, "%s/ca.key", ca_dir)) != 0 ||
        (rc = pki_read_key(path, &ca->key, err)) != 0)
        goto fail;
    if (X509_check_private_key(ca->cert, ca->key) != 1) {
        rc = pki_fail_ssl(err, TR_E_CERT, "%s does not belong to %s/ca.crt", path, ca_dir);
        goto fail;
    }
    return 0;
fail:
    pki_ca_close(ca);
    return rc;
}

void pki_ca_close(pki_ca_t *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    X509_NAME_free(ca->name);
    ca->cert = NULL;
    ca->key = NULL;
    ca->name = NULL;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of folder that keep(folder, entry name, stem out) accepts,
 * as their stems, sorted. */
typedef bool (*keep_fn)(const char *folder, const char *entry, char *stem, size_t len);

static int scan_folder(const char *folder, keep_fn keep, char ***names, size_t *n, pki_err_t *err)
{
    int rc = 0;
    DIR *d = opendir(folder);
    struct dirent *de;
    char stem[NAME_MAX + 1];

    *names = NULL;
    *n = 0;
    if (!d)
        return errno == ENOENT
                   ? 0
                   : pki_fail(err, TR_E_IO, "cannot read %s: %s", folder, strerror(errno));
    while ((de = readdir(d))) {
        if (!keep(folder, de->d_name, stem, sizeof(stem)))
            continue;
        char **grown = realloc(*names, (*n + 1) * sizeof(char *));
        char *copy = strdup(stem);
        if (!grown || !copy) {
            free(copy);
            if (grown)
                *names = grown;
            rc = oom(err);
            goto fail;
        }
        *names = grown;
        (*names)[(*n)++] = copy;
    }
    closedir(d);
    qsort(*names, *n, sizeof(char *), cmp_names);
    return 0;
fail:
    closedir(d);
    pki_names_free(*names, *n);
    *names = NULL;
    *n = 0;
    return rc;
}

static bool keep_org(const char *folder, const char *entry, char *stem, size_t len)
{
    char path[PATH_MAX];
    pki_err_t ignored;
    if (!tr_name_valid(entry) ||
        pki_path(path, sizeof(path), &ignored, "%s/%s/ca.crt", folder, entry) != 0 ||
        !pki_exists(path))
        return false;
    snprintf(stem, len, "%s", entry);
    return true;
}

static bool keep_cert(const char *folder, const char *entry, char *stem, size_t len)
{
    size_t n = strlen(entry);
    if (n <= 4 || strcmp(entry + n - 4, ".crt") != 0)
        return false;
    snprintf(stem, len, "%.*s", (int)(n - 4), entry);
    return tr_name_valid(stem); /* also drops NAME.chain: '.' is not allowed in names */
}

int pki_org_names(const char *dir, char ***names, size_t *n, pki_err_t *err)
{
    char folder[PATH_MAX];
    int rc = pki_path(folder, sizeof(folder), err, "%s/orgs", dir);
    if (rc != 0)
        return rc;
    return scan_folder(folder, keep_org, names, n, err);
}

int pki_cert_names(const char *folder, char ***names, size_t *n, pki_err_t *err)
{
    return scan_folder(folder, keep_cert, names, n, err);
}

/* A retired CA's folder: its serial in uppercase hex, with a ca.crt. */
static bool keep_retired(const char *folder, const char *entry, char *stem, size_t len)
{
    char path[PATH_MAX];
    pki_err_t ignored;
    size_t n = strlen(entry);
    if (n == 0 || n >= 80 || strspn(entry, "0123456789ABCDEF") != n ||
        pki_path(path, sizeof(path), &ignored, "%s/%s/ca.crt", folder, entry) != 0 ||
        !pki_exists(path))
        return false;
    snprintf(stem, len, "%s", entry);
    return true;
}

int pki_retired_names(const char *org_dir, char ***names, size_t *n, pki_err_t *err)
{
    char folder[PATH_MAX];
    int rc = pki_path(folder, sizeof(folder), err, "%s/retired", org_dir);
    if (rc != 0)
        return rc;
    return scan_folder(folder, keep_retired, names, n, err);
}

int pki_move_files(const char *from, const char *to, const char *const *names, pki_err_t *err)
{
    int rc = 0;
    char src[PATH_MAX], dst[PATH_MAX];
    for (const char *const *name = names; *name && rc == 0; name++) {
        if ((rc = pki_path(src, sizeof(src), err, "%s/%s", from, *name)) != 0 ||
            (rc = pki_path(dst, sizeof(dst), err, "%s/%s", to, *name)) != 0)
            break;
        if (!pki_exists(src))
            continue;
        /* link refuses to replace, so nothing already in `to` is lost. */
        if (link(src, dst) != 0)
            rc = pki_fail(err, TR_E_IO, "cannot move %s to %s: %s", src, dst, strerror(errno));
        else if (unlink(src) != 0)
            rc = pki_fail(err, TR_E_IO, "cannot remove %s: %s", src, strerror(errno));
        else
            sync_parent(dst);
    }
    return rc;
}

static const char *const ca_files[] = {"ca.crt", "ca.key", "crl.pem", "revoked.json", NULL};

int pki_ca_retire(const char *ca_dir, char *out, size_t len, pki_err_t *err)
{
    int rc;
    char path[PATH_MAX], serial[80];
    X509 *cert = NULL;

    if ((rc = pki_path(path, sizeof(path), err, "%s/ca.crt", ca_dir)) != 0 ||
        (rc = pki_read_cert(path, &cert, err)) != 0)
        goto fail;
    if (pki_serial_hex(cert, serial, sizeof(serial)) != 0) {
        rc = pki_fail(err, TR_E_CERT, "%s: cannot read its serial number", path);
        goto fail;
    }
    if ((rc = pki_path(out, len, err, "%s/retired/%s", ca_dir, serial)) != 0 ||
        (rc = pki_mkdirs(out, err)) != 0 || (rc = pki_move_files(ca_dir, out, ca_files, err)) != 0)
        goto fail;
fail:
    X509_free(cert);
    return rc;
}

int pki_read_pem_all(const char *path, STACK_OF(X509) * *certs, STACK_OF(X509_CRL) * *crls,
                     pki_err_t *err)
{
    int rc = 0;
    FILE *f = open_read(path, &rc, err);
    STACK_OF(X509_INFO) *infos = NULL;

    *certs = sk_X509_new_null();
    *crls = sk_X509_CRL_new_null();
    if (!f)
        goto fail;
    if (!*certs || !*crls) {
        rc = oom(err);
        goto fail;
    }
    /* Keys in the file are not read: no_passphrase makes an encrypted one fail
     * rather than prompt, and a plain one is dropped below unused. */
    if (!(infos = PEM_X509_INFO_read(f, NULL, no_passphrase, NULL))) {
        rc = pki_fail_ssl(err, TR_E_CERT, "%s is not a PEM file of certificates and CRLs", path);
        goto fail;
    }
    for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *info = sk_X509_INFO_value(infos, i);
        if (info->x509) {
            if (!sk_X509_push(*certs, info->x509)) {
                rc = oom(err);
                goto fail;
            }
            info->x509 = NULL;
        }
        if (info->crl) {
            if (!sk_X509_CRL_push(*crls, info->crl)) {
                rc = oom(err);
                goto fail;
            }
            info->crl = NULL;
        }
    }
fail:
    if (f)
        fclose(f);
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    if (rc != 0) {
        sk_X509_pop_free(*certs, X509_free);
        sk_X509_CRL_pop_free(*crls, X509_CRL_free);
        *certs = NULL;
        *crls = NULL;
    }
    return rc;
}

bool pki_issued_by(X509 *ca, X509 *cert)
{
    bool yes =
        X509_check_issued(ca, cert) == X509_V_OK && X509_verify(cert, X509_get0_pubkey(ca)) == 1;
    ERR_clear_error();
    return yes;
}

void pki_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

void pki_undo_add(pki_undo_t *u, const char *path)
{
    if (u->n < (int)(sizeof(u->paths) / sizeof(u->paths[0])))
        snprintf(u->paths[u->n++], sizeof(u->paths[0]), "%s", path);
}

void pki_undo_run(pki_undo_t *u)
{
    while (u->n > 0)
        unlink(u->paths[--u->n]);
}
