/* The sender of a streaming `trellis push`: a thread that sends what the
 * reader has committed to the spool while the reader reads on, so that the
 * node ingests a large export while it is still being anonymised. It has
 * its own connection to the spool (the two share a spool_gate_t) and owns
 * the node connection while it runs. */
#ifndef PUSH_SENDER_H
#define PUSH_SENDER_H

#include "agent_config.h"
#include "node_http.h"
#include "progress.h"
#include "spool.h"

typedef struct push_sender push_sender_t;

/* Start sending from the spool c->spool names, on a connection of its own
 * that takes turns with the reader's through gate (c, gate, h and p
 * borrowed; h is used only by the thread until push_sender_finish). NULL
 * with err. */
push_sender_t *push_sender_start(const agent_config_t *c, spool_gate_t *gate, node_http_t *h,
                                 progress_t *p, char *err, size_t err_len);
/* More records are committed: send them. */
void push_sender_wake(void *sender);
/* Nothing more will come: send the rest, wait for the thread, free it.
 * Returns send_queue's result (SEND_OK or an error with err). */
int push_sender_finish(push_sender_t *s, char *err, size_t err_len);

#endif
