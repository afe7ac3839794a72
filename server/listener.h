/* The listeners (mutual-TLS API, public read API, viewer): bind, listen, hand
 * new connections to conn.c with the kind of listener they came in on. */
#ifndef TRELLIS_LISTENER_H
#define TRELLIS_LISTENER_H

#include "node.h"

#include <stddef.h>

/* Bind cfg's listen address. 0, or a libuv code with one line in err. */
int listener_start(node_t *node, char *err, size_t err_len);
/* Stop accepting (idempotent). */
void listener_stop(node_t *node);

#endif
