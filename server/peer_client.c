/* The peer client's connection on the loop: resolve off the loop, connect (each address in
 * turn), TLS over memory BIOs, one GET at a time on a keep-alive connection, timers, and
 * close-then-free. The pieces that do no I/O are in peer_tls.c (TLS) and peer_http.c (the response
 * parser). */
#include "peer_client.h"
#include "tr_error.h"
#include "tr_protocol.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_REQUEST_TIMEOUT_MS 30000
#define DEFAULT_MAX_BODY (16u << 20)
#define MAX_TARGET 4096
#define MAX_ADDRS 8
#define PLAIN_BUF 16384

typedef enum {
    CONN_NONE,       /* no handle open */
    CONN_RESOLVING,  /* looking the host up on the thread pool */
    CONN_CONNECTING, /* tcp initialised, connect pending */
    CONN_HANDSHAKE,
    CONN_READY,  /* verified; a request in flight when cb is set, else idle keep-alive */
    CONN_CLOSING /* tcp close pending: nothing starts before on_tcp_closed */
} conn_state_t;

typedef enum {
    PEER_TIMER_OFF,
    PEER_TIMER_CONNECT,
    PEER_TIMER_REQUEST,
    PEER_TIMER_DELIVER
} peer_timer_t;

/* A lookup may still run on the thread pool after the client gave up on it, so it lives apart;
 * the client counts it in `pending` and is freed only after its callback. */
typedef struct {
    uv_getaddrinfo_t req;
    peer_client_t *c;
} resolve_t;

typedef struct {
    uv_write_t req;
    char data[]; /* the write request and its bytes in one allocation */
} write_t;

struct peer_client {
    uv_loop_t *loop;
    uv_tcp_t tcp;     /* initialised per connection, closed before the next one */
    uv_timer_t timer; /* connect or request deadline, or a failure to report */
    uv_connect_t connect;
    SSL_CTX *ssl_ctx;
    peer_url_t url;
    char host_header[272];
    char expect_org[TR_NAME_MAX + 1];
    uint64_t connect_timeout_ms, request_timeout_ms;
    size_t max_body;

    conn_state_t state;
    peer_timer_t timer_mode;
    resolve_t *resolving; /* the lookup this client still wants, or NULL */
    struct sockaddr_storage addrs[MAX_ADDRS];
    unsigned n_addrs, next_addr;
    bool try_next; /* closing after a failed connect: the next address follows */
    tls_conn_t tls;
    bool tls_live;
    char alert[64]; /* the peer's last fatal TLS alert on this connection */
    tr_identity_t peer;
    peer_client_parser_t parser;
    bool served; /* this connection has answered a request */
    uint64_t connects;

    /* the request, while cb is set */
    peer_response_cb cb;
    void *ud;
    char *request;
    size_t request_len;
    uint64_t timeout_ms;
    bool retried;   /* already sent again after a stale keep-alive */
    bool got_bytes; /* some of its response has arrived */
    char err[256];  /* the failure the timer will report */

    unsigned pending; /* open handles and lookups: the client is freed when it reaches 0 */
    bool freeing;
    char read_buf[PLAIN_BUF];
};

static void on_timer(uv_timer_t *t);
static void start_connect(peer_client_t *c);
static void connect_next(peer_client_t *c);

static void arm(peer_client_t *c, peer_timer_t mode, uint64_t ms)
{
    c->timer_mode = mode;
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void disarm(peer_client_t *c)
{
    c->timer_mode = PEER_TIMER_OFF;
    uv_timer_stop(&c->timer);
}

static void maybe_free(peer_client_t *c)
{
    if (!c->freeing || c->pending > 0)
        return;
    free(c->request);
    peer_client_parser_free(&c->parser);
    free(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    peer_client_t *c = h->data;
    c->pending--;
    maybe_free(c);
}

static void on_tcp_closed(uv_handle_t *h)
{
    peer_client_t *c = h->data;
    c->pending--;
    if (c->tls_live)
        tls_conn_close(&c->tls);
    c->tls_live = false;
    peer_client_parser_free(&c->parser);
    c->state = CONN_NONE;
    if (c->freeing) {
        maybe_free(c);
        return;
    }
    if (!c->cb || c->timer_mode == PEER_TIMER_DELIVER)
        return;
    if (c->try_next) {
        c->try_next = false;
        connect_next(c);
        return;
    }
    start_connect(c); /* a retry, or a request made while the old connection closed */
}

static void on_write(uv_write_t *req, int status);

/* Move what TLS produced onto the socket. 0, or uv_write's error for the caller to act on. */
static int flush_tls(peer_client_t *c)
{
    size_t n;
    while ((n = tls_conn_pending(&c->tls)) > 0) {
        write_t *w = malloc(sizeof(*w) + n);
        if (!w)
            abort();
        n = tls_conn_take(&c->tls, w->data, n);
        uv_buf_t buf = uv_buf_init(w->data, (unsigned)n);
        int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
        if (rc < 0) {
            free(w);
            return rc;
        }
    }
    return 0;
}

/* Close the connection, if any. graceful queues close_notify first: uv_write writes at once
 * when nothing is queued, so it usually leaves before uv_close drops the queue. */
static void close_conn(peer_client_t *c, bool graceful)
{
    c->try_next = false;
    switch (c->state) {
    case CONN_RESOLVING:
        uv_cancel((uv_req_t *)&c->resolving->req); /* may be too late: on_resolved checks */
        c->resolving = NULL;
        c->state = CONN_NONE;
        break;
    case CONN_CONNECTING:
    case CONN_HANDSHAKE:
    case CONN_READY:
        if (graceful && c->state == CONN_READY) {
            tls_conn_shutdown(&c->tls);
            flush_tls(c); /* best effort: the connection goes either way */
        }
        uv_read_stop((uv_stream_t *)&c->tcp);
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
        c->state = CONN_CLOSING;
        break;
    case CONN_NONE:
    case CONN_CLOSING:
        break;
    }
}

/* Report a failure of the pending request: the connection closes now and the callback runs
 * from the timer, so it never runs inside a caller's call (a request it starts while the close
 * is still pending connects from on_tcp_closed). */
static void fail(peer_client_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(peer_client_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    close_conn(c, false);
    if (c->cb)
        arm(c, PEER_TIMER_DELIVER, 0);
    else
        disarm(c);
}

static void deliver(peer_client_t *c, const peer_response_t *res, const char *err)
{
    peer_response_cb cb = c->cb;
    void *ud = c->ud;
    c->cb = NULL;
    c->ud = NULL;
    free(c->request);
    c->request = NULL;
    disarm(c);
    cb(ud, res, err);
}

/* The connection ended under us: EOF, reset, close_notify or a fatal alert, a failed write. */
static void conn_lost(peer_client_t *c, int status)
{
    if (c->state != CONN_HANDSHAKE && c->state != CONN_READY)
        return;
    if (!c->cb) {
        close_conn(c, false); /* idle keep-alive closed by the peer: the next request reconnects */
        return;
    }
    if (c->state == CONN_READY && c->served && !c->got_bytes && !c->retried) {
        /* The peer closed its idle connection as we sent: once more on a fresh one. */
        c->retried = true;
        disarm(c);
        close_conn(c, false);
        return;
    }
    const char *when = c->state == CONN_HANDSHAKE ? "during the TLS handshake"
                       : c->got_bytes             ? "before the response was complete"
                                                  : "before responding";
    if (c->alert[0])
        fail(c, "peer closed the connection %s (TLS alert: %s)", when, c->alert);
    else if (status == 0 || status == UV_EOF)
        fail(c, "peer closed the connection %s", when);
    else if (status == UV_ECONNRESET && c->state == CONN_READY && !c->served && !c->got_bytes)
        /* TLS 1.3 refuses a client certificate after the client's handshake; the alert saying
         * so is lost when the peer's reset overtakes it. */
        fail(c, "connection reset by the peer before responding on a new connection (it may have "
                "refused our certificate)");
    else
        fail(c, "connection lost %s: %s", when, uv_strerror(status));
}

static void on_write(uv_write_t *req, int status)
{
    peer_client_t *c = req->handle->data;
    free(req); /* the write_t: req is its first member */
    if (status < 0 && status != UV_ECANCELED)
        conn_lost(c, status);
}

static void on_timer(uv_timer_t *t)
{
    peer_client_t *c = t->data;
    peer_timer_t mode = c->timer_mode;
    c->timer_mode = PEER_TIMER_OFF;
    switch (mode) {
    case PEER_TIMER_CONNECT:
        fail(c, "%s %s timed out after %llu ms",
             c->state == CONN_RESOLVING   ? "resolving"
             : c->state == CONN_HANDSHAKE ? "TLS handshake with"
                                          : "connecting to",
             c->host_header, (unsigned long long)c->connect_timeout_ms);
        break;
    case PEER_TIMER_REQUEST:
        fail(c, "no response within %llu ms", (unsigned long long)c->timeout_ms);
        break;
    case PEER_TIMER_DELIVER: {
        /* A copy: the callback may start a request whose own failure rewrites c->err. */
        char msg[sizeof(c->err)];
        memcpy(msg, c->err, sizeof(msg));
        if (c->cb)
            deliver(c, NULL, msg);
        break;
    }
    case PEER_TIMER_OFF:
        break;
    }
}

/* ---- the request and its response ---- */

static void send_request(peer_client_t *c)
{
    c->got_bytes = false;
    peer_client_parser_free(&c->parser);
    peer_client_parser_init(&c->parser, c->max_body);
    arm(c, PEER_TIMER_REQUEST, c->timeout_ms);
    if (tls_conn_write(&c->tls, c->request, c->request_len) != 0) {
        fail(c, "TLS write failed");
        return;
    }
    int rc = flush_tls(c);
    if (rc < 0)
        conn_lost(c, rc);
}

static void complete(peer_client_t *c, bool extra)
{
    peer_client_parser_t *p = &c->parser;
    char content_type[sizeof(p->content_type)], protocol[sizeof(p->protocol)];
    memcpy(content_type, p->content_type, sizeof(content_type));
    memcpy(protocol, p->protocol, sizeof(protocol));
    bool has_protocol = p->has_protocol;
    tr_identity_t peer = c->peer;
    size_t len;
    char *body = peer_client_parser_take_body(p, &len);
    int status = p->status;
    c->served = true;
    /* Bytes nobody asked for mean the peer is confused: keep the response, drop the rest. */
    if (!p->keep_alive || extra)
        close_conn(c, !extra);
    peer_response_t res = {.status = status,
                           .content_type = content_type,
                           .body = body ? body : "",
                           .body_len = len,
                           .peer = &peer,
                           .protocol = has_protocol ? protocol : NULL};
    deliver(c, &res, NULL); /* may start, cancel or free: nothing of c is touched after */
    free(body);
}

/* Decrypt what TLS holds and parse it. */
static void pump(peer_client_t *c)
{
    char plain[PLAIN_BUF];
    for (;;) {
        int n = tls_conn_read(&c->tls, plain, sizeof(plain));
        if (n == 0)
            break;
        if (n < 0) {
            /* close_notify or a fatal alert is the peer closing; anything else is broken TLS. */
            bool closed = c->alert[0] || (SSL_get_shutdown(c->tls.ssl) & SSL_RECEIVED_SHUTDOWN);
            conn_lost(c, closed ? 0 : UV_EPROTO);
            return;
        }
        if (!c->cb) {
            close_conn(c, false); /* bytes with no request pending */
            return;
        }
        c->got_bytes = true;
        size_t used = 0;
        int rc = peer_client_parser_feed(&c->parser, plain, (size_t)n, &used);
        if (rc < 0) {
            fail(c, "%s", c->parser.error);
            return;
        }
        if (rc == PEER_PARSE_DONE) {
            complete(c, used < (size_t)n);
            return;
        }
    }
    int rc = flush_tls(c); /* TLS may answer on its own (a key update) */
    if (rc < 0)
        conn_lost(c, rc);
}

/* ---- connecting ---- */

static void handshake(peer_client_t *c)
{
    char msg[200];
    tls_fail_t why = TLS_FAIL_NONE;
    int r = tls_conn_handshake(&c->tls, &why);
    int wrc = flush_tls(c); /* our handshake messages, or the alert */
    if (r < 0) {
        peer_tls_handshake_error(c->tls.ssl, c->alert, why, msg, sizeof(msg));
        fail(c, "%s", msg);
        return;
    }
    if (wrc < 0) {
        conn_lost(c, wrc);
        return;
    }
    if (r == 0)
        return;
    if (peer_tls_check_identity(c->tls.ssl, c->expect_org, &c->peer, msg, sizeof(msg)) != 0) {
        fail(c, "%s", msg);
        return;
    }
    c->state = CONN_READY;
    if (!c->cb)
        return;
    send_request(c);
    if (c->state == CONN_READY && c->cb)
        pump(c); /* records that came with the handshake's last flight */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    peer_client_t *c = h->data;
    *buf = uv_buf_init(c->read_buf, sizeof(c->read_buf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    peer_client_t *c = s->data;
    if (nread == 0 || (c->state != CONN_HANDSHAKE && c->state != CONN_READY))
        return;
    if (nread < 0) {
        conn_lost(c, (int)nread);
        return;
    }
    if (tls_conn_feed(&c->tls, buf->base, (size_t)nread) != 0) {
        fail(c, "TLS: cannot buffer received bytes");
        return;
    }
    if (c->state == CONN_HANDSHAKE)
        handshake(c);
    else
        pump(c);
}

static void connect_failed(peer_client_t *c, int status)
{
    if (c->next_addr < c->n_addrs) {
        close_conn(c, false);
        c->try_next = true; /* on_tcp_closed takes the next address */
        return;
    }
    fail(c, "cannot connect to %s: %s", c->host_header, uv_strerror(status));
}

static void on_connect(uv_connect_t *req, int status)
{
    peer_client_t *c = req->handle->data;
    if (status == UV_ECANCELED || c->state != CONN_CONNECTING)
        return;
    if (status < 0) {
        connect_failed(c, status);
        return;
    }
    c->connects++;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 60);
    if (tls_conn_init(&c->tls, c->ssl_ctx) != 0) {
        fail(c, "TLS: cannot create a connection");
        return;
    }
    c->tls_live = true;
    if (peer_tls_conn_setup(c->tls.ssl, &c->url, c->alert) != 0) {
        fail(c, "TLS: cannot set the name the peer certificate must carry");
        return;
    }
    c->served = false;
    c->state = CONN_HANDSHAKE;
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        fail(c, "cannot read from %s: %s", c->host_header, uv_strerror(rc));
        return;
    }
    handshake(c);
}

static void connect_next(peer_client_t *c)
{
    const struct sockaddr *addr = (const struct sockaddr *)&c->addrs[c->next_addr++];
    int rc = uv_tcp_init(c->loop, &c->tcp);
    if (rc < 0) {
        fail(c, "cannot create a socket: %s", uv_strerror(rc));
        return;
    }
    c->tcp.data = c;
    c->pending++;
    c->state = CONN_CONNECTING;
    rc = uv_tcp_connect(&c->connect, &c->tcp, addr, on_connect);
    if (rc < 0)
        connect_failed(c, rc);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    resolve_t *r = (resolve_t *)req;
    peer_client_t *c = r->c;
    bool current = c->resolving == r;
    free(r);
    c->pending--;
    if (!current) {
        uv_freeaddrinfo(res);
        maybe_free(c);
        return;
    }
    c->resolving = NULL;
    c->state = CONN_NONE;
    unsigned n = 0;
    for (struct addrinfo *ai = res; status == 0 && ai && n < MAX_ADDRS; ai = ai->ai_next) {
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            ai->ai_addrlen <= sizeof(c->addrs[0]))
            memcpy(&c->addrs[n++], ai->ai_addr, ai->ai_addrlen);
    }
    uv_freeaddrinfo(res);
    c->n_addrs = n;
    if (status < 0)
        fail(c, "cannot resolve %s: %s", c->url.host, uv_strerror(status));
    else if (n == 0)
        fail(c, "cannot resolve %s: no address", c->url.host);
    else
        connect_next(c);
}

static void start_connect(peer_client_t *c)
{
    c->n_addrs = c->next_addr = 0;
    arm(c, PEER_TIMER_CONNECT, c->connect_timeout_ms);
    if (c->url.host_is_ip) {
        /* A literal needs no lookup, and must not get one: it is the address. */
        int rc = c->url.ipv6
                     ? uv_ip6_addr(c->url.host, c->url.port, (struct sockaddr_in6 *)&c->addrs[0])
                     : uv_ip4_addr(c->url.host, c->url.port, (struct sockaddr_in *)&c->addrs[0]);
        if (rc < 0) {
            fail(c, "bad address %s: %s", c->url.host, uv_strerror(rc));
            return;
        }
        c->n_addrs = 1;
        connect_next(c);
        return;
    }
    resolve_t *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->c = c;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)c->url.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(c->loop, &r->req, on_resolved, c->url.host, port, &hints);
    if (rc < 0) {
        free(r);
        fail(c, "cannot resolve %s: %s", c->url.host, uv_strerror(rc));
        return;
    }
    c->resolving = r;
    c->pending++;
    c->state = CONN_RESOLVING;
}

/* ---- API ---- */

int peer_client_new(uv_loop_t *loop, const peer_client_config_t *cfg, peer_client_t **out,
                    char *err, size_t err_len)
{
    *out = NULL;
    if (!loop || !cfg || !cfg->ssl_ctx) {
        snprintf(err, err_len, "peer client needs a loop and a TLS context");
        return TR_E_INVAL;
    }
    if (!cfg->expect_org || !tr_name_valid(cfg->expect_org)) {
        snprintf(err, err_len, "peer organisation is not a valid name");
        return TR_E_INVAL;
    }
    peer_client_t *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    int rc = peer_client_parse_url(cfg->url, &c->url, err, err_len);
    if (rc != 0) {
        free(c);
        return rc;
    }
    c->loop = loop;
    c->ssl_ctx = cfg->ssl_ctx;
    snprintf(c->expect_org, sizeof(c->expect_org), "%s", cfg->expect_org);
    c->connect_timeout_ms =
        cfg->connect_timeout_ms ? cfg->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    c->request_timeout_ms =
        cfg->request_timeout_ms ? cfg->request_timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS;
    c->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
    const char *open = c->url.ipv6 ? "[" : "", *close = c->url.ipv6 ? "]" : "";
    if (c->url.port == 443)
        snprintf(c->host_header, sizeof(c->host_header), "%s%s%s", open, c->url.host, close);
    else
        snprintf(c->host_header, sizeof(c->host_header), "%s%s%s:%u", open, c->url.host, close,
                 (unsigned)c->url.port);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->pending = 1;
    *out = c;
    return 0;
}

int peer_client_get(peer_client_t *c, const char *target, uint64_t timeout_ms, peer_response_cb cb,
                    void *ud)
{
    if (!c || c->freeing || c->cb || !cb || !target || target[0] != '/')
        return TR_E_INVAL;
    size_t len = strlen(target);
    if (len > MAX_TARGET)
        return TR_E_INVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)target[i];
        if (ch <= 0x20 || ch >= 0x7f) /* the target goes on the request line as it is */
            return TR_E_INVAL;
    }
    size_t cap = len + strlen(c->host_header) + 96;
    c->request = malloc(cap);
    if (!c->request)
        abort();
    int n =
        snprintf(c->request, cap,
                 "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n" TR_PROTOCOL_HEADER
                 ": %d\r\n\r\n",
                 target, c->host_header, TR_PROTOCOL_VERSION);
    c->request_len = (size_t)n;
    c->cb = cb;
    c->ud = ud;
    c->timeout_ms = timeout_ms ? timeout_ms : c->request_timeout_ms;
    c->retried = false;
    c->got_bytes = false;
    if (c->state == CONN_READY)
        send_request(c);
    else if (c->state == CONN_NONE)
        start_connect(c);
    /* CONN_CLOSING: on_tcp_closed connects. */
    return 0;
}

void peer_client_cancel(peer_client_t *c)
{
    if (!c || !c->cb)
        return;
    c->cb = NULL;
    c->ud = NULL;
    free(c->request);
    c->request = NULL;
    disarm(c);
    /* Sent or half-connected: its answer would be taken for the next request's. */
    close_conn(c, false);
}

void peer_client_free(peer_client_t *c)
{
    if (!c || c->freeing)
        return;
    peer_client_cancel(c);
    c->freeing = true;
    close_conn(c, true); /* an idle keep-alive says goodbye */
    disarm(c);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

uint64_t peer_client_connects(const peer_client_t *c)
{
    return c->connects;
}
