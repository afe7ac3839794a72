/* Talking to a node from the command line: which node and certificate to use
 * (options, or TRELLIS_NODE / TRELLIS_CERT / TRELLIS_KEY / TRELLIS_CA), and a
 * blocking HTTPS GET over mutual TLS 1.3. Blocking is right here: `trellis`
 * is a command, not a server. */
#ifndef NODE_API_H
#define NODE_API_H

#include <stddef.h>

typedef struct {
    const char *url;  /* https://host:port */
    const char *cert; /* our certificate chain (agent or node) */
    const char *key;
    const char *ca; /* the consortium root */
} node_target_t;

/* Take --node, --cert, --key, --ca out of argv (compacting it; *argc
 * updated), defaulting from the environment. 0, or -1 after a usage error. */
int node_target_parse(node_target_t *t, int *argc, char **argv);

/* GET path; on 0 *status and *body (NUL-terminated, caller frees) are set.
 * -1 after printing one line on why (connection, TLS, certificate). */
int node_get(const node_target_t *t, const char *path, int *status, char **body, size_t *len);

#endif
