/* A few recent results of the viewer's heavier queries (the pathways page's
 * weekly sums of a period), so that coordinators opening the same period
 * again do not make PostgreSQL add the year up again. An entry is good while
 * nothing was stored since (node->data_generation, which feed_wake moves on
 * every local store, every batch pulled from a peer and every NOTIFY from
 * another process on the database) and for VIEW_CACHE_TTL_MS at most (a
 * notification lost with a database connection, and "weeks waiting", which
 * moves with the date). Touched from the node's loop only. */
#ifndef TRELLIS_VIEW_CACHE_H
#define TRELLIS_VIEW_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define VIEW_CACHE_ENTRIES 16
#define VIEW_CACHE_TTL_MS 60000
#define VIEW_CACHE_MAX_BYTES (4u * 1024 * 1024) /* a bigger result is not kept */

/* The text kept for key at generation gen, still fresh at now_ms, or NULL.
 * Borrowed until the next view_cache_put. */
const char *view_cache_get(const char *key, uint64_t gen, uint64_t now_ms);

/* Keep a copy of text for key (the oldest entry makes room). */
void view_cache_put(const char *key, uint64_t gen, uint64_t now_ms, const char *text);

/* Forget everything (tests; the node at shutdown). */
void view_cache_clear(void);

#endif
