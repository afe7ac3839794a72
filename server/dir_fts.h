/* Full-text search of the directory in memory: the lexemes of each
 * service's tsvector (directory_services.search, the column the SQL path's
 * GIN index searches) in posting lists, and the tsquery PostgreSQL makes of
 * a search (websearch_to_tsquery('english', $1)::text, so stemming and stop
 * words stay PostgreSQL's) parsed and evaluated over them: &, |, ! and
 * parentheses. A phrase (<->, <N>) or a prefix or weight (:*, :A) is not
 * evaluated here: dir_tsq_parse says so and the caller asks the database
 * (docs/directory.md, "How a search is answered"). No libpq, no loop. */
#ifndef TRELLIS_DIR_FTS_H
#define TRELLIS_DIR_FTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIR_FTS_MAX_LEXEMES 65535 /* a document's; more are not searched: see dir_fts_ok */
#define DIR_TSQ_MAX_NODES 256     /* operands and operators of one query */

typedef struct dir_fts dir_fts_t;
typedef struct dir_tsq dir_tsq_t;

dir_fts_t *dir_fts_new(void);
void dir_fts_free(dir_fts_t *f);

/* Document doc (an index position, stable while it exists) holds the
 * lexemes of tsv, a tsvector's text ('a':1,3 'b':2A). Its lexeme numbers
 * are returned in *lex (malloc'd, the caller's: pass them back to
 * dir_fts_remove) and *n. A text that does not parse leaves what parsed
 * and makes dir_fts_ok false for good (every search then asks the
 * database). */
void dir_fts_add(dir_fts_t *f, uint32_t doc, const char *tsv, uint32_t **lex, uint32_t *n);
/* doc no longer holds lex (as dir_fts_add gave them). */
void dir_fts_remove(dir_fts_t *f, uint32_t doc, const uint32_t *lex, uint32_t n);
/* false once a tsvector failed to parse or a document had too many. */
bool dir_fts_ok(const dir_fts_t *f);
/* Memory held by the dictionary and the posting lists, bytes. */
size_t dir_fts_bytes(const dir_fts_t *f);

/* Parse a tsquery's text as PostgreSQL writes it. 0 and *out (an empty
 * text is a query that matches nothing, as PostgreSQL's empty tsquery);
 * TR_E_LIMIT for what is not evaluated here (phrase, prefix, weights, more
 * than DIR_TSQ_MAX_NODES), TR_E_INVAL for text that is not a tsquery. */
int dir_tsq_parse(const char *text, dir_tsq_t **out);
void dir_tsq_free(dir_tsq_t *q);

/* The documents 0 .. n_docs-1 that q matches, as bits (bit d of
 * bits[d / 64]); bits holds (n_docs + 63) / 64 words. A document without
 * lexemes matches what PostgreSQL's @@ matches for it: a NOT alone. */
void dir_tsq_eval(const dir_fts_t *f, const dir_tsq_t *q, size_t n_docs, uint64_t *bits);

#endif
