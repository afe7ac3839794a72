/* Creating and reading the local secret (agent_secret.h). */
#include "agent_secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int agent_secret_create(const char *path, char *err, size_t err_len)
{
    uint8_t key[AGENT_SECRET_LEN];
    if (RAND_priv_bytes(key, sizeof(key)) != 1) {
        snprintf(err, err_len, "no random bytes from OpenSSL");
        return -1;
    }
    char hex[2 * AGENT_SECRET_LEN + 2];
    for (int i = 0; i < AGENT_SECRET_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    hex[2 * AGENT_SECRET_LEN] = '\n';
    hex[2 * AGENT_SECRET_LEN + 1] = '\0';
    OPENSSL_cleanse(key, sizeof(key));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "cannot create %s: %s", path,
                 errno == EEXIST ? "it exists already (never replace a secret in use)"
                                 : strerror(errno));
        OPENSSL_cleanse(hex, sizeof(hex));
        return -1;
    }
    ssize_t n = write(fd, hex, strlen(hex));
    OPENSSL_cleanse(hex, sizeof(hex));
    if (n != 2 * AGENT_SECRET_LEN + 1 || fsync(fd) != 0) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int agent_secret_load(const char *path, uint8_t out[AGENT_SECRET_LEN], char *err, size_t err_len)
{
    if (!path) {
        snprintf(err, err_len, "no local secret configured ([agent] secret)");
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, err_len, "cannot read the local secret %s: %s%s", path, strerror(errno),
                 errno == ENOENT ? " (trellis agent init creates it; restore it from its backup "
                                   "if it was lost)"
                                 : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, err_len, "the local secret %s may be read by others: chmod 600 it", path);
        close(fd);
        return -1;
    }
    char buf[2 * AGENT_SECRET_LEN + 8];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    int bad = n != 2 * AGENT_SECRET_LEN;
    for (int i = 0; !bad && i < AGENT_SECRET_LEN; i++) {
        int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);
        if (hi < 0 || lo < 0)
            bad = 1;
        else
            out[i] = (uint8_t)(hi << 4 | lo);
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    if (bad) {
        snprintf(err, err_len, "the local secret %s is not 64 hexadecimal digits", path);
        return -1;
    }
    return 0;
}
