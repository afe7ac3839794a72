/* One client connection: TCP stream, TLS engine, HTTP parser, the queue of
 * requests in flight (answered strictly in order), and its timer. Every
 * handle lives inside the struct; it is freed only in the last close callback. */
#ifndef TRELLIS_CONN_H
#define TRELLIS_CONN_H

#include "db.h"
#include "http.h"
#include "node.h"
#include "tls.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct req req_t;

struct req {
    conn_t *conn;
    http_request_t *http; /* NULL for a reply to a protocol error */
    int route;            /* router index for metrics, -1 if none */
    uint64_t start_ns;
    /* the reply, once built by response.c */
    char *out;
    size_t out_len;
    int status;
    bool done;
    bool close_after; /* close the connection once this reply is written */
    bool queued;      /* counted in the node's and the identity's queue until freed */
    /* Work a handler has in progress: cancelled if the connection goes first. */
    db_query_t *dbq;
    void (*on_abort)(req_t *req);
    void *ctx;
    /* On the viewer listener: the signed-in user named by a trusted proxy
     * (viewer.c), shown on the page and logged with the view; NULL if none. */
    char *viewer_user;
    req_t *next;
};

/* Which listener a connection came in on. */
typedef enum {
    CONN_API,    /* mutual TLS: agents, peers, the node's own tools */
    CONN_PUBLIC, /* TLS without a client certificate: /oruk/ only */
    CONN_VIEWER  /* plain HTTP behind the sign-in proxy: /viewer/ pages only */
} conn_kind_t;

typedef enum {
    CONN_TIMER_NONE,
    CONN_TIMER_HANDSHAKE,
    CONN_TIMER_SETTLE, /* idle a moment: give the TLS buffers back, then CONN_TIMER_IDLE */
    CONN_TIMER_IDLE,
    CONN_TIMER_REQUEST,
    CONN_TIMER_CLOSING
} conn_timer_t;

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    node_t *node;
    uint64_t id;
    char peer_addr[48]; /* "[v6 address]:port" at most */
    tls_conn_t tls;
    http_parser_t http;
    /* "org/role/name" after the handshake; "public/ADDRESS" from accept on the public listener */
    node_ident_t *ident;
    bool over_ident_limit;
    bool is_public;  /* on the public listener: no client certificate, /oruk/ only */
    bool is_viewer;  /* on the viewer listener: plain HTTP, /viewer/ pages only */
    bool from_proxy; /* viewer: the peer is one of [viewer] trusted_proxies */
    /* plaintext received but not yet parsed (parser paused on the pipeline cap) */
    char *pending;
    size_t pending_len;
    req_t *head, *tail;
    unsigned in_flight;
    uint64_t requests_seen;
    uint64_t mid_start_ns; /* when the request being received began arriving, 0 if none */
    size_t partial_body;   /* its body bytes so far, counted in the node's queued_body_bytes */
    uint64_t completed;    /* bumps the request deadline when requests finish */
    uint64_t timer_epoch;
    conn_timer_t timer_mode;
    bool reading;
    bool paused;       /* parser paused: pipeline cap reached */
    bool write_full;   /* too many bytes queued to the kernel: reading stopped */
    bool stop_parsing; /* a reply that closes is queued: ignore further input */
    bool drain;        /* node shutting down: close when the queue empties */
    bool closing;
    int handles_open;
    conn_t *prev, *next;
};

/* Accept a pending connection on the node's listener. */
void conn_accept(node_t *node, uv_stream_t *server, conn_kind_t kind);

/* Close now (graceful: flush queued replies and close_notify first). Idempotent. */
void conn_close(conn_t *conn, bool graceful, const char *reason);

/* Node shutdown: close idle connections now, the others after their replies. */
void conn_drain(conn_t *conn);

/* A reply has been built into req (response.c calls this). Writes every reply
 * that is now ready in order. */
void conn_reply_ready(req_t *req);

/* The caller's identity, verified from its certificate. */
const tr_identity_t *conn_identity(const conn_t *conn);

/* What the caller's organisation may read on this node: NULL for the node's
 * own organisation (everything it holds), else that organisation, which sees
 * the shared directory and its own records. The viewer reads as the node's
 * own organisation: exactly what its agents see through /v1/changes. */
const char *conn_visibility(const conn_t *conn);

#endif
