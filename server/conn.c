/* Connection lifecycle: accept, TLS handshake, reading and parsing requests,
 * answering them in order, timers (handshake, idle, slow request) and close.
 * A close requested anywhere takes effect through conn_close, which is
 * idempotent and frees the connection only in the last close callback. */
#include "conn.h"
#include "conn_admit.h"
#include "log.h"
#include "response.h"
#include "router.h"
#include "tr_error.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define READ_BUF_SIZE (64 * 1024)
#define PLAIN_BUF_SIZE (16 * 1024)
#define WRITE_HIGH_WATER (1024 * 1024) /* bytes queued to the kernel before reading stops */
#define CLOSE_TIMEOUT_MS 5000          /* a peer that never reads our close is cut */
#define SETTLE_MS 1000                 /* idle this long: the TLS buffers are given back */

/* One loop, callbacks never nest: a single read buffer serves every connection. */
static char read_buf[READ_BUF_SIZE];
static bool read_buf_busy;

typedef struct {
    uv_write_t req;
    conn_t *conn;
    char data[]; /* the write request and its bytes in one allocation */
} write_t;

static void conn_start_reading(conn_t *conn);

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

static void log_conn(conn_t *conn, log_level_t level, const char *event, const char *reason)
{
    if (!log_enabled(level))
        return;
    json_t *f = json_pack("{s:I, s:s}", "conn", (json_int_t)conn->id, "peer", conn->peer_addr);
    if (conn->ident)
        json_object_set_new(f, "identity", json_string(conn->ident->key));
    if (reason)
        json_object_set_new(f, "reason", json_string(reason));
    log_event(level, event, f);
}

const tr_identity_t *conn_identity(const conn_t *conn)
{
    return &conn->tls.identity;
}

const char *conn_visibility(const conn_t *conn)
{
    if (conn->is_viewer)
        return NULL;
    const char *org = conn->tls.identity.org;
    return strcmp(org, conn->node->org) == 0 ? NULL : org;
}

/* ---- timers ---- */

static void on_timer(uv_timer_t *t);

static void arm(conn_t *conn, conn_timer_t mode, uint64_t ms)
{
    conn->timer_mode = mode;
    conn->timer_epoch = conn->completed;
    uv_timer_start(&conn->timer, on_timer, ms, 0);
}

/* Pick the deadline that applies now: waiting for our own replies has none;
 * a started request must arrive whole in request_timeout (slowloris); an
 * empty keep-alive connection may stay idle_timeout. */
static void update_timer(conn_t *conn)
{
    if (conn->closing || !conn->tls.established)
        return;
    const config_t *cfg = &conn->node->cfg;
    if (conn->head) {
        if (conn->timer_mode != CONN_TIMER_NONE) {
            uv_timer_stop(&conn->timer);
            conn->timer_mode = CONN_TIMER_NONE;
        }
    } else if (http_parser_mid_request(&conn->http) || conn->pending_len) {
        if (conn->timer_mode != CONN_TIMER_REQUEST || conn->timer_epoch != conn->completed)
            arm(conn, CONN_TIMER_REQUEST, cfg->request_timeout_ms);
    } else if (conn->timer_mode != CONN_TIMER_IDLE && conn->timer_mode != CONN_TIMER_SETTLE) {
        /* A busy keep-alive connection keeps its buffers; one that stays
         * idle for a moment gives them back (see on_timer). */
        if (cfg->idle_timeout_ms > SETTLE_MS)
            arm(conn, CONN_TIMER_SETTLE, SETTLE_MS);
        else
            arm(conn, CONN_TIMER_IDLE, cfg->idle_timeout_ms);
    }
}

/* ---- writing ---- */

static void on_write(uv_write_t *wr, int status)
{
    write_t *w = (write_t *)wr;
    conn_t *conn = w->conn;
    free(w);
    if (status < 0) {
        if (status != UV_ECANCELED)
            conn_close(conn, false, uv_err_name(status));
        return;
    }
    if (conn->write_full &&
        uv_stream_get_write_queue_size((uv_stream_t *)&conn->tcp) < WRITE_HIGH_WATER / 2) {
        conn->write_full = false;
        if (!conn->closing && !conn->paused && !conn->stop_parsing)
            conn_start_reading(conn);
    }
}

/* Move whatever TLS has produced onto the socket. */
static void flush_tls(conn_t *conn)
{
    size_t n;
    while (!conn->closing || conn->timer_mode == CONN_TIMER_CLOSING) {
        n = tls_conn_pending(&conn->tls);
        if (n == 0)
            break;
        write_t *w = xmalloc(sizeof(*w) + n);
        w->conn = conn;
        n = tls_conn_take(&conn->tls, w->data, n);
        uv_buf_t buf = uv_buf_init(w->data, (unsigned)n);
        int rc = uv_write(&w->req, (uv_stream_t *)&conn->tcp, &buf, 1, on_write);
        if (rc < 0) {
            free(w);
            conn_close(conn, false, uv_err_name(rc));
            return;
        }
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&conn->tcp) > WRITE_HIGH_WATER &&
        conn->reading) {
        conn->write_full = true;
        uv_read_stop((uv_stream_t *)&conn->tcp);
        conn->reading = false;
    }
}

/* ---- closing ---- */

static void free_req(req_t *req)
{
    if (req->queued) {
        node_t *node = req->conn->node;
        node->queued_requests--;
        node->queued_body_bytes -= req->http->body_len;
        req->conn->ident->queued--;
    }
    if (!req->done) {
        if (req->dbq)
            db_query_cancel(req->dbq);
        if (req->on_abort)
            req->on_abort(req);
    }
    if (req->http)
        http_request_free(req->http);
    free(req->viewer_user);
    free(req->out);
    free(req);
}

static void on_handle_closed(uv_handle_t *h)
{
    conn_t *conn = h->data;
    if (--conn->handles_open > 0)
        return;
    node_t *node = conn->node;
    if (conn->ident)
        node_ident_release(node, conn->ident);
    if (conn->is_public)
        node->n_public_conns--;
    if (conn->is_viewer)
        node->n_viewer_conns--;
    tls_conn_close(&conn->tls);
    http_parser_close(&conn->http);
    free(conn->pending);
    if (conn->prev)
        conn->prev->next = conn->next;
    else
        node->conns = conn->next;
    if (conn->next)
        conn->next->prev = conn->prev;
    free(conn);
    node_conn_gone(node);
}

static void close_handles(conn_t *conn)
{
    if (!uv_is_closing((uv_handle_t *)&conn->tcp))
        uv_close((uv_handle_t *)&conn->tcp, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&conn->timer))
        uv_close((uv_handle_t *)&conn->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *sr, int status)
{
    conn_t *conn = sr->data;
    free(sr);
    close_handles(conn);
}

void conn_close(conn_t *conn, bool graceful, const char *reason)
{
    if (conn->closing) {
        if (!graceful && conn->timer_mode == CONN_TIMER_CLOSING)
            close_handles(conn); /* a graceful close that now must be cut */
        return;
    }
    conn->closing = true;
    conn->node->queued_body_bytes -= conn->partial_body;
    conn->partial_body = 0;
    if (reason)
        log_conn(conn, LOG_DEBUG, "conn_close", reason);
    if (conn->reading)
        uv_read_stop((uv_stream_t *)&conn->tcp);
    conn->reading = false;
    while (conn->head) {
        req_t *r = conn->head;
        conn->head = r->next;
        free_req(r);
    }
    conn->tail = NULL;
    conn->node->metrics.connections_open--;
    if (graceful) {
        /* Reply, then close: close_notify and queued bytes go out first. */
        conn->timer_mode = CONN_TIMER_CLOSING;
        tls_conn_shutdown(&conn->tls);
        flush_tls(conn);
        uv_timer_start(&conn->timer, on_timer, CLOSE_TIMEOUT_MS, 0);
        /* Allocated only now: an idle connection should not carry it. */
        uv_shutdown_t *sr = xmalloc(sizeof(*sr));
        sr->data = conn;
        if (uv_shutdown(sr, (uv_stream_t *)&conn->tcp, on_shutdown) == 0)
            return;
        free(sr);
    }
    conn->timer_mode = CONN_TIMER_NONE;
    close_handles(conn);
}

static void on_timer(uv_timer_t *t)
{
    conn_t *conn = t->data;
    switch (conn->timer_mode) {
    case CONN_TIMER_HANDSHAKE:
        conn->node->metrics.handshake_failures[TLS_FAIL_TIMEOUT]++;
        log_conn(conn, LOG_INFO, "tls_handshake_failed", "timeout");
        conn_close(conn, false, "handshake timeout");
        break;
    case CONN_TIMER_SETTLE:
        /* Memory BIOs keep their high-water buffers for good: thousands of
         * idle agents would hold kilobytes each. Fresh, empty ones cost nothing. */
        tls_conn_shrink(&conn->tls);
        arm(conn, CONN_TIMER_IDLE, conn->node->cfg.idle_timeout_ms - SETTLE_MS);
        break;
    case CONN_TIMER_IDLE:
        conn_close(conn, true, "idle timeout");
        break;
    case CONN_TIMER_REQUEST: {
        /* A request started but did not arrive whole in time: 408, then close. */
        req_t *req = calloc(1, sizeof(*req));
        if (!req)
            abort();
        req->conn = conn;
        req->route = -1;
        /* Logged and measured from the request's first byte, not from this last step. */
        req->start_ns = conn->mid_start_ns ? conn->mid_start_ns : uv_hrtime();
        conn->stop_parsing = true;
        if (conn->tail)
            conn->tail->next = req;
        else
            conn->head = req;
        conn->tail = req;
        conn->in_flight++;
        log_conn(conn, LOG_INFO, "request_timeout", NULL);
        response_problem(req, 408, "request-timeout",
                         "the request did not arrive whole within [limits] request_timeout");
        break;
    }
    case CONN_TIMER_CLOSING:
        conn_close(conn, false, "close timeout");
        break;
    case CONN_TIMER_NONE:
        break;
    }
}

/* ---- requests ---- */

static req_t *enqueue(conn_t *conn, http_request_t *http)
{
    req_t *req = calloc(1, sizeof(*req));
    if (!req)
        abort();
    req->conn = conn;
    req->http = http;
    req->route = -1;
    req->start_ns = uv_hrtime();
    if (conn->tail)
        conn->tail->next = req;
    else
        conn->head = req;
    conn->tail = req;
    conn->in_flight++;
    return req;
}

/* Counts a request in the node's queue and its identity's until its reply is written (or the
 * connection goes). Every request is counted, refused or not, since each holds its body until
 * its turn to reply; past a cap it is answered 503 at once, which costs nothing more. Returns
 * the cap passed, or NULL. */
static const char *queue_request(conn_t *conn, req_t *req)
{
    node_t *node = conn->node;
    const config_t *cfg = &node->cfg;
    size_t body = req->http->body_len;
    const char *shed = NULL;
    if (node->queued_requests >= cfg->max_queued_requests)
        shed = "the node has [limits] max_queued_requests requests in hand; try again shortly";
    else if (conn->ident->queued >= cfg->max_queued_per_identity)
        shed = "this identity has [limits] max_queued_per_identity requests in hand; "
               "try again shortly";
    else if (node->queued_body_bytes >= cfg->max_queued_body_bytes ||
             body > cfg->max_queued_body_bytes - node->queued_body_bytes)
        shed = "the node holds [limits] max_queued_body_bytes of request bodies; "
               "try again shortly";
    req->queued = true;
    node->queued_requests++;
    node->queued_body_bytes += body;
    conn->ident->queued++;
    return shed;
}

static int on_request(http_parser_t *p, http_request_t *http, void *ud)
{
    conn_t *conn = ud;
    conn->mid_start_ns = 0;
    /* Its body is counted as the request's from now on (queue_request). */
    conn->node->queued_body_bytes -= conn->partial_body;
    conn->partial_body = 0;
    if (conn->stop_parsing) {
        http_request_free(http);
        return 1;
    }
    req_t *req = enqueue(conn, http);
    conn->requests_seen++;
    if (!http->keep_alive || conn->drain ||
        conn->requests_seen >= conn->node->cfg.max_requests_per_conn) {
        req->close_after = true;
        conn->stop_parsing = true;
    }
    const char *shed = queue_request(conn, req);
    if (conn->over_ident_limit) {
        req->close_after = true;
        conn->stop_parsing = true;
        response_problem(req, 429, "too-many-connections",
                         "this certificate has more connections open than "
                         "[limits] max_connections_per_identity");
    } else if (shed) {
        conn->node->metrics.requests_shed++;
        log_conn(conn, LOG_INFO, "request_shed", shed);
        response_problem_h(req, 503, "overloaded", shed, "Retry-After: 1\r\n");
    } else {
        router_dispatch(req);
    }
    /* The handler may have replied and the connection may be closing now. */
    if (conn->closing || conn->stop_parsing)
        return 1;
    return conn->in_flight >= conn->node->cfg.max_pipeline ? 1 : 0;
}

static void protocol_error(conn_t *conn)
{
    int status;
    const char *slug, *detail;
    http_parser_error(&conn->http, &status, &slug, &detail);
    conn->node->metrics.protocol_errors++;
    conn->stop_parsing = true;
    log_conn(conn, LOG_INFO, "http_refused", slug);
    req_t *req = enqueue(conn, NULL);
    req->close_after = true;
    response_problem(req, status, slug, detail);
}

/* RFC 9110 10.1.1: the client waits for "100 Continue" before sending a body. It goes out only
 * once every earlier reply has (replies leave in order), and never to HTTP/1.0 (the parser
 * asks only for 1.1). */
static void send_continue(conn_t *conn)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (conn->head || conn->stop_parsing || conn->closing ||
        !http_parser_expects_continue(&conn->http))
        return;
    http_parser_continue_sent(&conn->http);
    if (tls_conn_write(&conn->tls, cont, sizeof cont - 1) != 0)
        conn_close(conn, false, "tls write");
}

/* A body still arriving holds memory as surely as a queued one: its bytes count in
 * max_queued_body_bytes as they come. Past it the request is answered 503 and the connection
 * closed (the rest of the body will not be read); requests before it are answered first.
 * Returns true if it was refused. */
static bool count_partial_body(conn_t *conn)
{
    node_t *node = conn->node;
    if (conn->closing)
        return false; /* conn_close gave its bytes back; the parser is done with */
    size_t now = http_parser_partial_body(&conn->http);
    node->queued_body_bytes = node->queued_body_bytes - conn->partial_body + now;
    conn->partial_body = now;
    if (now == 0 || node->queued_body_bytes <= node->cfg.max_queued_body_bytes ||
        conn->stop_parsing)
        return false;
    node->metrics.requests_shed++;
    conn->stop_parsing = true;
    log_conn(conn, LOG_INFO, "request_shed", "max_queued_body_bytes");
    req_t *req = enqueue(conn, NULL);
    req->close_after = true;
    response_problem_h(req, 503, "overloaded",
                       "the node holds [limits] max_queued_body_bytes of request bodies; "
                       "try again shortly",
                       "Retry-After: 1\r\n");
    return true;
}

/* Parse plaintext; what the parser could not take yet (pipeline cap) is kept. */
static void parse(conn_t *conn, const char *data, size_t len)
{
    while (len > 0 && !conn->closing && !conn->stop_parsing) {
        if (conn->paused) {
            char *p = realloc(conn->pending, conn->pending_len + len);
            if (!p)
                abort();
            memcpy(p + conn->pending_len, data, len);
            conn->pending = p;
            conn->pending_len += len;
            return;
        }
        size_t used = 0;
        int rc = http_parser_feed(&conn->http, data, len, &used);
        if (count_partial_body(conn))
            return;
        if (rc == HTTP_ERROR) {
            protocol_error(conn);
            return;
        }
        data += used;
        len -= used;
        if (http_parser_mid_request(&conn->http) && conn->mid_start_ns == 0)
            conn->mid_start_ns = uv_hrtime();
        send_continue(conn);
        if (rc == HTTP_PAUSED) {
            conn->paused = true;
            if (conn->stop_parsing || conn->closing)
                return; /* the rest will never be read */
        }
    }
}

/* Decrypt all that TLS has and parse it, unless paused. */
static void pump(conn_t *conn)
{
    char plain[PLAIN_BUF_SIZE];
    while (!conn->closing && !conn->paused && !conn->stop_parsing) {
        int n = tls_conn_read(&conn->tls, plain, sizeof(plain));
        if (n == 0)
            break;
        if (n < 0) {
            conn_close(conn, false, "peer closed");
            return;
        }
        parse(conn, plain, (size_t)n);
    }
    if (conn->closing)
        return;
    if ((conn->paused || conn->stop_parsing) && conn->reading) {
        /* Take no more from the socket until replies catch up. */
        uv_read_stop((uv_stream_t *)&conn->tcp);
        conn->reading = false;
    }
    flush_tls(conn);
    update_timer(conn);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    if (read_buf_busy) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    read_buf_busy = true;
    *buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void handshake_done(conn_t *conn)
{
    node_t *node = conn->node;
    const tr_identity_t *id = &conn->tls.identity;
    node->metrics.handshakes++;
    if (!conn->is_public) { /* a public connection was counted by its address at accept */
        char key[2 * TR_NAME_MAX + 16];
        snprintf(key, sizeof(key), "%s/%s/%s", id->org, tr_role_name(id->role), id->name);
        conn->ident = node_ident_acquire(node, key);
        if (conn->ident->conns > node->cfg.max_connections_per_identity)
            conn->over_ident_limit = true;
    }
    uv_timer_stop(&conn->timer);
    conn->timer_mode = CONN_TIMER_NONE;
    /* The client's first request may sit behind Nagle until our ACK of its
     * Finished flight; we send nothing after the handshake (no tickets), so
     * ACK at once rather than after the delayed-ACK timer (~40 ms). */
    uv_os_fd_t fd;
    int one = 1;
    if (uv_fileno((uv_handle_t *)&conn->tcp, &fd) == 0)
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    log_conn(conn, LOG_DEBUG, "tls_established", NULL);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *conn = s->data;
    read_buf_busy = false;
    if (nread == 0)
        return;
    if (nread < 0) {
        conn_close(conn, false, nread == UV_EOF ? "eof" : uv_err_name((int)nread));
        return;
    }
    if (tls_conn_feed(&conn->tls, buf->base, (size_t)nread) != 0) {
        conn_close(conn, false, "tls buffer");
        return;
    }
    if (!conn->tls.established) {
        tls_fail_t why = TLS_FAIL_NONE;
        int r = tls_conn_handshake(&conn->tls, &why);
        flush_tls(conn); /* our handshake messages, or the alert */
        if (r < 0) {
            conn->node->metrics.handshake_failures[why]++;
            log_conn(conn, LOG_INFO, "tls_handshake_failed",
                     why == TLS_FAIL_IDENTITY ? conn->tls.identity_why : tls_fail_name(why));
            conn_close(conn, true, "handshake failed");
            return;
        }
        if (r == 0)
            return;
        handshake_done(conn);
    }
    pump(conn);
}

static void conn_start_reading(conn_t *conn)
{
    if (!conn->reading && !conn->closing &&
        uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read) == 0)
        conn->reading = true;
}

/* ---- replies ---- */

static void resume_parsing(conn_t *conn)
{
    if (!conn->paused || conn->stop_parsing || conn->closing ||
        conn->in_flight >= conn->node->cfg.max_pipeline)
        return;
    conn->paused = false;
    http_parser_resume(&conn->http);
    char *rest = conn->pending;
    size_t len = conn->pending_len;
    conn->pending = NULL;
    conn->pending_len = 0;
    parse(conn, rest, len);
    free(rest);
    pump(conn); /* what TLS still holds */
    if (!conn->paused && !conn->write_full)
        conn_start_reading(conn);
}

/* [node] log_requests: one line per reply (all), or per refusal (errors).
 * The path is logged without its query string, which may carry search terms.
 * Every reply on the viewer listener is logged, with the signed-in user: who
 * looked at what is the point of that line. */
static void log_request(conn_t *conn, const req_t *r, double secs)
{
    const char *mode = conn->node->cfg.log_requests;
    bool view = conn->is_viewer && r->http;
    if ((!view && (mode[0] == 'o' || (mode[0] == 'e' && r->status < 400))) ||
        !log_enabled(LOG_INFO))
        return;
    json_t *f =
        json_pack("{s:I, s:s, s:i, s:f}", "conn", (json_int_t)conn->id, "identity",
                  conn->ident ? conn->ident->key : "", "status", r->status, "ms", secs * 1000.0);
    if (r->http) {
        json_object_set_new(f, "method", json_string(llhttp_method_name(r->http->method)));
        json_object_set_new(f, "path", log_client_str(r->http->path, strlen(r->http->path)));
    }
    if (view)
        json_object_set_new(f, "user",
                            r->viewer_user ? log_client_str(r->viewer_user, strlen(r->viewer_user))
                                           : json_null());
    log_event(LOG_INFO, view ? "view" : "request", f);
}

void conn_reply_ready(req_t *req)
{
    conn_t *conn = req->conn;
    req->done = true;
    bool closing_reply = false;
    /* Replies leave strictly in request order. */
    while (conn->head && conn->head->done && !conn->closing) {
        req_t *r = conn->head;
        conn->head = r->next;
        if (!conn->head)
            conn->tail = NULL;
        conn->in_flight--;
        conn->completed++;
        double secs = (double)(uv_hrtime() - r->start_ns) / 1e9;
        metrics_request(&conn->node->metrics, r->route, r->status, secs);
        log_request(conn, r, secs);
        if (tls_conn_write(&conn->tls, r->out, r->out_len) != 0) {
            free_req(r);
            conn_close(conn, false, "tls write");
            return;
        }
        closing_reply = r->close_after;
        free_req(r);
        if (closing_reply)
            break;
    }
    if (conn->closing)
        return;
    if (closing_reply) {
        conn_close(conn, true, "reply closes");
        return;
    }
    send_continue(conn);
    flush_tls(conn);
    if (conn->drain && !conn->head && !http_parser_mid_request(&conn->http)) {
        conn_close(conn, true, "shutdown");
        return;
    }
    resume_parsing(conn);
    update_timer(conn);
}

void conn_drain(conn_t *conn)
{
    conn->drain = true;
    if (!conn->head && !http_parser_mid_request(&conn->http))
        conn_close(conn, true, "shutdown");
}

/* ---- accept ---- */

void conn_accept(node_t *node, uv_stream_t *server, conn_kind_t kind)
{
    bool is_public = kind == CONN_PUBLIC;
    conn_t *conn = calloc(1, sizeof(*conn));
    if (!conn)
        abort();
    conn->node = node;
    conn->id = ++node->next_conn_id;
    uv_tcp_init(node->loop, &conn->tcp);
    uv_timer_init(node->loop, &conn->timer);
    conn->tcp.data = conn->timer.data = conn;
    conn->handles_open = 2;
    conn->next = node->conns;
    if (node->conns)
        node->conns->prev = conn;
    node->conns = conn;
    node->n_conns++;
    node->metrics.connections_open++;

    conn->is_public = is_public;
    if (is_public)
        node->n_public_conns++;
    conn->is_viewer = kind == CONN_VIEWER;
    if (conn->is_viewer)
        node->n_viewer_conns++;
    if (uv_accept(server, (uv_stream_t *)&conn->tcp) != 0) {
        conn_close(conn, false, "accept failed");
        return;
    }
    struct sockaddr_storage ss = {0};
    int sl = sizeof(ss);
    if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        char ip[48] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        snprintf(conn->peer_addr, sizeof(conn->peer_addr), "%s:%d", ip, port);
    }
    const char *refusal = conn_admit_refusal(node, conn, &ss);
    if (refusal) {
        if (conn->is_viewer)
            node->metrics.viewer_connections_refused++;
        else if (is_public)
            node->metrics.public_connections_refused++;
        else
            node->metrics.connections_refused++;
        conn_close(conn, false, refusal);
        return;
    }
    node->metrics.connections_accepted++;
    uv_tcp_nodelay(&conn->tcp, 1);
    const config_t *cfg = &node->cfg;
    http_limits_t limits = {
        .max_url = cfg->max_url_bytes,
        .max_header_bytes = cfg->max_header_bytes,
        .max_headers = (unsigned)cfg->max_headers,
        .max_body = cfg->max_body_bytes,
    };
    http_parser_init(&conn->http, &limits, on_request, conn);
    if (tls_conn_init(&conn->tls, conn->is_viewer ? NULL
                                  : is_public     ? node->public_ctx
                                                  : node->ssl_ctx) != 0) {
        conn_close(conn, false, "tls init");
        return;
    }
    if (conn->is_viewer) {
        update_timer(conn); /* plain HTTP: no handshake, straight to the idle deadline */
    } else {
        arm(conn, CONN_TIMER_HANDSHAKE, cfg->handshake_timeout_ms);
    }
    conn_start_reading(conn);
}
