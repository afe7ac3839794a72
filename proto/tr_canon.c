/* Canonical JSON: the exact bytes a record's signature and hash cover. One
 * growing buffer and one recursive walk; object keys are sorted per object
 * by their UTF-8 bytes (see tr_canon.h and docs/records.md for why not UTF-16). */
#include "tr_canon.h"
#include "tr_error.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CANON_MAX_DEPTH 64

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

/* Out of memory is not a condition a caller can recover from here. */
static void grow(buf_t *b, size_t need)
{
    if (b->cap - b->len >= need)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < need) {
        if (cap > SIZE_MAX / 2)
            abort();
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p)
        abort();
    b->p = p;
    b->cap = cap;
}

static void put(buf_t *b, const char *s, size_t n)
{
    grow(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void put_c(buf_t *b, char c)
{
    grow(b, 1);
    b->p[b->len++] = c;
}

static void put_int(buf_t *b, json_int_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    /* Work on the magnitude as unsigned so that the most negative value is exact. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    put(b, tmp + i, sizeof(tmp) - i);
}

/* Which bytes need an escape: 0 none, else the letter after the backslash,
 * or 'u' for \u00xx. Bytes >= 0x80 (UTF-8 sequences) and '/' pass as they are. */
static const char escape_of[256] = {
    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r',  ['\t'] = 't', [0x00] = 'u',
    [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u',  [0x05] = 'u', [0x06] = 'u',
    [0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u', [0x0f] = 'u',  [0x10] = 'u', [0x11] = 'u',
    [0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u',  [0x16] = 'u', [0x17] = 'u',
    [0x18] = 'u', [0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u',  [0x1c] = 'u', [0x1d] = 'u',
    [0x1e] = 'u', [0x1f] = 'u', ['"'] = '"',  ['\\'] = '\\',
};

static void put_string(buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case is six bytes per input byte; reserving it once keeps the loop
     * free of capacity checks. */
    if (n > (SIZE_MAX - 2) / 6)
        abort();
    grow(b, n * 6 + 2);
    char *o = b->p + b->len;
    *o++ = '"';
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char esc = escape_of[(unsigned char)s[i]];
        if (!esc)
            continue;
        memcpy(o, s + run, i - run);
        o += i - run;
        run = i + 1;
        *o++ = '\\';
        *o++ = esc;
        if (esc == 'u') {
            unsigned char c = (unsigned char)s[i];
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    memcpy(o, s + run, n - run);
    o += n - run;
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

typedef struct {
    const char *key;
    size_t len;
    json_t *value;
} member_t;

/* Byte order of the UTF-8 keys; a key that is a prefix of another sorts first. */
static int member_cmp(const void *a, const void *b)
{
    const member_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static int put_value(buf_t *b, const json_t *v, int depth);

static int put_object(buf_t *b, const json_t *v, int depth)
{
    size_t n = json_object_size(v);
    member_t small[16];
    member_t *m = small;
    if (n > sizeof(small) / sizeof(small[0])) {
        m = malloc(n * sizeof(*m));
        if (!m)
            abort();
    }
    size_t i = 0;
    const char *key;
    size_t key_len;
    json_t *val;
    /* jansson's iteration is non-const; the walk only reads. */
    json_object_keylen_foreach((json_t *)v, key, key_len, val)
    {
        m[i].key = key;
        m[i].len = key_len;
        m[i].value = val;
        i++;
    }
    /* A record's objects have a handful of members: an insertion sort beats
     * qsort's calls through a pointer. Keys are unique, so either order is
     * the one order. */
    if (n > sizeof(small) / sizeof(small[0])) {
        qsort(m, n, sizeof(*m), member_cmp);
    } else {
        for (size_t j = 1; j < n; j++) {
            member_t t = m[j];
            size_t k = j;
            for (; k > 0 && member_cmp(&m[k - 1], &t) > 0; k--)
                m[k] = m[k - 1];
            m[k] = t;
        }
    }
    int rc = 0;
    put_c(b, '{');
    for (i = 0; i < n && rc == 0; i++) {
        if (i)
            put_c(b, ',');
        put_string(b, m[i].key, m[i].len);
        put_c(b, ':');
        rc = put_value(b, m[i].value, depth);
    }
    put_c(b, '}');
    if (m != small)
        free(m);
    return rc;
}

static int put_value(buf_t *b, const json_t *v, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (depth >= CANON_MAX_DEPTH)
            return TR_E_INVAL;
        return put_object(b, v, depth + 1);
    case JSON_ARRAY: {
        if (depth >= CANON_MAX_DEPTH)
            return TR_E_INVAL;
        put_c(b, '[');
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if (i)
                put_c(b, ',');
            int rc = put_value(b, json_array_get(v, i), depth + 1);
            if (rc)
                return rc;
        }
        put_c(b, ']');
        return 0;
    }
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER:
        put_int(b, json_integer_value(v));
        return 0;
    case JSON_TRUE:
        put(b, "true", 4);
        return 0;
    case JSON_FALSE:
        put(b, "false", 5);
        return 0;
    case JSON_NULL:
        put(b, "null", 4);
        return 0;
    case JSON_REAL:
    default:
        /* Floating point has no single spelling both sides would agree on. */
        return TR_E_INVAL;
    }
}

int tr_canon_dump(const json_t *v, char **out, size_t *len)
{
    *out = NULL;
    if (len)
        *len = 0;
    if (!v)
        return TR_E_INVAL;
    buf_t b = {0};
    int rc = put_value(&b, v, 0);
    if (rc) {
        free(b.p);
        return rc;
    }
    put_c(&b, '\0');
    *out = b.p;
    if (len)
        *len = b.len - 1;
    return 0;
}

int tr_canon_dump_into(const json_t *v, char **buf, size_t *cap, size_t *len)
{
    *len = 0;
    if (!v)
        return TR_E_INVAL;
    buf_t b = {*buf, 0, *cap};
    int rc = put_value(&b, v, 0);
    put_c(&b, '\0');
    *buf = b.p;
    *cap = b.cap;
    if (rc) {
        b.p[0] = '\0';
        return rc;
    }
    *len = b.len - 1;
    return 0;
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int tr_sha256(const void *data, size_t len, unsigned char md[32])
{
    pthread_once(&sha256_once, sha256_fetch);
    unsigned int md_len = 0;
    if (!sha256_md || !EVP_Digest(data, len, md, &md_len, sha256_md, NULL) || md_len != 32)
        return TR_E_INVAL;
    return 0;
}

int tr_sha256_hex(const void *data, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    out[0] = '\0';
    int rc = tr_sha256(data, len, md);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof(md); i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

int tr_canon_hash(const json_t *v, char out[65])
{
    char *text;
    size_t len;
    out[0] = '\0';
    int rc = tr_canon_dump(v, &text, &len);
    if (rc)
        return rc;
    rc = tr_sha256_hex(text, len, out);
    free(text);
    return rc;
}
