/* A running node: the loop, its configuration, TLS context, database pool,
 * listener and connections, and the start-up and shutdown order. */
#ifndef TRELLIS_NODE_H
#define TRELLIS_NODE_H

#include "config.h"
#include "db.h"
#include "metrics.h"
#include "tr_identity.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <uv.h>

typedef struct conn conn_t;

/* Connections open under one identity: "org/role/name" from a certificate, or
 * "public/ADDRESS" on the public listener. */
typedef struct node_ident {
    struct node_ident *next;
    uint64_t conns;
    uint64_t queued; /* requests received and not yet answered */
    char key[];
} node_ident_t;

typedef struct node {
    uv_loop_t *loop;
    config_t cfg;
    char *config_path;
    char org[TR_NAME_MAX + 1]; /* this node's organisation, from its own certificate */
    char signer_fp[65];        /* fingerprint of the certificate records are signed with */
    SSL_CTX *ssl_ctx;          /* current context; each SSL holds its own reference */
    SSL_CTX *public_ctx;       /* the public listener's, or NULL */
    db_pool_t *db;
    uv_tcp_t listener;
    uv_tcp_t public_listener;
    uv_tcp_t viewer_listener; /* plain HTTP, [viewer] listen */
    bool listening, public_listening, viewer_listening;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t drain_timer;
    uv_timer_t cert_timer;   /* retries keeping our certificate in signer_certs */
    uv_timer_t expiry_timer; /* hourly: warns of CRLs and certificates about to lapse */
    char *own_cert_pem;      /* this node's certificate, as served to peers */
    bool draining;
    bool reloading;
    int exit_code;
    conn_t *conns;           /* every open connection, a doubly linked list */
    uint64_t n_conns;        /* on both listeners */
    uint64_t n_public_conns; /* on the public listener: [public] max_connections */
    uint64_t n_viewer_conns; /* on the viewer listener: [viewer] max_connections */
    uint64_t next_conn_id;
    uint64_t queued_requests;   /* received, not yet answered: [limits] max_queued_requests */
    uint64_t queued_body_bytes; /* their bodies, and batches still being stored */
    node_ident_t *idents[256];  /* connections per identity, hashed by key */
    metrics_t metrics;
    uint64_t started_ms;
    struct changes_wait *waiters; /* long-polls on the change feed */
    uint64_t data_generation;     /* counts feed_wake calls: something may have changed */
    struct dir_live *dir_live;    /* the directory index (dir_index_load.c), NULL until used */
    uint64_t pathway_generation;  /* the same, for stores of pathway records only */
    struct sync *sync;            /* pulling from peers (sync_pull.c) */
    uv_timer_t listen_timer;      /* keeps a LISTEN for other processes' commits */
    uint64_t listen_reconnects;   /* pool reconnects when LISTEN was last issued */
    bool listening_db;
    uv_timer_t ready_timer; /* a worker tells its supervisor it takes writes (workers.c) */
} node_t;

/* Load nothing, read nothing: cfg is taken (moved) into the node. Builds the
 * TLS context, reads migrations, binds the listener. 0 or a negative code with
 * one line in err. */
int node_init(node_t *node, uv_loop_t *loop, config_t *cfg, const char *config_path, char *err,
              size_t err_len);
/* Run until shut down; returns the process exit code. */
int node_run(node_t *node);
/* Begin a graceful shutdown (what SIGTERM does). */
void node_shutdown(node_t *node, int exit_code);

/* Per-identity connection accounting: acquire counts one more connection under key (copied)
 * and returns its entry, which stays valid until the matching release. */
node_ident_t *node_ident_acquire(node_t *node, const char *key);
void node_ident_release(node_t *node, node_ident_t *ident);

/* Called by conn.c when a connection has been freed. */
void node_conn_gone(node_t *node);

#endif
