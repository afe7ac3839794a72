/* A growing byte buffer for building replies (aborts on out of memory). */
#ifndef TRELLIS_STRBUF_H
#define TRELLIS_STRBUF_H

#include <stddef.h>

typedef struct {
    char *buf; /* always NUL-terminated once anything was added */
    size_t len, cap;
} strbuf_t;

void strbuf_add(strbuf_t *s, const char *data, size_t len);
void strbuf_puts(strbuf_t *s, const char *str);
void strbuf_printf(strbuf_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the buffer over (caller frees); the strbuf is empty afterwards. */
char *strbuf_take(strbuf_t *s, size_t *len);
void strbuf_free(strbuf_t *s);

#endif
