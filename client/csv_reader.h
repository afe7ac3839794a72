/* CSV exports as CMSs and Excel write them, through libcsv: a header row
 * with the columns in any order, UTF-8 with or without a BOM, CRLF or LF,
 * quoted values with embedded commas, quotes and newlines. Streamed: one row
 * in memory at a time. */
#ifndef CSV_READER_H
#define CSV_READER_H

#include "source.h"

#include <stdio.h>

/* Read f (named name in messages) to the end, calling sink for the header
 * and each row. 0; the non-zero a callback returned; or SRC_E_BAD with the
 * line and what is wrong in err (an empty file, a malformed quote, a row
 * with more values than the header, a value over SRC_MAX_FIELD, text that is
 * not UTF-8). */
int csv_read(FILE *f, const char *name, const src_sink_t *sink, char *err, size_t err_len);

#endif
