/* The shared directory out of the node, for a charity's website, its CMS's
 * lookup list or an offline copy: `trellis directory pull` reads the
 * change feed (/v1/changes) from the start and writes every
 * directory.service this charity may see; `trellis directory watch` (and
 * `agent run` with [agent] directory_out) keeps the file current through
 * the long-poll feed, across node restarts. The file is always replaced
 * whole (write, fsync, rename), so a reader never sees half of it. */
#ifndef DIRECTORY_H
#define DIRECTORY_H

#include "node_http.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum { DIR_FORMAT_JSON = 0, DIR_FORMAT_CSV } dir_format_t;

/* What has been read of the feed: the services by id, and the cursor. */
typedef struct {
    json_t *services; /* id -> envelope (the highest version seen) */
    int64_t cursor;
} dir_state_t;

void dir_state_init(dir_state_t *d);
void dir_state_free(dir_state_t *d);

/* Read the feed from d->cursor on (long-polling up to wait seconds when
 * nothing is new). *changed is set when a service was added or replaced.
 * 0, or a NODE_E_* with err. */
int dir_fetch(dir_state_t *d, node_http_t *h, long wait, bool *changed, char *err, size_t err_len);

/* Write the services to path (atomically). 0 or -1 with err. */
int dir_write(const dir_state_t *d, const char *path, dir_format_t format, char *err,
              size_t err_len);

/* Keeping a file current: what `directory pull`, `directory watch` and the
 * running agent's directory thread share. */
typedef struct {
    const char *out;
    dir_format_t format;
    bool watch;         /* after the first write, long-poll and rewrite until *stop */
    volatile int *stop; /* set by a signal handler (watch) */
    /* Each write (watch) and each retry, one line (no newline). */
    void (*note)(const char *msg);
} dir_keep_t;

/* pull: read the feed, write the file once. watch: the same, then wait on
 * the long-poll feed and rewrite the file whenever a service changes; a node
 * that is down or restarting, or a file that cannot be written, is retried
 * with back-off until *stop. h is borrowed (a thread needs its own).
 * NODE_OK with the number of services written in *n, or (pull) a NODE_E_*
 * with err. */
int dir_keep(const dir_keep_t *k, node_http_t *h, size_t *n, char *err, size_t err_len);

/* "json" / "csv": 0 or -1. */
int dir_format_parse(const char *s, dir_format_t *out);

int directory_main(int argc, char **argv);

#endif
