/* What a push shows while it works: on a terminal, one status line redrawn
 * in place (rows read, sent, stored, quarantined, rate, a bar of the queue
 * sent); otherwise one plain line per batch, for logs and journald. Always
 * on stderr, so that stdout stays the command's output. */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Shared by push's reader and sender threads: every call takes mu. */
typedef struct {
    pthread_mutex_t mu;
    bool tty, quiet;
    double start, last_draw;
    int64_t read, quarantined, row_errors;
    int64_t to_send, sent, stored, unchanged, refused;
    int batches;
} progress_t;

void progress_init(progress_t *p, bool quiet);
/* A row was read (drawn at most ten times a second). */
void progress_row(progress_t *p);
/* A row was quarantined. */
void progress_quarantined(progress_t *p);
/* queued more records wait to be sent, after those sent so far. */
void progress_expect(progress_t *p, int64_t queued);
void progress_batch(progress_t *p, int64_t n, int64_t stored, int64_t unchanged, int64_t refused);
/* Waiting before a retry. */
void progress_wait(progress_t *p, double seconds, const char *why);
/* End the status line (a newline on a terminal). */
void progress_end(progress_t *p);

#endif
