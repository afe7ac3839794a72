/* The agent's client for its node, over libcurl: mutual TLS 1.3 with the
 * agent's certificate, one connection kept alive across requests, timeouts,
 * the charity's proxy (the config key, else https_proxy/no_proxy), and
 * retries of what is worth retrying (the node unreachable, 429, 502, 503,
 * 504) with exponential back-off, full jitter and the node's Retry-After.
 * Blocking: the agent is a command and a small daemon, not an event loop. */
#ifndef NODE_HTTP_H
#define NODE_HTTP_H

#include "agent_config.h"

#include <stddef.h>

typedef struct node_http node_http_t;

#define NODE_MAX_PARALLEL 8

typedef struct {
    long status; /* HTTP status */
    char *body;  /* NUL-terminated (caller frees with node_reply_free) */
    size_t len;
    long retry_after; /* seconds from Retry-After, -1 if none */
} node_reply_t;

enum {
    NODE_OK = 0,
    NODE_E_UNREACHABLE = -1, /* no HTTP answer: connection, TLS, timeout, proxy */
    NODE_E_LOCAL = -2,       /* our side: certificate files, memory, a reply over its limit */
};

/* A client for c's node (c is borrowed and must outlive it). NULL with err
 * when libcurl cannot be set up. */
node_http_t *node_http_new(const agent_config_t *c, char *err, size_t err_len);
void node_http_free(node_http_t *h);

/* One request (method "GET" or "POST"; body JSON or NULL), no retry. NODE_OK
 * with *r set whatever the status, or a NODE_E_* with a reason in err. */
int node_http_request(node_http_t *h, const char *method, const char *path, const char *body,
                      size_t body_len, node_reply_t *r, char *err, size_t err_len);

/* The same, retried while the node is unreachable or answers 429/502/503/504,
 * for up to retry_for seconds (0: once). on_wait, if set, is told each wait
 * (seconds, the reason) so that a command can say what it is doing. */
int node_http_call(node_http_t *h, const char *method, const char *path, const char *body,
                   size_t body_len, long retry_for, void (*on_wait)(double, const char *),
                   node_reply_t *r, char *err, size_t err_len);

void node_reply_free(node_reply_t *r);

/* One POST of node_http_post_many. */
typedef struct {
    const char *body; /* in: borrowed */
    size_t len;
    int rc; /* out: NODE_OK (reply set, any status) or NODE_E_* (err set) */
    node_reply_t reply;
    char err[256];
} node_job_t;

/* POST each job's body to path, all at once (n <= NODE_MAX_PARALLEL), each
 * on a kept-alive connection of its own, each retried as node_http_call
 * retries, for up to retry_for seconds. Returns when every job has its
 * answer or has given up. */
void node_http_post_many(node_http_t *h, const char *path, node_job_t *jobs, size_t n,
                         long retry_for, void (*on_wait)(double, const char *));

/* A flag (set by a signal handler) that cuts retry waits and transfers (a
 * long poll) short: a request returns NODE_E_UNREACHABLE within about a
 * second of it being set. NULL: none. */
void node_http_set_stop_flag(volatile int *flag);

/* The wait before retry number attempt (0-based): full jitter over an
 * exponential ceiling from 0.5 s to 30 s, or retry_after (capped at 300 s)
 * when the node gave one. Exposed for tests. */
double node_backoff(int attempt, long retry_after, double unit_random);

#endif
