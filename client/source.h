/* What the export readers (csv_reader.c, json_reader.c) hand on: one row at
 * a time, as column names and text values, with the line it starts on, so
 * that a whole export is never held in memory and every error can name its
 * file and line. */
#ifndef SOURCE_H
#define SOURCE_H

#include <stddef.h>

/* Limits on what an export may hold; past one the file is refused with its line. */
#define SRC_MAX_FIELD (64u << 10) /* bytes in one value */
#define SRC_MAX_COLUMNS 1000      /* columns in a row */
#define SRC_MAX_RECORD (1u << 20) /* bytes in one JSON record */

typedef struct {
    const char *file;          /* for messages */
    long line;                 /* the line the row starts on (1-based) */
    size_t n;                  /* columns */
    const char *const *names;  /* the header's names (CSV: the same array for every row) */
    const char *const *values; /* text of each value; NULL for a JSON null */
} src_row_t;

typedef struct {
    /* The CSV header, once, before any row (names, line): 0 or stop. Optional. */
    int (*on_header)(void *ctx, const char *const *names, size_t n, long line);
    /* Each row: 0 to go on; any other value stops reading and is returned. */
    int (*on_row)(void *ctx, const src_row_t *row);
    void *ctx;
} src_sink_t;

/* Reader errors: a file that cannot be read or is malformed. */
#define SRC_E_BAD (-1)

/* True if s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
int src_utf8_valid(const char *s, size_t n);

#endif
