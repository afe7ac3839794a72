/* Admission at accept: whether a new connection may stay, by listener
 * (agents and peers, public, viewer), decided before any TLS work. */
#ifndef TRELLIS_CONN_ADMIT_H
#define TRELLIS_CONN_ADMIT_H

#include "conn.h"

#include <sys/socket.h>

/* NULL when conn may stay, else the reason to close it (a static string).
 * Acquires conn->ident for the public and viewer listeners. */
const char *conn_admit_refusal(node_t *node, conn_t *conn, const struct sockaddr_storage *ss);

#endif
