/* Recent replies and results of the node's heavier reads, so that the same
 * question asked again does not make PostgreSQL answer it again nor the node
 * render it again: the pathways page's sums and rendered page, the
 * viewer's directory pages and the /oruk/ lists. An entry is good while
 * nothing was stored since (node->data_generation, which feed_wake moves on
 * every local store, every batch pulled from a peer and every NOTIFY from
 * another process on the database; the pathway sums use
 * node->pathway_generation, which only stores of pathway records move) and
 * for VIEW_CACHE_TTL_MS at most (a
 * notification lost with a database connection, and "weeks waiting", which
 * moves with the date). A key must name everything the text depends on
 * (the path, the query, the view; never the signed-in user's name, which
 * callers add outside the cached text). Touched from the node's loop only. */
#ifndef TRELLIS_VIEW_CACHE_H
#define TRELLIS_VIEW_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define VIEW_CACHE_ENTRIES 128
#define VIEW_CACHE_TTL_MS 60000
#define VIEW_CACHE_MAX_BYTES (4u * 1024 * 1024)    /* a bigger text is not kept */
#define VIEW_CACHE_TOTAL_BYTES (32u * 1024 * 1024) /* all entries together */
#define VIEW_CACHE_KEY_MAX 2048                    /* a longer key is not kept */

/* The text kept for key at generation gen, still fresh at now_ms, or NULL.
 * Borrowed until the next view_cache_put. */
const char *view_cache_get(const char *key, uint64_t gen, uint64_t now_ms);
/* The same, with the text's length in *len. */
const char *view_cache_get_len(const char *key, uint64_t gen, uint64_t now_ms, size_t *len);

/* Keep a copy of text for key; the least recently used entries make room
 * (for a free entry and within VIEW_CACHE_TOTAL_BYTES). */
void view_cache_put(const char *key, uint64_t gen, uint64_t now_ms, const char *text);
void view_cache_put_len(const char *key, uint64_t gen, uint64_t now_ms, const char *text,
                        size_t len);

/* Lookups answered from the cache and lookups that found nothing fresh,
 * since the start (GET /metrics: trellis_view_cache_*_total), so that a
 * benchmark or an operator sees how often a reply is really reused. */
void view_cache_counts(uint64_t *hits, uint64_t *misses);

/* Forget everything (tests; the node at shutdown). */
void view_cache_clear(void);

#endif
