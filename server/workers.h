/* [node] workers: several trellisd processes on one port and one database,
 * under a supervisor that binds nothing (docs/workers.md). */
#ifndef TRELLIS_WORKERS_H
#define TRELLIS_WORKERS_H

#include "config.h"

/* How many processes [node] workers asks for: the number, or for auto (0)
 * the CPUs this process may run on, at most CONFIG_MAX_WORKERS. */
unsigned workers_count(const config_t *cfg);

/* Supervise n (> 1) workers until SIGTERM/SIGINT has stopped them all.
 * cfg is borrowed (each worker takes its own copy across fork); config_path
 * is borrowed. Returns the exit code: 0 when every worker stopped cleanly, 1
 * when one failed to start or had to be killed. */
int workers_run(config_t *cfg, const char *config_path, unsigned n);

#endif
