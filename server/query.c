/* Query-string parsing: application/x-www-form-urlencoded, strictly. */
#include "query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* Decode [s, s+len) into out; -1 if malformed or too long. */
static int decode(const char *s, size_t len, char *out, size_t out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hexval(s[i + 1]);
            int lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return -1;
            i += 2;
        }
        if (o + 1 >= out_len)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

int query_get(const char *query, const char *name, char *out, size_t out_len)
{
    size_t nlen = strlen(name);
    const char *p = query ? query : "";
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        if (klen == nlen && memcmp(p, name, nlen) == 0) {
            /* The first value wins, for every parameter (docs/directory.md):
             * finders built on other APIs repeat parameters, and refusing
             * them broke those clients without making anything safer. */
            const char *v = eq ? eq + 1 : p + plen;
            return decode(v, (size_t)(p + plen - v), out, out_len) != 0 ? -1 : 1;
        }
        p += plen + (amp ? 1 : 0);
    }
    return 0;
}

int query_int(const char *query, const char *name, int64_t min, int64_t max, int64_t def,
              int64_t *out)
{
    char buf[32];
    int r = query_get(query, name, buf, sizeof(buf));
    if (r < 0)
        return -1;
    if (r == 0) {
        *out = def;
        return 0;
    }
    if (buf[0] == '\0' || (buf[0] != '-' && (buf[0] < '0' || buf[0] > '9')))
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

bool query_only(const char *query, const char *const *allowed, const char **bad, size_t *bad_len)
{
    const char *p = query ? query : "";
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        bool ok = klen == 0; /* "a=1&&b=2" has an empty part: tolerated */
        for (const char *const *a = allowed; !ok && *a; a++)
            ok = strlen(*a) == klen && memcmp(*a, p, klen) == 0;
        if (!ok) {
            *bad = p;
            *bad_len = klen;
            return false;
        }
        p += plen + (amp ? 1 : 0);
    }
    return true;
}
