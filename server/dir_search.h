/* What a process keeps of full-text searches. The tsquery PostgreSQL makes
 * of a search's words, so that a search asked again is evaluated in memory
 * (dir_fts.h) with no round trip. And, for a search that is not evaluated
 * in memory (a phrase), the services the database matched, kept while the
 * directory index takes no change (forgotten whenever it takes one, so a
 * search never misses a service stored since). */
#ifndef TRELLIS_DIR_SEARCH_H
#define TRELLIS_DIR_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIR_SEARCH_KEEP_MAX 256          /* searches kept */
#define DIR_SEARCH_KEEP_BYTES (8u << 20) /* and their seqs' memory */
#define DIR_SEARCH_TSQ_MAX 1024          /* tsquery texts kept (words <= 200 bytes each) */
#define DIR_SEARCH_TSQ_TEXT_MAX 4096     /* a longer tsquery text is not kept */
#define DIR_SEARCH_CENTRES 4096          /* postcode centres kept (a power of two) */

typedef struct dir_search dir_search_t;

dir_search_t *dir_search_new(void);
void dir_search_free(dir_search_t *s);

/* The sorted seqs kept for words (borrowed until the next put or clear),
 * or NULL. */
const int64_t *dir_search_get(const dir_search_t *s, const char *words, size_t *n);
/* Keep a copy of seqs (sorted) for words; past the limits everything kept
 * before is forgotten first; a single answer over a quarter of the bytes
 * is not kept. */
void dir_search_put(dir_search_t *s, const char *words, const int64_t *seqs, size_t n);
void dir_search_clear(dir_search_t *s);
/* The tsquery text PostgreSQL made of words (websearch_to_tsquery
 * ('english', words)::text), borrowed until the next tsq_put, or NULL. Not
 * forgotten when the index changes: it depends on the words and the text
 * search configuration only. The least recently used goes first past
 * DIR_SEARCH_TSQ_MAX. */
const char *dir_search_tsq_get(dir_search_t *s, const char *words);
void dir_search_tsq_put(dir_search_t *s, const char *words, const char *tsq);
/* The centre of a postcode as the lookup gave it (postcodes.geo), kept
 * while the index takes no change (dir_search_clear forgets them: a new
 * lookup loaded is a change): a proximity search by a postcode asked
 * before needs no round trip. Direct-mapped: a postcode may push out
 * another. false when not kept. */
bool dir_search_centre_get(const dir_search_t *s, const char *postcode, double *lng, double *lat);
void dir_search_centre_put(dir_search_t *s, const char *postcode, double lng, double lat);
/* Searches kept, and the bytes counted. */
size_t dir_search_count(const dir_search_t *s);
size_t dir_search_bytes(const dir_search_t *s);

#endif
