/* A batch of records as the parameters of trellis_store and trellis_apply
 * (sql/004_store_arrays.sql): seven arrays with one element per record, in
 * PostgreSQL's binary format. The server reads binary arrays almost for free,
 * where one big jsonb parameter per kind had to be parsed and split up again
 * (docs/benchmarks.md has the figures). Built on the thread pool. */
#ifndef TRELLIS_RECORD_ARRAYS_H
#define TRELLIS_RECORD_ARRAYS_H

#include "strbuf.h"
#include "tr_record.h"

#include <stddef.h>

/* The parameters, in the order the SQL functions take them. */
enum { RA_INDEX, RA_KIND, RA_ID, RA_ORIGIN, RA_VERSION, RA_HASH, RA_DOC, RA_COLUMNS };

typedef struct {
    strbuf_t col[RA_COLUMNS];
    size_t n;
} record_arrays_t;

void record_arrays_init(record_arrays_t *a);
/* One record: its index in the request or reply (reported back with the
 * decision), the validated record, its content hash (64 hex digits) and the
 * text of the whole envelope as stored. */
void record_arrays_add(record_arrays_t *a, int index, const tr_record_t *rec, const char *hash,
                       const char *doc, size_t doc_len);
/* Point values/lengths/formats at the arrays (valid until the next add or
 * free), for db_query_params. */
void record_arrays_params(record_arrays_t *a, const char *values[RA_COLUMNS],
                          int lengths[RA_COLUMNS], int formats[RA_COLUMNS]);
void record_arrays_free(record_arrays_t *a);

#endif
