/* trellis push and trellis sync, and the step `agent run` shares with them:
 * one export file read, anonymised row by row and spooled (or, for
 * --dry-run, printed), never held whole in memory. */
#ifndef PUSH_H
#define PUSH_H

#include "agent_config.h"
#include "agent_secret.h"
#include "mapping.h"
#include "progress.h"
#include "spool.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    spool_t *spool; /* NULL for a dry run */
    const char *origin;
    uint8_t secret[AGENT_SECRET_LEN];
    progress_t *progress;
    FILE *dry_out; /* a dry run prints records here */
    FILE *report;  /* row errors and quarantines, one line each (never a value) */
    /* 0: a file is spooled in one transaction. Else it is first read once
     * to check it (so that a malformed file still spools nothing), then
     * committed every chunk_rows rows, calling on_chunk(chunk_ctx) after
     * each commit so that a sender can take them while the reading goes on. */
    size_t chunk_rows;
    void (*on_chunk)(void *chunk_ctx);
    void *chunk_ctx;
} push_ctx_t;

typedef struct {
    int64_t rows, records, quarantined, row_errors;
    int64_t committed_rows; /* rows in chunks already committed */
} push_stats_t;

/* Read path with mapping m into the spool (or dry_out). 0 when the file was
 * read to its end (rows with errors are reported and skipped), -1 when the
 * file itself is refused (unreadable, malformed, a mapped column missing):
 * then nothing of it is spooled and err says why, with its line (with
 * chunk_rows, unless it changed between the check and the reading: then
 * st->committed_rows say how many rows were spooled before the error). */
int push_file(push_ctx_t *x, const mapping_t *m, const char *path, push_stats_t *st, char *err,
              size_t err_len);

int push_main(int argc, char **argv);
int sync_main(int argc, char **argv);

#endif
