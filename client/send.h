/* Sending the spool to the node: the oldest queued records in batches of
 * [node] batch, each answer applied to the spool in one transaction (stored
 * and unchanged leave, refused move to the refused list with the node's
 * errors), until the queue is empty. A batch the node found too large is
 * split; a node that is down or busy is retried as node_http_call does. */
#ifndef SEND_H
#define SEND_H

#include "agent_config.h"
#include "node_http.h"
#include "progress.h"
#include "spool.h"

enum {
    SEND_OK = 0,
    SEND_E_UNREACHABLE = -1, /* exit 4: the queue stays for the next push */
    SEND_E_LOCAL = -2,       /* exit 5: the spool, or the node refused us (4xx) */
};

int send_queue(spool_t *s, node_http_t *h, const agent_config_t *c, progress_t *p, char *err,
               size_t err_len);

#endif
