/* [viewer] checks: the trusted proxies parsed once at load into 16-byte
 * addresses, so that each accept compares bytes and resolves nothing. */
#include "config_viewer.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* An IP literal as 16 bytes; -1 if it is none. */
static int parse_ip(const char *s, unsigned char out[16])
{
    struct in_addr a4;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memcpy(out, v4_prefix, 12);
        memcpy(out + 12, &a4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, s, out) == 1 ? 0 : -1;
}

int config_viewer_addr(const struct sockaddr *sa, unsigned char out[16])
{
    if (sa->sa_family == AF_INET) {
        memcpy(out, v4_prefix, 12);
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

bool config_viewer_loopback(const unsigned char addr[16])
{
    static const unsigned char v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (memcmp(addr, v4_prefix, 12) == 0)
        return addr[12] == 127;
    return memcmp(addr, v6_loop, 16) == 0;
}

bool config_viewer_trusted(const config_t *cfg, const unsigned char addr[16])
{
    for (size_t i = 0; i < cfg->n_viewer_proxies; i++)
        if (memcmp(cfg->viewer_proxies[i], addr, 16) == 0)
            return true;
    return false;
}

/* RFC 9110 5.1: a field name is a token. */
static bool header_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr("!#$%&'*+-.^_`|~", c))
            return false;
    }
    return true;
}

static int parse_proxies(config_t *cfg, char *err, size_t err_len, const char *path)
{
    free(cfg->viewer_proxies);
    cfg->viewer_proxies = calloc(VIEWER_MAX_PROXIES, 16);
    if (!cfg->viewer_proxies)
        abort();
    cfg->n_viewer_proxies = 0;
    const char *p = cfg->viewer_trusted_proxies;
    for (;;) {
        p += strspn(p, ", \t");
        if (!*p)
            return 0;
        size_t n = strcspn(p, ", \t");
        if (cfg->n_viewer_proxies == VIEWER_MAX_PROXIES) {
            snprintf(err, err_len, "%s: [viewer] trusted_proxies lists more than %d addresses",
                     path, VIEWER_MAX_PROXIES);
            return -1;
        }
        char item[64];
        if (n >= sizeof(item))
            goto bad;
        memcpy(item, p, n);
        item[n] = '\0';
        if (parse_ip(item, cfg->viewer_proxies[cfg->n_viewer_proxies]) != 0)
            goto bad;
        cfg->n_viewer_proxies++;
        p += n;
    }
bad:
    snprintf(err, err_len,
             "%s: [viewer] trusted_proxies must list IP addresses, comma-separated (names are "
             "not resolved)",
             path);
    return -1;
}

int config_viewer_check(config_t *cfg, char *err, size_t err_len, const char *path)
{
    if (parse_proxies(cfg, err, err_len, path) != 0)
        return -1;
    if (cfg->viewer_user_header[0] && !header_name_ok(cfg->viewer_user_header)) {
        snprintf(err, err_len,
                 "%s: [viewer] user_header must be a header name (letters, digits, '-'), at "
                 "most 64 characters",
                 path);
        return -1;
    }
    if (!cfg->viewer_listen[0])
        return 0;
    unsigned char host[16];
    if (parse_ip(cfg->viewer_host, host) != 0) {
        snprintf(err, err_len, "%s: [viewer] listen: %s is not an IP address", path,
                 cfg->viewer_host);
        return -1;
    }
    if (!config_viewer_loopback(host) && cfg->n_viewer_proxies == 0) {
        snprintf(err, err_len,
                 "%s: [viewer] listen %s is not a loopback address and [viewer] "
                 "trusted_proxies is empty: the viewer speaks plain HTTP and must sit behind "
                 "the charity's sign-in proxy; listen on 127.0.0.1 or name the proxy",
                 path, cfg->viewer_listen);
        return -1;
    }
    return 0;
}

void config_viewer_free(config_t *cfg)
{
    free(cfg->viewer_proxies);
    cfg->viewer_proxies = NULL;
    cfg->n_viewer_proxies = 0;
    free(cfg->viewer_host);
    cfg->viewer_host = NULL;
}
