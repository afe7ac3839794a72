/* The directory index's kept documents as text: the object of one
 * service-at-location found inside a stored body's JSON text, and a
 * listing's page written as the JSON array dir_query_build's SQL returns
 * (its column 1) straight from the kept text, with no parse and no query
 * (docs/directory.md, "How answers are computed"). */
#ifndef TRELLIS_DIR_DOC_H
#define TRELLIS_DIR_DOC_H

#include "dir_index.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

/* The first member of body's "service_at_locations" array whose "id" is
 * sal_id, as the bytes [*off, *off + *len) of body: the jsonb text
 * PostgreSQL wrote (valid JSON; ids are UUIDs, never escaped). false when
 * there is none, or body is not such an object. */
bool dir_doc_find_sal(const char *body, size_t body_len, const char *sal_id, size_t *off,
                      size_t *len);

/* The page's rows appended to out as the SQL's items array, in page order:
 * [{"origin": .., "received_at": .., "body": ..[, "sal": ..|null]
 * [, "distance": ..|null]}, ...]; "sal" when sals, "distance" when near,
 * rounded as PostgreSQL's round(float8) rounds: rint(), the nearest whole
 * number, a tie to the even one. */
void dir_doc_items(strbuf_t *out, const dir_page_t *pg, bool sals, bool near);

/* The page's kept ORUK list items (dir_hit_t.summary) appended to out as
 * a JSON array, in page order; false (out as it was) when a hit has none. */
bool dir_doc_summaries(strbuf_t *out, const dir_page_t *pg);

/* A JSON string of s (quoted, escaped) appended to out. */
void dir_doc_json_string(strbuf_t *out, const char *s);

#endif
