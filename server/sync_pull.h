/* Pulling from peers: for each [peer] with pull = yes, a loop of long-polls
 * on its GET /v1/fed/changes; each batch is verified off the event loop and
 * applied with the peer's cursor in one transaction (trellis_apply). A peer
 * that is down is retried with back-off and jitter; after any restart the
 * node resumes from the stored cursor. */
#ifndef TRELLIS_SYNC_PULL_H
#define TRELLIS_SYNC_PULL_H

#include "node.h"
#include "strbuf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct sync sync_t;

/* Build the client TLS context and start pulling. 0, or a negative code with
 * one line in err (a certificate that cannot be used). */
int sync_start(node_t *node, char *err, size_t err_len);

/* Stop pulling; frees everything once in-flight work has finished. */
void sync_stop(node_t *node);

/* New certificates and CRL (SIGHUP): a client context built on the thread
 * pool is handed over (taken); signer certificates are checked again. */
void sync_reload(node_t *node, SSL_CTX *client_ctx);

/* May the node take writes of its own? No while it is recovering (a restore
 * or a failover: sync_recover.c), with the reason in why. */
bool sync_taking_writes(node_t *node, char *why, size_t why_len);

/* May the node serve its feed? Not until this process has begun its new
 * epoch (sync_recover.c): the resume point of a reader is reckoned from it. */
bool sync_feed_ready(const node_t *node);

/* Per peer: cursor, lag, last success and last error (new reference). */
json_t *sync_status(const node_t *node);

/* Prometheus lines for the federation, appended to out. */
void sync_metrics(const node_t *node, strbuf_t *out);

#endif
