/* PostgreSQL's binary array format (array_send in its arrayfuncs.c): the
 * number of dimensions, a has-nulls flag, the element type's OID, per
 * dimension its length and lower bound, then per element its length and
 * bytes, every integer 4 or 8 bytes in network order. The element count is
 * written last, once known. */
#include "record_arrays.h"

#include <stdint.h>
#include <string.h>

#define COUNT_AT 12

/* Element types (pg_type.dat). */
#define OID_INT8 20
#define OID_INT4 23
#define OID_TEXT 25
#define OID_UUID 2950
#define OID_JSONB 3802

#define JSONB_FORMAT_VERSION 1 /* jsonb_send's first byte */

static const unsigned element_oid[RA_COLUMNS] = {
    [RA_INDEX] = OID_INT4,   [RA_KIND] = OID_TEXT, [RA_ID] = OID_UUID,   [RA_ORIGIN] = OID_TEXT,
    [RA_VERSION] = OID_INT8, [RA_HASH] = OID_TEXT, [RA_DOC] = OID_JSONB,
};

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void put32(strbuf_t *s, uint32_t v)
{
    unsigned char b[4];
    be32(b, v);
    strbuf_add(s, (const char *)b, 4);
}

/* One element: its length, then its bytes. */
static void put_elem(strbuf_t *s, const void *data, size_t len)
{
    put32(s, (uint32_t)len);
    strbuf_add(s, data, len);
}

void record_arrays_init(record_arrays_t *a)
{
    memset(a, 0, sizeof(*a));
    for (int c = 0; c < RA_COLUMNS; c++) {
        strbuf_t *s = &a->col[c];
        put32(s, 1); /* dimensions */
        put32(s, 0); /* no nulls */
        put32(s, element_oid[c]);
        put32(s, 0); /* elements: set by record_arrays_params */
        put32(s, 1); /* lower bound */
    }
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

void record_arrays_add(record_arrays_t *a, int index, const tr_record_t *rec, const char *hash,
                       const char *doc, size_t doc_len)
{
    unsigned char b[16];
    be32(b, (uint32_t)index);
    put_elem(&a->col[RA_INDEX], b, 4);
    const char *kind = tr_kind_name(rec->kind);
    put_elem(&a->col[RA_KIND], kind, strlen(kind));
    /* The id was validated as a lowercase UUID: 32 hex digits and 4 dashes. */
    size_t n = 0;
    for (const char *p = rec->id; *p && n < 32; p++)
        if (*p != '-') {
            int v = hexval(*p);
            b[n / 2] = (unsigned char)(n % 2 ? b[n / 2] | v : v << 4);
            n++;
        }
    put_elem(&a->col[RA_ID], b, 16);
    put_elem(&a->col[RA_ORIGIN], rec->origin, strlen(rec->origin));
    uint64_t v = (uint64_t)rec->version;
    be32(b, (uint32_t)(v >> 32));
    be32(b + 4, (uint32_t)v);
    put_elem(&a->col[RA_VERSION], b, 8);
    put_elem(&a->col[RA_HASH], hash, 64);
    strbuf_t *d = &a->col[RA_DOC];
    put32(d, (uint32_t)(doc_len + 1));
    unsigned char format = JSONB_FORMAT_VERSION;
    strbuf_add(d, (const char *)&format, 1);
    strbuf_add(d, doc, doc_len);
    a->n++;
}

void record_arrays_params(record_arrays_t *a, const char *values[RA_COLUMNS],
                          int lengths[RA_COLUMNS], int formats[RA_COLUMNS])
{
    for (int c = 0; c < RA_COLUMNS; c++) {
        be32((unsigned char *)a->col[c].buf + COUNT_AT, (uint32_t)a->n);
        values[c] = a->col[c].buf;
        lengths[c] = (int)a->col[c].len;
        formats[c] = 1;
    }
}

void record_arrays_free(record_arrays_t *a)
{
    for (int c = 0; c < RA_COLUMNS; c++)
        strbuf_free(&a->col[c]);
    a->n = 0;
}
