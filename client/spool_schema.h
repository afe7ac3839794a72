/* The spool's tables (spool.h) and the upgrade of a spool made by an older
 * agent: the queue is found by a 64-bit key of (kind, id) through a small
 * table of keys and sequence numbers (queue_keys), rather than a unique
 * index on the two texts; an entry may outlive its record (spool.c sweeps
 * them). */
#ifndef SPOOL_SCHEMA_H
#define SPOOL_SCHEMA_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Create the tables, or bring an older spool's up to date, in one write
 * transaction. 0 or -1 with err. */
int spool_schema_apply(sqlite3 *db, char *err, size_t err_len);

/* The queue's lookup key of a record: FNV-1a over kind, a zero byte and id.
 * Not unique: two records may share a key, so a lookup compares kind and id
 * as well; the key only keeps the index small (see spool_schema.c). */
int64_t spool_queue_key(const char *kind, const char *id);

#endif
