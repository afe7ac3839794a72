/* Growing byte buffer. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(strbuf_t *s, size_t extra)
{
    if (s->cap - s->len > extra)
        return;
    size_t cap = s->cap ? s->cap : 256;
    while (cap - s->len <= extra)
        cap *= 2;
    s->buf = realloc(s->buf, cap);
    if (!s->buf)
        abort();
    s->cap = cap;
}

void strbuf_add(strbuf_t *s, const char *data, size_t len)
{
    reserve(s, len);
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    s->buf[s->len] = '\0';
}

void strbuf_puts(strbuf_t *s, const char *str)
{
    strbuf_add(s, str, strlen(str));
}

void strbuf_printf(strbuf_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    reserve(s, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

char *strbuf_take(strbuf_t *s, size_t *len)
{
    if (!s->buf)
        strbuf_add(s, "", 0);
    char *b = s->buf;
    if (len)
        *len = s->len;
    s->buf = NULL;
    s->len = s->cap = 0;
    return b;
}

void strbuf_free(strbuf_t *s)
{
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
}
