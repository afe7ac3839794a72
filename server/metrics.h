/* Prometheus metrics of one node: counters kept in plain integers on the
 * loop (one loop, no atomics needed) and rendered as text on GET /metrics. */
#ifndef TRELLIS_METRICS_H
#define TRELLIS_METRICS_H

#include "tls.h"

#include <stdint.h>

#define METRICS_MAX_ROUTES 48
#define METRICS_LATENCY_BUCKETS 12

/* Statuses counted per route; anything else lands in "other". */
#define METRICS_STATUSES(X)                                                                        \
    X(200)                                                                                         \
    X(201)                                                                                         \
    X(204)                                                                                         \
    X(304)                                                                                         \
    X(400) X(403) X(404) X(405) X(408) X(409) X(413) X(414) X(422) X(429) X(431) X(500) X(503)
#define METRICS_N_STATUS 18 /* the list above plus "other" */

typedef struct {
    uint64_t connections_accepted;
    uint64_t connections_refused;        /* over max_connections */
    uint64_t public_connections_refused; /* over [public] max_connections or per address */
    uint64_t viewer_connections_refused; /* over [viewer] max_connections, or not allowed */
    uint64_t connections_open;
    uint64_t handshakes;
    uint64_t handshake_failures[TLS_FAIL_COUNT_];
    uint64_t requests[METRICS_MAX_ROUTES][METRICS_N_STATUS];
    uint64_t latency_buckets[METRICS_LATENCY_BUCKETS + 1]; /* last: +Inf */
    double latency_sum;
    uint64_t latency_count;
    uint64_t protocol_errors; /* malformed HTTP answered 4xx and closed */
    uint64_t requests_shed;   /* answered 503 at once: over a [limits] max_queued_* */
} metrics_t;

/* Count a finished request: route index from router.h, status, seconds taken. */
void metrics_request(metrics_t *m, int route, int status, double seconds);

/* Render everything (node counters, database pool) as Prometheus text into a
 * newly allocated string; *len set. */
struct node;
char *metrics_render(const struct node *node, size_t *len);

#endif
