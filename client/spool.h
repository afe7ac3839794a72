/* The durable local spool (SQLite, WAL, synchronous=FULL): anonymised
 * records wait in `queue` until the node has answered `stored` or
 * `unchanged` for them; records the node refused wait in `refused` with its
 * errors; rows whose free text carried personal data wait in `quarantine`,
 * never sent. A file's rows are spooled in transactions of a few thousand
 * rows (trellis push sends the committed ones while it reads on); a batch's
 * answers are applied in one transaction, so a crash after the node stored a
 * batch only means the batch is sent again and answered `unchanged`. */
#ifndef SPOOL_H
#define SPOOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct spool spool_t;

/* Open (creating) DIR/spool.db. NULL with a reason in err. */
spool_t *spool_open(const char *dir, char *err, size_t err_len);
void spool_close(spool_t *s);

/* Two connections to one spool in two threads (push's reader and its
 * sender) share a gate: a ticket lock that hands the write transaction over
 * in turn. SQLite's own busy wait does not: a reader committing chunk after
 * chunk would starve the other writer. Borrowed; outlives both spools. */
typedef struct spool_gate spool_gate_t;
spool_gate_t *spool_gate_new(void);
void spool_gate_free(spool_gate_t *g);
void spool_set_gate(spool_t *s, spool_gate_t *g);

/* One write transaction (through the gate, if any). 0 or -1 with err. */
int spool_begin(spool_t *s, char *err, size_t err_len);
int spool_commit(spool_t *s, char *err, size_t err_len);
void spool_rollback(spool_t *s);

/* Queue records (an array of envelopes; borrowed) read from file at line.
 * A record already queued under the same kind and id is replaced in place;
 * a quarantined row of the same record is released. 0 or -1. */
int spool_queue(spool_t *s, json_t *records, const char *file, long line, char *err,
                size_t err_len);

/* Keep a quarantined row (its records, borrowed) with where it came from and
 * why. The same record quarantined again replaces the older entry. */
int spool_quarantine(spool_t *s, json_t *records, const char *file, long line, const char *column,
                     const char *why, char *err, size_t err_len);

typedef struct {
    int64_t seq;
    char *doc; /* the record's JSON */
} spool_item_t;

/* Up to max queued records, oldest first (free with spool_items_free). */
int spool_next(spool_t *s, size_t max, spool_item_t **items, size_t *n, char *err, size_t err_len);
void spool_items_free(spool_item_t *items, size_t n);

/* The node's answer for one sent record: done (stored or unchanged) leaves
 * the queue; refused moves to the refused list with errors (JSON text). Call
 * between spool_begin and spool_commit. A record replaced in the queue while
 * it was on its way (the same case read again) is not the one answered: it
 * stays queued and goes in a later batch. */
int spool_done(spool_t *s, const spool_item_t *item, char *err, size_t err_len);
int spool_refused(spool_t *s, const spool_item_t *item, const char *errors, char *err,
                  size_t err_len);

/* Inbound referrals already written to the outbox (once each). */
bool spool_outbox_written(spool_t *s, const char *id);
int spool_outbox_mark(spool_t *s, const char *id);

/* Referrals made here, with the day (days since 1970) they were made, so
 * that an update knows its whole days since the referral. */
int spool_made_here(spool_t *s, const char *id, long day);
long spool_made_day(spool_t *s, const char *id); /* -1 if not made here */

/* The version to send a mutable record (a directory service) at: the one it
 * was last spooled with if its body's hash is the same, else the greater of
 * that plus one and now (unix seconds), remembered. So pushing the same
 * spreadsheet again changes nothing, a changed row replaces the node's
 * copy, and a lost spool still counts up. Call between begin and commit.
 * 0 or -1 with err. */
int spool_version(spool_t *s, const char *kind, const char *id, const char *hash, int64_t now,
                  int64_t *version, char *err, size_t err_len);

/* The node's errors (JSON text, caller frees) for a refused record, or NULL. */
char *spool_refused_errors(spool_t *s, const char *kind, const char *id);

typedef struct {
    int64_t queued, refused, quarantined;
} spool_counts_t;

int spool_counts(spool_t *s, spool_counts_t *c, char *err, size_t err_len);

/* Small key/value state: the last push's time and outcome. */
int spool_state_set(spool_t *s, const char *key, const char *value);
/* A new string (caller frees), or NULL. */
char *spool_state_get(spool_t *s, const char *key);

/* Listing and dropping held records (quarantine and refused). list calls fn
 * for each row: id, file, line, column (quarantine) or kind, why/errors, at
 * (unix time). */
typedef void (*spool_list_fn)(void *ctx, int64_t id, const char *file, long line, const char *what,
                              const char *why, int64_t at);
int spool_list(spool_t *s, const char *table, spool_list_fn fn, void *ctx, char *err,
               size_t err_len);
/* The held row's records / document (new string), NULL if there is none. */
char *spool_show(spool_t *s, const char *table, int64_t id);
/* Drop one (id >= 0) or all (id < 0); returns how many, or -1. */
int64_t spool_drop(spool_t *s, const char *table, int64_t id, char *err, size_t err_len);

#endif
