/* The services a full-text search matched, kept per process while the
 * directory index takes no change: the words of a search repeat far more
 * than whole queries do (a finder's filters vary around a few common
 * words), and the database's answer (every matching service, for the
 * count) costs it milliseconds for a common word. Forgotten whenever the
 * index takes a change, so a search never misses a service stored since. */
#ifndef TRELLIS_DIR_SEARCH_H
#define TRELLIS_DIR_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#define DIR_SEARCH_KEEP_MAX 256          /* searches kept */
#define DIR_SEARCH_KEEP_BYTES (8u << 20) /* and their seqs' memory */

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
/* Searches kept, and the bytes counted. */
size_t dir_search_count(const dir_search_t *s);
size_t dir_search_bytes(const dir_search_t *s);

#endif
