/* Unit tests for the peer client: the URL table, the response parser (fed whole and byte by
 * byte, every limit and refusal), and its life on a loop against sockets that never get as far
 * as TLS (refused, silent, plaintext), each ending with uv_loop_close() == 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "peer_client.h"
#include "tr_error.h"

/* Put into refused responses wherever response bytes could leak into an error. */
#define MARKER "ZQXJ7"

/* ---- URL ---- */

typedef struct {
    const char *url;
    const char *host; /* NULL: must be refused */
    unsigned port;
    bool is_ip, ipv6;
} url_case_t;

static void test_url_table(void **state)
{
    static const url_case_t cases[] = {
        {"https://example.org", "example.org", 443, false, false},
        {"https://Node1.Example.ORG:8443/", "node1.example.org", 8443, false, false},
        {"HTTPS://10.0.0.1:9", "10.0.0.1", 9, true, false},
        {"https://127.0.0.1:65535", "127.0.0.1", 65535, true, false},
        {"https://[::1]:8443", "::1", 8443, true, true},
        {"https://[2001:db8::1]", "2001:db8::1", 443, true, true},
        {"https://localhost:1", "localhost", 1, false, false},
        {"https://a-b.c0", "a-b.c0", 443, false, false},
        {"https://x:00443", "x", 443, false, false},
        {NULL, NULL, 0, false, false}, /* NULL URL */
        {"", NULL, 0, false, false},
        {"http://example.org", NULL, 0, false, false},
        {"https://", NULL, 0, false, false},
        {"https://:443", NULL, 0, false, false},
        {"https://x:", NULL, 0, false, false},
        {"https://x:0", NULL, 0, false, false},
        {"https://x:65536", NULL, 0, false, false},
        {"https://x:123456", NULL, 0, false, false},
        {"https://x:12a", NULL, 0, false, false},
        {"https://x:-1", NULL, 0, false, false},
        {"https://x/path", NULL, 0, false, false},
        {"https://x/?q", NULL, 0, false, false},
        {"https://x?q", NULL, 0, false, false},
        {"https://x#f", NULL, 0, false, false},
        {"https://user@x", NULL, 0, false, false},
        {"https://user:pw@x:443", NULL, 0, false, false},
        {"https://[::1", NULL, 0, false, false},
        {"https://[::1]x", NULL, 0, false, false},
        {"https://[::1]:", NULL, 0, false, false},
        {"https://[zz::1]", NULL, 0, false, false},
        {"https://[fe80::1%25eth0]", NULL, 0, false, false},
        {"https://[127.0.0.1]", NULL, 0, false, false},
        {"https://-x.org", NULL, 0, false, false},
        {"https://x-.org", NULL, 0, false, false},
        {"https://x..org", NULL, 0, false, false},
        {"https://.x.org", NULL, 0, false, false},
        {"https://x.org.", NULL, 0, false, false},
        {"https://x_y.org", NULL, 0, false, false},
        {"https://x y.org", NULL, 0, false, false},
        {"https://10.1", NULL, 0, false, false},
        {"https://1.2.3.256", NULL, 0, false, false},
        {"https://0x7f.1", NULL, 0, false, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const url_case_t *k = &cases[i];
        peer_url_t u;
        char err[160] = "";
        int rc = peer_client_parse_url(k->url, &u, err, sizeof(err));
        if (k->host) {
            if (rc != 0)
                fail_msg("%s: refused: %s", k->url, err);
            assert_string_equal(u.host, k->host);
            assert_int_equal(u.port, k->port);
            assert_int_equal(u.host_is_ip, k->is_ip);
            assert_int_equal(u.ipv6, k->ipv6);
        } else {
            if (rc != TR_E_INVAL)
                fail_msg("%s: accepted as %s", k->url ? k->url : "(null)", u.host);
            assert_true(strncmp(err, "peer URL ", 9) == 0);
        }
    }
}

static void test_url_long_labels(void **state)
{
    char url[400], err[160];
    peer_url_t u;
    memset(url, 0, sizeof(url));
    strcpy(url, "https://");
    memset(url + 8, 'a', 63);
    assert_int_equal(peer_client_parse_url(url, &u, err, sizeof(err)), 0);
    url[8 + 63] = 'a'; /* a 64-byte label */
    assert_int_equal(peer_client_parse_url(url, &u, err, sizeof(err)), TR_E_INVAL);
    memset(url + 8, 'a', 300); /* longer than the host buffer */
    url[308] = '\0';
    assert_int_equal(peer_client_parse_url(url, &u, err, sizeof(err)), TR_E_INVAL);
}

/* ---- response parser ---- */

typedef struct {
    int rc;
    size_t used;
    int status;
    bool keep_alive;
    char ct[128];
    char body[256];
    size_t body_len;
    char error[128];
} parsed_t;

/* Feeds in pieces of `step` bytes (0: all at once) until done or an error. */
static parsed_t parse(const char *in, size_t max_body, size_t step)
{
    peer_client_parser_t p;
    parsed_t r = {0};
    size_t len = strlen(in), off = 0;
    peer_client_parser_init(&p, max_body);
    while (off < len) {
        size_t n = step && step < len - off ? step : len - off, used = 0;
        r.rc = peer_client_parser_feed(&p, in + off, n, &used);
        off += used;
        if (r.rc != PEER_PARSE_MORE)
            break;
    }
    r.used = off;
    r.status = p.status;
    r.keep_alive = p.keep_alive;
    snprintf(r.ct, sizeof(r.ct), "%s", p.content_type);
    if (p.error)
        snprintf(r.error, sizeof(r.error), "%s", p.error);
    size_t blen;
    char *body = peer_client_parser_take_body(&p, &blen);
    if (body) {
        assert_true(blen < sizeof(r.body));
        assert_int_equal(body[blen], '\0');
        memcpy(r.body, body, blen);
        r.body_len = blen;
    }
    free(body);
    peer_client_parser_free(&p);
    return r;
}

static const size_t steps[] = {0, 1, 2, 7};

static void expect_ok(const char *in, int status, const char *ct, const char *body, bool keep)
{
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        parsed_t r = parse(in, 1024, steps[i]);
        if (r.rc != PEER_PARSE_DONE)
            fail_msg("step %zu: rc %d (%s)", steps[i], r.rc, r.error);
        assert_int_equal(r.used, strlen(in));
        assert_int_equal(r.status, status);
        assert_string_equal(r.ct, ct);
        assert_int_equal(r.body_len, strlen(body));
        assert_memory_equal(r.body, body, r.body_len);
        assert_int_equal(r.keep_alive, keep);
    }
}

static void expect_refused(const char *in, size_t max_body, int code, const char *error)
{
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        parsed_t r = parse(in, max_body, steps[i]);
        if (r.rc != code)
            fail_msg("step %zu: rc %d, want %d (%s)", steps[i], r.rc, code, r.error);
        if (strstr(r.error, error) == NULL)
            fail_msg("step %zu: error \"%s\" lacks \"%s\"", steps[i], r.error, error);
        assert_null(strstr(r.error, MARKER));
    }
}

static void test_parse_good(void **state)
{
    expect_ok("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
              "{\"a\":\"xyz\"}",
              200, "application/json", "{\"a\":\"xyz\"}", true);
    expect_ok("HTTP/1.1 404 Not Found\r\ncontent-type: application/problem+json  \r\n"
              "Content-Length: 2\r\n\r\n{}",
              404, "application/problem+json", "{}", true);
    expect_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              "4;ext=1\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nX-Trailer: t\r\n\r\n",
              200, "", "{\"a\":1}", true);
    expect_ok("HTTP/1.1 204 No Content\r\n\r\n", 204, "", "", true);
    expect_ok("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 200, "", "x",
              false);
    expect_ok("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, "", "x", false);
    expect_ok("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
              503, "", "", true);
    expect_ok("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 200, "", "", true); /* empty reason */
}

static void test_parse_body_limits(void **state)
{
    parsed_t r = parse("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n12345678", 8, 0);
    assert_int_equal(r.rc, PEER_PARSE_DONE);
    assert_int_equal(r.body_len, 8);
    expect_refused("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n" MARKER "1234", 8, TR_E_LIMIT,
                   "response too large");
    expect_refused("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999\r\n\r\n", 8, TR_E_LIMIT,
                   "response too large");
    r = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n1234\r\n4\r\n5678\r\n0\r\n"
              "\r\n",
              8, 0);
    assert_int_equal(r.rc, PEER_PARSE_DONE);
    expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "4\r\n1234\r\n5\r\n" MARKER "\r\n0\r\n\r\n",
                   8, TR_E_LIMIT, "response too large");
}

static void test_parse_refusals(void **state)
{
    expect_refused("HTTP/1.1 200 OK\r\nContent-Type: " MARKER "\r\n\r\n" MARKER, 1024, TR_E_HTTP,
                   "neither Content-Length nor chunked");
    expect_refused("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "0\r\n\r\n",
                   1024, TR_E_HTTP, "response");
    expect_refused("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 1024,
                   TR_E_HTTP, "duplicate Content-Length");
    expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 1024,
                   TR_E_HTTP, "Transfer-Encoding other than chunked");
    expect_refused("HTTP/1.1 200 OK\r\nX-A: a\r\n " MARKER "\r\nContent-Length: 0\r\n\r\n", 1024,
                   TR_E_HTTP, "obs-fold");
    expect_refused("HTTP/1.1 200 OK\r\nX-A:\r\n\t" MARKER "\r\nContent-Length: 0\r\n\r\n", 1024,
                   TR_E_HTTP, "obs-fold");
    expect_refused("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                   1024, TR_E_HTTP, "1xx");
    expect_refused("HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", 1024, TR_E_HTTP, "response");
    expect_refused("HTTP/1.1 999 OK\r\nContent-Length: 0\r\n\r\n", 1024, TR_E_HTTP,
                   "status outside");
    expect_refused("HTTP/1.1 200 OK\nContent-Length: 0\n\n", 1024, TR_E_HTTP, /* bare LF */
                   "malformed response");
    expect_refused("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 1024, TR_E_HTTP,
                   "malformed response");
    expect_refused(MARKER " 200 OK\r\n\r\n", 1024, TR_E_HTTP, "malformed response");
    expect_refused("HTTP/1.1 2x0 OK\r\n\r\n", 1024, TR_E_HTTP, "malformed response");
    expect_refused("HTTP/1.1 200 OK\r\nBad Name: " MARKER "\r\n\r\n", 1024, TR_E_HTTP,
                   "malformed response");
    expect_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz" MARKER "\r\n", 1024,
                   TR_E_HTTP, "malformed response");
    char ct[400];
    snprintf(ct, sizeof(ct), "HTTP/1.1 200 OK\r\nContent-Type: %0200d\r\n\r\n", 0);
    expect_refused(ct, 1024, TR_E_HTTP, "Content-Type longer");
}

/* The peer's Trellis-Protocol is read whole, split or not, and one response
 * cannot announce two versions. */
static void test_parse_protocol(void **state)
{
    static const struct {
        const char *in;
        bool has;
        const char *value;
    } rows[] = {
        {"HTTP/1.1 200 OK\r\nTrellis-Protocol: 2\r\nContent-Length: 0\r\n\r\n", true, "2"},
        {"HTTP/1.1 200 OK\r\ntrellis-protocol:  37 \r\nContent-Length: 0\r\n\r\n", true, "37"},
        {"HTTP/1.1 200 OK\r\nTrellis-Protocolx: 2\r\nContent-Length: 0\r\n\r\n", false, ""},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        for (size_t j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
            peer_client_parser_t p;
            size_t len = strlen(rows[i].in), off = 0, used = 0;
            int rc = PEER_PARSE_MORE;
            peer_client_parser_init(&p, 64);
            while (off < len && rc == PEER_PARSE_MORE) {
                size_t n = steps[j] && steps[j] < len - off ? steps[j] : len - off;
                rc = peer_client_parser_feed(&p, rows[i].in + off, n, &used);
                off += used;
            }
            assert_int_equal(rc, PEER_PARSE_DONE);
            assert_int_equal(p.has_protocol, rows[i].has);
            if (rows[i].has)
                assert_string_equal(p.protocol, rows[i].value);
            peer_client_parser_free(&p);
        }
    }
    expect_refused("HTTP/1.1 200 OK\r\nTrellis-Protocol: 2\r\nTrellis-Protocol: 3\r\n"
                   "Content-Length: 0\r\n\r\n",
                   1024, TR_E_HTTP, "duplicate Trellis-Protocol");
    char long_value[400];
    snprintf(long_value, sizeof(long_value), "HTTP/1.1 200 OK\r\nTrellis-Protocol: %0200d\r\n\r\n",
             0);
    expect_refused(long_value, 1024, TR_E_HTTP, "Trellis-Protocol longer");
}

static void test_parse_header_limits(void **state)
{
    size_t cap = 64 * 1024;
    char *in = malloc(cap);
    int n = snprintf(in, cap, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(in + n, 'a', 33 * 1024);
    snprintf(in + n + 33 * 1024, cap - (size_t)n - 33 * 1024, "\r\nContent-Length: 0\r\n\r\n");
    expect_refused(in, 1024, TR_E_LIMIT, "response header too large");
    n = snprintf(in, cap, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 101; i++)
        n += snprintf(in + n, cap - (size_t)n, "X-%d: v\r\n", i);
    snprintf(in + n, cap - (size_t)n, "Content-Length: 0\r\n\r\n");
    expect_refused(in, 1024, TR_E_LIMIT, "too many header fields");
    free(in);
}

static void test_parse_extra_and_sticky(void **state)
{
    const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n";
    peer_client_parser_t p;
    size_t used = 0;
    peer_client_parser_init(&p, 100);
    assert_int_equal(peer_client_parser_feed(&p, in, strlen(in), &used), PEER_PARSE_DONE);
    assert_int_equal(used, strlen("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    assert_int_equal(peer_client_parser_feed(&p, "x", 1, &used), PEER_PARSE_DONE);
    assert_int_equal(used, 0);
    peer_client_parser_free(&p);

    peer_client_parser_init(&p, 100);
    assert_int_equal(peer_client_parser_feed(&p, "garbage\r\n", 9, &used), TR_E_HTTP);
    const char *first = p.error;
    assert_int_equal(peer_client_parser_feed(&p, "HTTP/1.1 200 OK\r\n", 17, &used), TR_E_HTTP);
    assert_ptr_equal(p.error, first);
    assert_int_equal(used, 0);
    peer_client_parser_free(&p);
}

/* ---- on a loop, without a TLS peer ---- */

typedef struct {
    int calls;
    bool ok;
    char err[256];
    uint64_t at_ms;
    peer_client_t *free_me; /* freed from inside the callback */
} outcome_t;

static void on_response(void *ud, const peer_response_t *res, const char *err)
{
    outcome_t *o = ud;
    o->calls++;
    o->ok = res != NULL;
    snprintf(o->err, sizeof(o->err), "%s", err ? err : "");
    if (o->free_me)
        peer_client_free(o->free_me);
}

static void on_never(void *ud, const peer_response_t *res, const char *err)
{
    fail_msg("a cancelled request's callback ran: %s", err ? err : "response");
}

static void on_silent_conn(uv_stream_t *srv, int status)
{
    /* Not accepted: the kernel completes the connection and nobody ever speaks on it. */
}

/* A listening socket on a free port; listen_silent's connects succeed and the handshake never
 * does. */
static int listen_on(uv_loop_t *loop, uv_tcp_t *srv, uv_connection_cb cb)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_tcp_init(loop, srv), 0);
    assert_int_equal(uv_tcp_bind(srv, (const struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)srv, 8, cb), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(srv, (struct sockaddr *)&ss, &len);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int listen_silent(uv_loop_t *loop, uv_tcp_t *srv)
{
    return listen_on(loop, srv, on_silent_conn);
}

static int free_port(uv_loop_t *loop)
{
    uv_tcp_t srv;
    int port = listen_silent(loop, &srv);
    uv_close((uv_handle_t *)&srv, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return port;
}

static peer_client_t *make(uv_loop_t *loop, SSL_CTX *ctx, const char *url, uint64_t connect_ms)
{
    peer_client_config_t cfg = {
        .url = url, .ssl_ctx = ctx, .expect_org = "alpha", .connect_timeout_ms = connect_ms};
    peer_client_t *c = NULL;
    char err[160];
    int rc = peer_client_new(loop, &cfg, &c, err, sizeof(err));
    if (rc != 0)
        fail_msg("peer_client_new: %s", err);
    return c;
}

static void test_loop_refused_and_timeout(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char url[64];

    /* Nothing listens: "localhost" may resolve to ::1 and 127.0.0.1, both are tried. */
    snprintf(url, sizeof(url), "https://localhost:%d", free_port(&loop));
    peer_client_t *c = make(&loop, ctx, url, 5000);
    outcome_t o = {0};
    assert_int_equal(peer_client_get(c, "/v1/whoami", 0, on_response, &o), 0);
    assert_int_equal(o.calls, 0); /* never from inside the call */
    assert_int_equal(peer_client_get(c, "/again", 0, on_response, &o), TR_E_INVAL);
    uint64_t t0 = uv_now(&loop);
    while (o.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_false(o.ok);
    assert_non_null(strstr(o.err, "cannot connect to localhost:"));
    assert_true(uv_now(&loop) - t0 < 2000);

    /* Connected but silent: the handshake deadline fires; then the same client tries again. */
    uv_tcp_t srv;
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", listen_silent(&loop, &srv));
    peer_client_t *d = make(&loop, ctx, url, 200);
    for (int round = 0; round < 2; round++) {
        o = (outcome_t){0};
        assert_int_equal(peer_client_get(d, "/v1/whoami", 0, on_response, &o), 0);
        while (o.calls == 0)
            uv_run(&loop, UV_RUN_ONCE);
        assert_non_null(strstr(o.err, "TLS handshake with 127.0.0.1:"));
        assert_non_null(strstr(o.err, "timed out after 200 ms"));
    }
    assert_int_equal(peer_client_connects(d), 2);

    /* Freed from inside its own callback. */
    o = (outcome_t){.free_me = c};
    assert_int_equal(peer_client_get(c, "/x", 0, on_response, &o), 0);
    while (o.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(o.calls, 1);

    peer_client_free(d);
    uv_close((uv_handle_t *)&srv, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    SSL_CTX_free(ctx);
}

static void on_plain_conn(uv_stream_t *srv, int status)
{
    uv_tcp_t *conn = malloc(sizeof(*conn));
    uv_tcp_init(srv->loop, conn);
    assert_int_equal(uv_accept(srv, (uv_stream_t *)conn), 0);
    /* A server speaking plaintext HTTP where TLS is due: one write, then close. */
    static char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" MARKER;
    uv_buf_t buf = uv_buf_init(reply, sizeof(reply) - 1);
    uv_try_write((uv_stream_t *)conn, &buf, 1);
    uv_close((uv_handle_t *)conn, (uv_close_cb)free);
}

static void test_loop_plaintext_cancel_and_bad_args(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    uv_tcp_t srv;
    char url[64];
    int port = listen_on(&loop, &srv, on_plain_conn);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
    peer_client_t *c = make(&loop, ctx, url, 5000);

    outcome_t o = {0};
    assert_int_equal(peer_client_get(c, "/v1/whoami", 0, on_response, &o), 0);
    while (o.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_false(o.ok);
    assert_non_null(strstr(o.err, "TLS handshake failed: protocol error"));
    assert_null(strstr(o.err, MARKER));

    /* Cancelled while connecting, and again at once: the callback never runs. */
    assert_int_equal(peer_client_get(c, "/v1/whoami", 0, on_never, NULL), 0);
    peer_client_cancel(c);
    assert_int_equal(peer_client_get(c, "/v1/whoami", 0, on_never, NULL), 0);
    peer_client_cancel(c);
    peer_client_cancel(c); /* nothing pending: no-op */

    /* Targets that cannot go on a request line as they are. */
    const char *bad[] = {"", "v1/whoami", "/a b", "/a\r\nX: y", "/\x7f", "/\xc3\xa9"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(peer_client_get(c, bad[i], 0, on_response, &o), TR_E_INVAL);
    assert_int_equal(peer_client_get(c, "/v1/whoami", 0, NULL, NULL), TR_E_INVAL);

    /* Bad configurations say why. */
    peer_client_t *x = NULL;
    char err[160];
    peer_client_config_t cfg = {.url = "http://x", .ssl_ctx = ctx, .expect_org = "alpha"};
    assert_int_equal(peer_client_new(&loop, &cfg, &x, err, sizeof(err)), TR_E_INVAL);
    assert_non_null(strstr(err, "https://"));
    cfg.url = url;
    cfg.expect_org = "Not An Org";
    assert_int_equal(peer_client_new(&loop, &cfg, &x, err, sizeof(err)), TR_E_INVAL);
    cfg.expect_org = "alpha";
    cfg.ssl_ctx = NULL;
    assert_int_equal(peer_client_new(&loop, &cfg, &x, err, sizeof(err)), TR_E_INVAL);
    assert_null(x);

    /* Freed with a request pending: no callback, nothing leaks. */
    assert_int_equal(peer_client_get(c, "/v1/whoami", 0, on_never, NULL), 0);
    peer_client_free(c);
    peer_client_free(NULL);
    uv_close((uv_handle_t *)&srv, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    SSL_CTX_free(ctx);
}

static void test_client_ctx_errors(void **state)
{
    SSL_CTX *ctx = (SSL_CTX *)1;
    char err[256];
    assert_int_equal(peer_tls_client_ctx("/nonexistent.crt", "/nonexistent.key", "/nonexistent.ca",
                                         NULL, &ctx, err, sizeof(err)),
                     TR_E_CERT);
    assert_null(ctx);
    assert_non_null(strstr(err, "/nonexistent.crt"));
    assert_int_equal(peer_tls_client_ctx(NULL, NULL, NULL, NULL, &ctx, err, sizeof(err)),
                     TR_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_table),
        cmocka_unit_test(test_url_long_labels),
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_body_limits),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_parse_protocol),
        cmocka_unit_test(test_parse_header_limits),
        cmocka_unit_test(test_parse_extra_and_sticky),
        cmocka_unit_test(test_loop_refused_and_timeout),
        cmocka_unit_test(test_loop_plaintext_cancel_and_bad_args),
        cmocka_unit_test(test_client_ctx_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
