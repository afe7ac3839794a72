/* Unit tests for server/http.c: request building, pipelining, pause/resume, every limit at and
 * one past its value, and the refusals DESIGN.md lists, each fed whole and in small pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

#define MAX_REQS 16
/* Put into refused requests wherever client bytes could leak into a detail. */
#define MARKER "ZQXJ7"

typedef struct {
    http_request_t *reqs[MAX_REQS];
    int n;
    bool pause;
} sink_t;

typedef struct {
    int rc;
    int status;
    const char *slug; /* static */
    char detail[128]; /* a copy: the parser's own buffer dies with it */
    bool has_detail;
    int pauses;
} result_t;

static const http_limits_t default_limits = {
    .max_url = 8192, .max_header_bytes = 16384, .max_headers = 100, .max_body = 1 << 20};

static int collect(http_parser_t *p, http_request_t *req, void *ud)
{
    sink_t *s = ud;
    if (s->n < MAX_REQS)
        s->reqs[s->n++] = req;
    else
        http_request_free(req);
    return s->pause ? 1 : 0;
}

static void sink_free(sink_t *s)
{
    for (int i = 0; i < s->n; i++)
        http_request_free(s->reqs[i]);
    s->n = 0;
}

/* Feeds in pieces of `step` bytes (0: all at once), resuming after every pause, and closes. */
static result_t run(const http_limits_t *lim, const char *in, size_t len, size_t step, sink_t *s)
{
    http_parser_t p;
    result_t r = {0};
    http_parser_init(&p, lim, collect, s);
    size_t off = 0;
    while (off < len) {
        size_t n = (step == 0 || len - off < step) ? len - off : step;
        size_t used = 99999;
        r.rc = http_parser_feed(&p, in + off, n, &used);
        if (r.rc == HTTP_ERROR)
            break;
        assert_true(used <= n);
        if (r.rc == HTTP_PAUSED) {
            r.pauses++;
            http_parser_resume(&p);
        } else {
            assert_int_equal(used, n);
        }
        off += used;
    }
    const char *detail;
    http_parser_error(&p, &r.status, &r.slug, &detail);
    snprintf(r.detail, sizeof r.detail, "%s", detail ? detail : "-");
    r.has_detail = detail != NULL;
    if (r.rc == HTTP_ERROR) {
        /* Errors are sticky. */
        size_t used;
        assert_int_equal(http_parser_feed(&p, "GET / HTTP/1.1\r\n\r\n", 18, &used), HTTP_ERROR);
        assert_false(http_parser_mid_request(&p));
    }
    http_parser_close(&p);
    return r;
}

static result_t run_str(const char *in, size_t step, sink_t *s)
{
    return run(&default_limits, in, strlen(in), step, s);
}

static void test_simple_get(void **state)
{
    sink_t s = {0};
    result_t r = run_str("GET /v1/fed/changes?since=5&limit=10 HTTP/1.1\r\n"
                         "Host: node.example\r\n"
                         "X-Mixed-Case:   spaced value \t \r\n"
                         "Empty:\r\n"
                         "\r\n",
                         0, &s);
    assert_int_equal(r.rc, HTTP_OK);
    assert_int_equal(s.n, 1);
    http_request_t *req = s.reqs[0];
    assert_int_equal(req->method, HTTP_GET);
    assert_string_equal(req->target, "/v1/fed/changes?since=5&limit=10");
    assert_int_equal(req->target_len, strlen(req->target));
    assert_string_equal(req->path, "/v1/fed/changes");
    assert_string_equal(req->query, "since=5&limit=10");
    assert_int_equal(req->n_headers, 3);
    assert_string_equal(req->headers[0].name, "host");
    assert_string_equal(req->headers[0].value, "node.example");
    assert_string_equal(req->headers[1].name, "x-mixed-case");
    assert_string_equal(req->headers[1].value, "spaced value");
    assert_string_equal(req->headers[2].name, "empty");
    assert_string_equal(req->headers[2].value, "");
    assert_string_equal(http_request_header(req, "HOST"), "node.example");
    assert_string_equal(http_request_header(req, "X-MIXED-case"), "spaced value");
    assert_null(http_request_header(req, "absent"));
    assert_int_equal(req->body_len, 0);
    assert_string_equal(req->body, "");
    assert_true(req->keep_alive);
    assert_int_equal(req->http_major, 1);
    assert_int_equal(req->http_minor, 1);
    sink_free(&s);
}

static void test_path_without_query(void **state)
{
    sink_t s = {0};
    assert_int_equal(run_str("GET /healthz HTTP/1.0\r\n\r\n", 0, &s).rc, HTTP_OK);
    assert_string_equal(s.reqs[0]->path, "/healthz");
    assert_string_equal(s.reqs[0]->query, "");
    assert_null(s.reqs[0]->headers);
    sink_free(&s);
    assert_int_equal(run_str("GET /x? HTTP/1.1\r\nHost: h\r\n\r\n", 0, &s).rc, HTTP_OK);
    assert_string_equal(s.reqs[0]->path, "/x");
    assert_string_equal(s.reqs[0]->query, "");
    sink_free(&s);
}

static void test_keep_alive(void **state)
{
    static const struct {
        const char *in;
        bool keep_alive;
        int minor;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true, 1},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false, 1},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", true, 1},
        {"GET / HTTP/1.0\r\n\r\n", false, 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sink_t s = {0};
        assert_int_equal(run_str(cases[i].in, 0, &s).rc, HTTP_OK);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.reqs[0]->keep_alive, cases[i].keep_alive);
        assert_int_equal(s.reqs[0]->http_minor, cases[i].minor);
        sink_free(&s);
    }
}

static void test_post_content_length(void **state)
{
    sink_t s = {0};
    result_t r = run_str("POST /v1/records HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n"
                         "Content-Type: application/json\r\n\r\n{\"a\":\"b\"}\r\n",
                         0, &s);
    assert_int_equal(r.rc, HTTP_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.reqs[0]->method, HTTP_POST);
    assert_int_equal(s.reqs[0]->body_len, 11);
    assert_memory_equal(s.reqs[0]->body, "{\"a\":\"b\"}\r\n", 12); /* includes the NUL */
    assert_string_equal(http_request_header(s.reqs[0], "content-type"), "application/json");
    sink_free(&s);
}

static void test_chunked_extensions_trailers(void **state)
{
    static const char in[] = "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "5;ext=1\r\nhello\r\n"
                             "6;a;b\r\n world\r\n"
                             "3;q=\"x y\"\r\n!!!\r\n"
                             "0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n";
    for (size_t step = 0; step <= 3; step++) {
        sink_t s = {0};
        result_t r = run_str(in, step, &s);
        assert_int_equal(r.rc, HTTP_OK);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.reqs[0]->body_len, 14);
        assert_string_equal(s.reqs[0]->body, "hello world!!!");
        /* Trailers are checked and counted, but not merged into the headers. */
        assert_int_equal(s.reqs[0]->n_headers, 2);
        assert_string_equal(http_request_header(s.reqs[0], "transfer-encoding"), "chunked");
        assert_null(http_request_header(s.reqs[0], "x-trailer"));
        sink_free(&s);
    }
}

static const char pipelined[] =
    "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
    "POST /two?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
    "POST /three HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "2\r\nde\r\n0\r\n\r\n"
    "GET /four HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";

static void check_pipelined(sink_t *s)
{
    assert_int_equal(s->n, 4);
    assert_string_equal(s->reqs[0]->path, "/one");
    assert_string_equal(http_request_header(s->reqs[0], "host"), "a");
    assert_string_equal(s->reqs[1]->path, "/two");
    assert_string_equal(s->reqs[1]->query, "x=1");
    assert_string_equal(s->reqs[1]->body, "abc");
    assert_string_equal(s->reqs[2]->path, "/three");
    assert_string_equal(s->reqs[2]->body, "de");
    assert_string_equal(s->reqs[3]->path, "/four");
    for (int i = 0; i < 3; i++)
        assert_true(s->reqs[i]->keep_alive);
    assert_false(s->reqs[3]->keep_alive);
}

static void test_pipelined_any_split(void **state)
{
    static const size_t steps[] = {0, 1, 2, 3, 5, 7, 13, 64};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        sink_t s = {0};
        result_t r = run_str(pipelined, steps[i], &s);
        assert_int_equal(r.rc, HTTP_OK);
        assert_int_equal(r.pauses, 0);
        check_pipelined(&s);
        sink_free(&s);
    }
}

static void test_pause_resume(void **state)
{
    sink_t s = {.pause = true};
    http_parser_t p;
    http_parser_init(&p, &default_limits, collect, &s);
    const char *in = pipelined;
    size_t len = strlen(pipelined), used;
    const char *ends[] = {"\r\n\r\n", "abc", "0\r\n\r\n", "close\r\n\r\n"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(http_parser_feed(&p, in, len, &used), HTTP_PAUSED);
        assert_int_equal(s.n, i + 1);
        /* It stopped exactly after the request it delivered. */
        assert_memory_equal(in + used - strlen(ends[i]), ends[i], strlen(ends[i]));
        in += used;
        len -= used;
        /* Until resumed it stays paused and takes nothing. */
        assert_int_equal(http_parser_feed(&p, in, len, &used), HTTP_PAUSED);
        assert_int_equal(used, 0);
        http_parser_resume(&p);
    }
    assert_int_equal(len, 0);
    check_pipelined(&s);
    http_parser_close(&p);
    sink_free(&s);
}

static char *repeat(const char *head, char c, size_t n, const char *tail)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *out = malloc(hl + n + tl + 1);
    assert_non_null(out);
    memcpy(out, head, hl);
    memset(out + hl, c, n);
    memcpy(out + hl + n, tail, tl + 1);
    return out;
}

static char *many_headers(unsigned n)
{
    char *out = malloc(32 + n * 16);
    assert_non_null(out);
    size_t len = (size_t)sprintf(out, "GET / HTTP/1.1\r\nHost: h\r\n"); /* n fields with Host */
    for (unsigned i = 1; i < n; i++)
        len += (size_t)sprintf(out + len, "H%u: v\r\n", i);
    strcpy(out + len, "\r\n");
    return out;
}

static char *chunked_body(size_t first, size_t second)
{
    char *out = malloc(256 + first + second);
    assert_non_null(out);
    size_t len = (size_t)sprintf(
        out, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n", first);
    memset(out + len, 'b', first);
    len += first;
    len += (size_t)sprintf(out + len, "\r\n%zx\r\n", second);
    memset(out + len, 'c', second);
    len += second;
    strcpy(out + len, "\r\n0\r\n\r\n");
    return out;
}

/* Each limit exactly at its value passes; one past gives its status. */
static void test_limits(void **state)
{
    http_limits_t lim = {.max_url = 64, .max_header_bytes = 100, .max_headers = 4, .max_body = 16};
    struct {
        const char *what;
        char *at, *past;
        int status;
        const char *slug;
    } cases[] = {
        {"url", repeat("GET /", 'u', 63, " HTTP/1.1\r\nHost: h\r\n\r\n"),
         repeat("GET /", 'u', 64, " HTTP/1.1\r\nHost: h\r\n\r\n"), 414, "uri-too-long"},
        /* "Host" "h" (5 bytes), name "X-A" (3 bytes) plus the value: 100 and 101 bytes */
        {"header bytes", repeat("GET / HTTP/1.1\r\nHost: h\r\nX-A: ", 'h', 92, "\r\n\r\n"),
         repeat("GET / HTTP/1.1\r\nHost: h\r\nX-A: ", 'h', 93, "\r\n\r\n"), 431,
         "header-too-large"},
        {"header count", many_headers(4), many_headers(5), 431, "too-many-headers"},
        {"body by length",
         repeat("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 16\r\n\r\n", 'b', 16, ""),
         /* refused from the header alone, before any body byte */
         repeat("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n", 'b', 0, ""), 413,
         "body-too-large"},
        {"body by chunks", chunked_body(10, 6), chunked_body(10, 7), 413, "body-too-large"},
        {"chunk extensions",
         repeat("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;", 'e', 15,
                "\r\nx\r\n0\r\n\r\n"),
         repeat("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;", 'e', 16,
                "\r\nx\r\n0\r\n\r\n"),
         413, "body-too-large"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (size_t step = 0; step <= 2; step++) {
            sink_t s = {0};
            result_t r = run(&lim, cases[i].at, strlen(cases[i].at), step, &s);
            if (r.rc != HTTP_OK)
                print_error("limit %s at its value: %d %s\n", cases[i].what, r.status, r.detail);
            assert_int_equal(r.rc, HTTP_OK);
            assert_int_equal(s.n, 1);
            sink_free(&s);

            r = run(&lim, cases[i].past, strlen(cases[i].past), step, &s);
            assert_int_equal(r.rc, HTTP_ERROR);
            assert_int_equal(r.status, cases[i].status);
            assert_string_equal(r.slug, cases[i].slug);
            assert_int_equal(s.n, 0);
        }
        free(cases[i].at);
        free(cases[i].past);
    }
}

static void test_limit_details_name_the_limit(void **state)
{
    http_limits_t lim = default_limits;
    char *in = repeat("GET / HTTP/1.1\r\nHost: h\r\nX: ", 'h', 16384, "\r\n\r\n");
    sink_t s = {0};
    result_t r = run(&lim, in, strlen(in), 0, &s);
    assert_int_equal(r.status, 431);
    assert_string_equal(r.detail, "request header fields exceed 16384 bytes");
    free(in);
}

static const struct {
    const char *in;
    int status;
    const char *slug;
} rejects[] = {
    /* framing ambiguity */
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: "
     "chunked\r\n\r\n0\r\n\r\n",
     400, "ambiguous-length"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: "
     "3\r\n\r\n0\r\n\r\n",
     400, "ambiguous-length"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400,
     "ambiguous-length"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX: " MARKER
     "\r\ncontent-length: 4\r\n\r\nabc",
     400, "ambiguous-length"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc", 400,
     "unsupported-transfer-encoding"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400,
     "unsupported-transfer-encoding"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, " MARKER "\r\n\r\n0\r\n\r\n", 400,
     "unsupported-transfer-encoding"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     400, "unsupported-transfer-encoding"},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
     "unsupported-transfer-encoding"},
    /* obs-fold, every shape llhttp 8.1 lets through */
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n " MARKER "\r\n\r\n", 400, "invalid-header"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\t" MARKER "\r\n\r\n", 400, "invalid-header"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX:\r\n " MARKER "\r\n\r\n", 400, "invalid-header"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\t" MARKER "\r\n\r\n", 400, "invalid-header"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX:\r\n \r\nY: " MARKER "\r\n\r\n", 400, "invalid-header"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n \r\n\r\n", 400, "invalid-header"},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nX: a\r\n  \r\n\r\n", 400, "invalid-header"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\r\n b\r\n\r\n", 400,
     "invalid-header"},
    /* bare CR / LF in a value or as a line end */
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\nY: " MARKER "\r\n\r\n", 400, "invalid-header"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r" MARKER "\r\n\r\n", 400, "bad-request"},
    {"GET / HTTP/1.1\nX: " MARKER "\n\n", 400, "invalid-header"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01" MARKER "\r\n\r\n", 400, "invalid-header"},
    /* RFC 9112 2.2: whitespace between the start line and the first field: reject */
    {"GET / HTTP/1.1\r\n X: " MARKER "\r\nHost: h\r\n\r\n", 400, "bad-request"},
    /* RFC 9112 6.3: a list of lengths, even equal ones */
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400, "bad-request"},
    /* field names */
    {"GET / HTTP/1.1\r\nHost : " MARKER "\r\n\r\n", 400, "invalid-header"},
    {"GET / HTTP/1.1\r\nHost: h\r\n: " MARKER "\r\n\r\n", 400, "invalid-header"},
    {"GET / HTTP/1.1\r\nHost: h\r\nX-\xff" MARKER ": a\r\n\r\n", 400, "invalid-header"},
    /* upgrades and tunnels */
    {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: " MARKER "\r\n\r\n", 400, "upgrade-not-supported"},
    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", 400,
     "upgrade-not-supported"},
    {"CONNECT " MARKER ".example:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "method-not-supported"},
    /* versions */
    {"GET / HTTP/2.0\r\n\r\n", 505, "http-version-not-supported"},
    {"GET / HTTP/0.9\r\n\r\n", 505, "http-version-not-supported"},
    {"GET / HTTP/1.2\r\n\r\n", 505, "http-version-not-supported"},
    {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "http-version-not-supported"},
    {"GET /" MARKER "\r\n\r\n", 505, "http-version-not-supported"}, /* 0.9, no version */
    {"GET /" MARKER "\nX: a\r\n\r\n", 505, "http-version-not-supported"},
    /* garbage */
    {MARKER " / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-request"},
    {"\x16\x03\x01\x02\x00\x01" MARKER, 400, "bad-request"},
    {"GET / " MARKER "/1.1\r\n\r\n", 400, "bad-request"},
    {"GET /" MARKER " x HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-request"},
    {"GET /\xff" MARKER " HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad-request"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1" MARKER "\r\n\r\n", 400, "bad-request"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400,
     "bad-request"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz" MARKER "\r\n", 400,
     "bad-request"},
    {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX" MARKER, 400,
     "bad-request"},
    {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nab" MARKER, 400, "bad-request"},
};

static void test_rejects(void **state)
{
    static const size_t steps[] = {0, 1, 2, 3, 4};
    for (size_t i = 0; i < sizeof rejects / sizeof *rejects; i++) {
        for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
            sink_t s = {0};
            result_t r = run_str(rejects[i].in, steps[k], &s);
            if (r.rc != HTTP_ERROR || r.status != rejects[i].status ||
                strcmp(r.slug, rejects[i].slug) != 0)
                print_error("case %zu step %zu: rc %d status %d slug %s (%s)\n", i, steps[k], r.rc,
                            r.status, r.slug ? r.slug : "-", r.detail);
            assert_int_equal(r.rc, HTTP_ERROR);
            assert_int_equal(r.status, rejects[i].status);
            assert_string_equal(r.slug, rejects[i].slug);
            assert_true(r.has_detail);
            assert_true(strlen(r.detail) > 0);
            /* The detail names the rule, never the client's bytes. */
            assert_null(strstr(r.detail, MARKER));
            assert_null(strstr(r.detail, "\xff"));
            sink_free(&s);
        }
    }
}

/* Our own checks run before llhttp's, so the detail names the rule precisely. */
static void test_rule_details(void **state)
{
    static const struct {
        const char *in, *detail;
    } cases[] = {
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
         "Content-Length with Transfer-Encoding"},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
         "duplicate Content-Length"},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
         "obs-fold (line folding) in a header value"},
        {"GET / HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n", "header field name is not a token"},
        {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n", "Upgrade is not supported"},
        {"CONNECT a:443 HTTP/1.1\r\nHost: h\r\n\r\n", "CONNECT is not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sink_t s = {0};
        result_t r = run_str(cases[i].in, 1, &s);
        assert_int_equal(r.rc, HTTP_ERROR);
        assert_string_equal(r.detail, cases[i].detail);
    }
}

/* A refusal after good pipelined requests still delivers those first. */
static void test_error_after_good_request(void **state)
{
    sink_t s = {0};
    result_t r = run_str(
        "GET /ok HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nUpgrade: x\r\n\r\n", 0,
        &s);
    assert_int_equal(r.rc, HTTP_ERROR);
    assert_int_equal(r.status, 400);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.reqs[0]->path, "/ok");
    sink_free(&s);
}

/* RFC 9112 9.6: nothing after a request that closes is processed, and it is not an error. */
static void test_ignores_bytes_after_close(void **state)
{
    static const char *cases[] = {
        "GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /a HTTP/1.0\r\n\r\n\x01\x02garbage",
    };
    for (size_t i = 0; i < 2; i++) {
        for (size_t step = 0; step <= 1; step++) {
            sink_t s = {0};
            result_t r = run_str(cases[i], step, &s);
            assert_int_equal(r.rc, HTTP_OK);
            assert_int_equal(s.n, 1);
            assert_string_equal(s.reqs[0]->path, "/a");
            sink_free(&s);
        }
    }
}

static void test_mid_request(void **state)
{
    sink_t s = {0};
    http_parser_t p;
    size_t used;
    http_parser_init(&p, &default_limits, collect, &s);
    assert_false(http_parser_mid_request(&p));
    assert_int_equal(http_parser_feed(&p, "\r\n", 2, &used), HTTP_OK);
    assert_false(http_parser_mid_request(&p));
    assert_int_equal(http_parser_feed(&p, "G", 1, &used), HTTP_OK);
    assert_true(http_parser_mid_request(&p));
    assert_int_equal(http_parser_feed(&p, "ET / HTTP/1.1\r\nHost: h\r\n\r", 25, &used), HTTP_OK);
    assert_true(http_parser_mid_request(&p));
    assert_int_equal(http_parser_feed(&p, "\n", 1, &used), HTTP_OK);
    assert_false(http_parser_mid_request(&p));
    assert_int_equal(s.n, 1);
    /* A partial request, headers and body in the arena, freed by close (ASan checks). */
    static const char part[] =
        "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nA: b\r\n\r\nabc";
    assert_int_equal(http_parser_feed(&p, part, sizeof part - 1, &used), HTTP_OK);
    assert_true(http_parser_mid_request(&p));
    http_parser_close(&p);
    assert_false(http_parser_mid_request(&p));
    http_parser_close(&p); /* idempotent */
    sink_free(&s);
}

/* Enough headers and body to move the arena several times; every pointer must still hold. */
static void test_arena_growth(void **state)
{
    http_limits_t lim = {
        .max_url = 4096, .max_header_bytes = 1 << 20, .max_headers = 500, .max_body = 1 << 20};
    size_t cap = 200000, len = 0;
    char *in = malloc(cap);
    assert_non_null(in);
    len += (size_t)sprintf(in + len, "PUT /%0600d?q=%0600d HTTP/1.1\r\nHost: h\r\n", 1, 2);
    for (int i = 0; i < 300; i++)
        len += (size_t)sprintf(in + len, "X-Header-%d: value-%0100d\r\n", i, i);
    len += (size_t)sprintf(in + len, "Content-Length: 50000\r\n\r\n");
    for (int i = 0; i < 50000; i++)
        in[len++] = (char)('a' + i % 26);
    for (size_t step = 0; step <= 997; step += 997) {
        sink_t s = {0};
        result_t r = run(&lim, in, len, step, &s);
        assert_int_equal(r.rc, HTTP_OK);
        assert_int_equal(s.n, 1);
        http_request_t *req = s.reqs[0];
        assert_int_equal(req->n_headers, 302);
        assert_int_equal(strlen(req->path), 601);
        assert_int_equal(strlen(req->query), 602);
        char name[32], value[128];
        for (int i = 0; i < 300; i += 37) {
            sprintf(name, "x-header-%d", i);
            sprintf(value, "value-%0100d", i);
            assert_string_equal(req->headers[i + 1].name, name);
            assert_string_equal(http_request_header(req, name), value);
        }
        assert_int_equal(req->body_len, 50000);
        assert_int_equal(req->body[50000], '\0');
        assert_int_equal(req->body[49999], 'a' + 49999 % 26);
        sink_free(&s);
    }
    free(in);
}

static void test_null_consumed_and_no_callback(void **state)
{
    http_parser_t p;
    http_parser_init(&p, &default_limits, NULL, NULL);
    assert_int_equal(http_parser_feed(&p, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 18, NULL), HTTP_OK);
    assert_int_equal(http_parser_feed(&p, "", 0, NULL), HTTP_OK);
    http_parser_close(&p);
}

/* RFC 9112 3.2: an HTTP/1.1 request without Host, and any request with two Host fields or a Host
 * that is not uri-host[:port], gets 400. HTTP/1.0 may leave Host out. */
static void test_host_rules(void **state)
{
    static const struct {
        const char *in;
        bool ok;
        const char *detail;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: node.example\r\n\r\n", true, NULL},
        {"GET / HTTP/1.1\r\nHost: node.example:8443\r\n\r\n", true, NULL},
        {"GET / HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n", true, NULL},
        {"GET / HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", true, NULL},
        {"GET / HTTP/1.1\r\nhOST: a%2Db.example\r\n\r\n", true, NULL},
        {"GET / HTTP/1.0\r\n\r\n", true, NULL},
        {"GET / HTTP/1.0\r\nHost: a\r\n\r\n", true, NULL},
        {"GET / HTTP/1.1\r\n\r\n", false, "HTTP/1.1 request without Host"},
        {"GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", false, "HTTP/1.1 request without Host"},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", false, "more than one Host field"},
        {"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", false, "more than one Host field"},
        {"GET / HTTP/1.1\r\nHost:\r\n\r\n", false, "Host is not a valid host[:port]"},
        {"GET / HTTP/1.1\r\nHost:   \r\n\r\n", false, "Host is not a valid host[:port]"},
        {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false, "Host is not a valid host[:port]"},
        {"GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", false, "Host is not a valid host[:port]"},
        {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", false, "Host is not a valid host[:port]"},
        {"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", false, "Host is not a valid host[:port]"},
        {"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", false, "Host is not a valid host[:port]"},
        {"GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", false, "Host is not a valid host[:port]"},
        {"GET / HTTP/1.1\r\nHost: :443\r\n\r\n", false, "Host is not a valid host[:port]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (size_t step = 0; step <= 1; step++) {
            sink_t s = {0};
            result_t r = run_str(cases[i].in, step, &s);
            if ((r.rc == HTTP_OK) != cases[i].ok)
                print_error("case %zu: rc %d status %d (%s)\n", i, r.rc, r.status, r.detail);
            if (cases[i].ok) {
                assert_int_equal(r.rc, HTTP_OK);
                assert_int_equal(s.n, 1);
            } else {
                assert_int_equal(r.rc, HTTP_ERROR);
                assert_int_equal(r.status, 400);
                assert_string_equal(r.slug, "invalid-host");
                assert_string_equal(r.detail, cases[i].detail);
                assert_int_equal(s.n, 0);
            }
            sink_free(&s);
        }
    }
}

/* A request line ended by a bare CR, or a malformed version, is a bad request (400); 505 is
 * for a well-formed version that is not ours. */
static void test_request_line_ends(void **state)
{
    static const struct {
        const char *in;
        int status;
    } cases[] = {
        {"GET / HTTP/1.1\rHost: a\r\n\r\n", 400},    {"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400}, {"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/01.1\r\nHost: a\r\n\r\n", 400}, {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
        {"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (size_t step = 0; step <= 1; step++) {
            sink_t s = {0};
            result_t r = run_str(cases[i].in, step, &s);
            if (r.status != cases[i].status)
                print_error("case %zu: status %d (%s)\n", i, r.status, r.detail);
            assert_int_equal(r.rc, HTTP_ERROR);
            assert_int_equal(r.status, cases[i].status);
            assert_int_equal(s.n, 0);
        }
    }
}

/* RFC 9112 3.2: origin-form, absolute-form (a server MUST accept it; the path comes from the
 * URI), asterisk-form for OPTIONS only; a fragment is no part of a request target. */
static void test_target_forms(void **state)
{
    static const struct {
        const char *in, *path, *query;
    } cases[] = {
        {"GET /a/b?c=d HTTP/1.1\r\nHost: h\r\n\r\n", "/a/b", "c=d"},
        {"GET http://node.example/v1/whoami?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", "/v1/whoami", "x=1"},
        {"GET HTTPS://node.example:8443/healthz HTTP/1.1\r\nHost: h\r\n\r\n", "/healthz", ""},
        {"GET https://node.example HTTP/1.1\r\nHost: h\r\n\r\n", "/", ""},
        {"GET https://node.example?q HTTP/1.1\r\nHost: h\r\n\r\n", "/", "q"},
        {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "*", ""},
        {"GET * HTTP/1.1\r\nHost: h\r\n\r\n", NULL, NULL},
        {"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", NULL, NULL},
        {"GET ftp://node.example/x HTTP/1.1\r\nHost: h\r\n\r\n", NULL, NULL},
        {"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", NULL, NULL},
        {"GET http://u@node.example/x HTTP/1.1\r\nHost: h\r\n\r\n", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (size_t step = 0; step <= 1; step++) {
            sink_t s = {0};
            result_t r = run_str(cases[i].in, step, &s);
            if (cases[i].path == NULL) {
                if (r.rc != HTTP_ERROR)
                    print_error("case %zu accepted\n", i);
                assert_int_equal(r.rc, HTTP_ERROR);
                assert_int_equal(r.status, 400);
                assert_string_equal(r.slug, "bad-request");
                continue;
            }
            if (r.rc != HTTP_OK)
                print_error("case %zu: %d %s\n", i, r.status, r.detail);
            assert_int_equal(r.rc, HTTP_OK);
            assert_int_equal(s.n, 1);
            assert_string_equal(s.reqs[0]->path, cases[i].path);
            assert_string_equal(s.reqs[0]->query, cases[i].query);
            sink_free(&s);
        }
    }
}

/* Feeds in two parts; returns whether a 100 Continue was owed after the first. */
static bool continue_owed(const char *head, const char *rest, result_t *r, sink_t *s)
{
    http_parser_t p;
    http_parser_init(&p, &default_limits, collect, s);
    *r = (result_t){0};
    r->rc = http_parser_feed(&p, head, strlen(head), NULL);
    bool owed = http_parser_expects_continue(&p);
    if (owed) {
        http_parser_continue_sent(&p);
        assert_false(http_parser_expects_continue(&p));
    }
    if (r->rc == HTTP_OK)
        r->rc = http_parser_feed(&p, rest, strlen(rest), NULL);
    assert_false(http_parser_expects_continue(&p));
    const char *detail;
    http_parser_error(&p, &r->status, &r->slug, &detail);
    http_parser_close(&p);
    return owed;
}

/* RFC 9110 10.1.1: 100-continue is answered once the header section is in and before any body
 * byte; an expectation we do not know is 417; HTTP/1.0's Expect is ignored. */
static void test_expect(void **state)
{
    static const struct {
        const char *head, *rest;
        bool owed;
        int status; /* 0: the request is delivered */
    } cases[] = {
        {"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", "abc",
         true, 0},
        {"POST / HTTP/1.1\r\nHost: h\r\nEXPECT: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n",
         "3\r\nabc\r\n0\r\n\r\n", true, 0},
        /* some of the body already here: no 100 */
        {"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\na", "bc",
         false, 0},
        /* no body to wait for */
        {"GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", "", false, 0},
        {"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n", "",
         false, 0},
        /* HTTP/1.0: MUST ignore */
        {"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", "abc", false, 0},
        {"POST / HTTP/1.0\r\nExpect: " MARKER "\r\nContent-Length: 3\r\n\r\n", "abc", false, 0},
        {"POST / HTTP/1.1\r\nHost: h\r\nExpect: " MARKER "\r\nContent-Length: 3\r\n\r\n", "abc",
         false, 417},
        {"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue, x\r\nContent-Length: 3\r\n\r\n",
         "abc", false, 417},
        {"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continuex\r\nContent-Length: 3\r\n\r\n", "abc",
         false, 417},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sink_t s = {0};
        result_t r;
        bool owed = continue_owed(cases[i].head, cases[i].rest, &r, &s);
        if (owed != cases[i].owed || r.status != cases[i].status)
            print_error("case %zu: owed %d status %d\n", i, owed, r.status);
        assert_int_equal(owed, cases[i].owed);
        assert_int_equal(r.status, cases[i].status);
        if (cases[i].status == 0) {
            assert_int_equal(r.rc, HTTP_OK);
            assert_int_equal(s.n, 1);
        } else {
            assert_int_equal(r.rc, HTTP_ERROR);
            assert_string_equal(r.slug, "expectation-failed");
            assert_int_equal(s.n, 0);
        }
        sink_free(&s);
    }
}

/* RFC 9110 8.3.1: type and subtype are case-insensitive tokens, then parameters. */
static void test_media_type(void **state)
{
    static const struct {
        const char *value;
        bool is_json;
    } cases[] = {
        {"application/json", true},
        {"APPLICATION/JSON", true},
        {"Application/Json", true},
        {"application/json; charset=utf-8", true},
        {"application/json;charset=\"UTF-8\"", true},
        {"application/json ; charset=utf-8 ; x=y", true},
        {"application/jsonfoo", false},
        {"application/json-seq", false},
        {"application/json+x", false},
        {"application/json;", false},
        {"application/json; charset", false},
        {"application/json; charset=latin1", false},
        {"application/json; =x", false},
        {"application/json; a=\"unterminated", false},
        {"application/ json", false},
        {"application /json", false},
        {"text/json", false},
        {"application", false},
        {"", false},
        {"application/json,text/plain", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (http_media_type_is(cases[i].value, "application/json") != cases[i].is_json)
            print_error("case %zu: \"%s\"\n", i, cases[i].value);
        assert_int_equal(http_media_type_is(cases[i].value, "application/json"), cases[i].is_json);
    }
    assert_false(http_media_type_is(NULL, "application/json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_path_without_query),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_post_content_length),
        cmocka_unit_test(test_chunked_extensions_trailers),
        cmocka_unit_test(test_pipelined_any_split),
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_limit_details_name_the_limit),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_rule_details),
        cmocka_unit_test(test_error_after_good_request),
        cmocka_unit_test(test_ignores_bytes_after_close),
        cmocka_unit_test(test_mid_request),
        cmocka_unit_test(test_arena_growth),
        cmocka_unit_test(test_null_consumed_and_no_callback),
        cmocka_unit_test(test_host_rules),
        cmocka_unit_test(test_request_line_ends),
        cmocka_unit_test(test_target_forms),
        cmocka_unit_test(test_expect),
        cmocka_unit_test(test_media_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
