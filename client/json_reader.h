/* JSON exports: a top-level array of flat objects, or NDJSON (one object a
 * line). Streamed: the array is split into its elements as bytes arrive,
 * and each element is parsed alone, so memory holds one record at a time.
 * A value that is a number or a boolean is handed on as its text, an array
 * of plain values as its items joined by ';', null as NULL. */
#ifndef JSON_READER_H
#define JSON_READER_H

#include "source.h"

#include <stdio.h>

/* As csv_read (no on_header). A record over SRC_MAX_RECORD, one that is not
 * an object, a nested object, or malformed JSON is SRC_E_BAD with its line. */
int json_read(FILE *f, const char *name, const src_sink_t *sink, char *err, size_t err_len);

#endif
