/* CSV through libcsv (csv_reader.h). libcsv reports fields and row ends but
 * no positions, so lines are counted here: every LF ends a line, and a CR
 * too unless an LF follows it (CSV_REPALL_NL reports each terminator). */
#include "csv_reader.h"

#include <csv.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const src_sink_t *sink;
    const char *name;
    char *err;
    size_t err_len;
    int stop;
    const char **vals; /* the row's values: pointers into text, set at the row's end */
    size_t *offs;      /* each value's offset in text while the row is read */
    size_t n, cap;     /* values in the row, room in vals and offs */
    char *text;        /* the row's values one after another, each NUL-ended */
    size_t used, text_cap;
    char **hdr;
    size_t n_hdr;
    bool have_header;
    long line;     /* the line the next row starts on */
    long row_line; /* the line the current row started on */
    long row_nl;   /* line breaks inside the current row's quoted values */
    bool after_cr; /* the last terminator was a CR that ended a row or line */
} reader_t;

/* libcsv grows its value buffer without bound: refuse past the limit. */
static void *bounded_realloc(void *p, size_t n)
{
    if (n > SRC_MAX_FIELD + 256)
        return NULL;
    return realloc(p, n);
}

static void fail(reader_t *r, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(reader_t *r, long line, const char *fmt, ...)
{
    if (r->stop)
        return;
    r->stop = SRC_E_BAD;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(r->err, r->err_len, "%s line %ld: %s", r->name, line, msg);
}

static void reserve_value(reader_t *r)
{
    if (r->n < r->cap)
        return;
    r->cap = r->cap ? r->cap * 2 : 32;
    r->vals = realloc(r->vals, r->cap * sizeof(*r->vals));
    r->offs = realloc(r->offs, r->cap * sizeof(*r->offs));
    if (!r->vals || !r->offs)
        abort();
}

static void on_field(void *data, size_t len, void *user)
{
    reader_t *r = user;
    if (r->stop)
        return;
    if (r->n == 0)
        r->row_line = r->line;
    if (r->n >= SRC_MAX_COLUMNS) {
        fail(r, r->row_line, "more than %d values in a row", SRC_MAX_COLUMNS);
        return;
    }
    const char *s = data ? data : "";
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\n')
            r->row_nl++;
    if (!src_utf8_valid(s, len)) {
        const char *col = r->have_header && r->n < r->n_hdr ? r->hdr[r->n] : "?";
        fail(r, r->row_line,
             "the value in column '%.60s' is not UTF-8 text (save the export as \"CSV UTF-8\")",
             col);
        return;
    }
    /* One buffer for the whole row rather than an allocation a value: a
     * row is read, used and dropped, hundreds of thousands of times. */
    reserve_value(r);
    if (r->used + len + 1 > r->text_cap) {
        while (r->used + len + 1 > r->text_cap)
            r->text_cap = r->text_cap ? r->text_cap * 2 : 4096;
        r->text = realloc(r->text, r->text_cap);
        if (!r->text)
            abort();
    }
    memcpy(r->text + r->used, s, len);
    r->text[r->used + len] = '\0';
    r->offs[r->n++] = r->used;
    r->used += len + 1;
}

static void clear_row(reader_t *r)
{
    r->n = 0;
    r->used = 0;
    r->row_nl = 0;
}

static void on_row_end(int c, void *user)
{
    reader_t *r = user;
    bool empty_report = r->n == 0;
    /* Line counting: a CR then an LF is one line break. */
    long brk = 0;
    if (c == '\n')
        brk = r->after_cr && empty_report ? 0 : 1;
    else if (c == '\r')
        brk = 1;
    r->after_cr = c == '\r';
    if (r->stop || empty_report) {
        r->line += r->row_nl + brk;
        clear_row(r);
        return;
    }
    long row_line = r->row_line;
    r->line += r->row_nl + brk;
    for (size_t i = 0; i < r->n; i++) /* text no longer grows: point into it */
        r->vals[i] = r->text + r->offs[i];
    bool blank = true;
    for (size_t i = 0; i < r->n && blank; i++)
        if (r->vals[i][0])
            blank = false;
    if (blank) { /* ",,," lines that spreadsheets leave at the end */
        clear_row(r);
        return;
    }
    if (!r->have_header) {
        /* The header: names trimmed (libcsv trims unquoted ones), copied, as
         * they outlive the row. */
        r->hdr = calloc(r->n, sizeof(*r->hdr));
        if (!r->hdr)
            abort();
        for (size_t i = 0; i < r->n; i++)
            if (!(r->hdr[i] = strdup(r->vals[i])))
                abort();
        r->n_hdr = r->n;
        clear_row(r);
        r->have_header = true;
        if (r->sink->on_header) {
            int rc =
                r->sink->on_header(r->sink->ctx, (const char *const *)r->hdr, r->n_hdr, row_line);
            if (rc)
                r->stop = rc;
        }
        return;
    }
    if (r->n > r->n_hdr) {
        fail(r, row_line, "%zu values, more than the header's %zu columns", r->n, r->n_hdr);
        clear_row(r);
        return;
    }
    while (r->n < r->n_hdr) { /* missing trailing values are empty */
        reserve_value(r);
        r->vals[r->n++] = "";
    }
    src_row_t row = {r->name, row_line, r->n, (const char *const *)r->hdr,
                     (const char *const *)r->vals};
    int rc = r->sink->on_row(r->sink->ctx, &row);
    if (rc)
        r->stop = rc;
    clear_row(r);
}

int csv_read(FILE *f, const char *name, const src_sink_t *sink, char *err, size_t err_len)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL) != 0)
        abort();
    csv_set_realloc_func(&p, bounded_realloc);
    reader_t r = {.sink = sink, .name = name, .err = err, .err_len = err_len, .line = 1};
    char *buf = malloc(65536);
    if (!buf)
        abort();
    bool first = true;
    size_t total = 0;
    for (;;) {
        size_t got = fread(buf, 1, 65536, f);
        if (got == 0)
            break;
        const char *data = buf;
        if (first && got >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
            data += 3; /* the BOM Excel writes in "CSV UTF-8" */
            got -= 3;
        }
        first = false;
        total += got;
        if (csv_parse(&p, data, got, on_field, on_row_end, &r) != got && !r.stop) {
            int e = csv_error(&p);
            if (e == CSV_EPARSE)
                fail(&r, r.line,
                     "malformed quoting (a quote inside an unquoted value, or text "
                     "after a closing quote)");
            else if (e == CSV_ENOMEM)
                fail(&r, r.line, "a value is over %u KiB", SRC_MAX_FIELD >> 10);
            else
                fail(&r, r.line, "cannot parse the file");
        }
        if (r.stop)
            break;
    }
    if (!r.stop && ferror(f))
        fail(&r, r.line, "cannot read the file");
    if (!r.stop && csv_fini(&p, on_field, on_row_end, &r) != 0)
        fail(&r, r.line, "a quoted value is not closed before the end of the file");
    if (!r.stop && !r.have_header)
        fail(&r, r.line, "%s", total == 0 ? "the file is empty (no header row)" : "no header row");
    free(r.vals);
    free(r.offs);
    free(r.text);
    for (size_t i = 0; i < r.n_hdr; i++)
        free(r.hdr[i]);
    free(r.hdr);
    csv_free(&p);
    free(buf);
    return r.stop;
}
