/* Strict, bounded HTTP/1.1 request parsing: llhttp tokenises, this file counts sizes, refuses
 * ambiguous framing and builds each request in one growing arena. No I/O here. */
#include "http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ARENA_MIN 1024
/* Content-Length lets us size the arena once, but a client's number alone never reserves more
 * than this: the rest grows as bytes really arrive. */
#define BODY_PRERESERVE (256 * 1024)

/* Arena layout while parsing: target NUL, then name NUL value NUL per header, then the body.
 * At completion: body NUL, path NUL, query NUL, padding, the http_header_t array. Only offsets
 * are kept until then because realloc moves the arena. */

static void *xrealloc(void *ptr, size_t size)
{
    void *q = realloc(ptr, size ? size : 1);
    if (q == NULL)
        abort();
    return q;
}

static void reserve(http_request_t *req, size_t extra)
{
    if (req->arena_cap - req->arena_len >= extra)
        return;
    size_t cap = req->arena_cap ? req->arena_cap : ARENA_MIN;
    while (cap - req->arena_len < extra) {
        if (cap > SIZE_MAX / 2)
            abort();
        cap *= 2;
    }
    req->arena = xrealloc(req->arena, cap);
    req->arena_cap = cap;
}

/* data must not point into the arena: reserve() may move it. */
static void append(http_request_t *req, const char *data, size_t len)
{
    reserve(req, len);
    if (len > 0)
        memcpy(req->arena + req->arena_len, data, len);
    req->arena_len += len;
}

/* Records the first error only: a later callback failing because of it must not rename it. */
static int fail(http_parser_t *p, int status, const char *slug, const char *detail)
{
    if (p->error_status == 0) {
        p->error_status = status;
        p->error_slug = slug;
        p->error_detail = detail;
    }
    return -1;
}

static int fail_limit(http_parser_t *p, int status, const char *slug, const char *what,
                      size_t limit, const char *unit)
{
    if (p->error_status != 0)
        return -1;
    snprintf(p->detail_buf, sizeof p->detail_buf, "%s %zu %s", what, limit, unit);
    return fail(p, status, slug, p->detail_buf);
}

static bool name_is(const char *name, size_t len, const char *lower)
{
    return len == strlen(lower) && memcmp(name, lower, len) == 0;
}

/* RFC 9110 tchar. llhttp 8.1 built without LLHTTP_STRICT_MODE lets "Host :" through, and it
 * lets an empty name through in every mode. */
static bool is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && (c == 0 || strchr("!#$%&'*+-.^_`|~", c) == NULL))
            return false;
    }
    return true;
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 unreserved and sub-delims: what a reg-name (and an IP literal, loosely) is made of. */
static bool is_host_char(unsigned char c)
{
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return alnum || (c != 0 && strchr("-._~!$&'()*+,;=", c) != NULL);
}

/* uri-host [":" port] (RFC 9112 3.2, RFC 3986 3.2.2). RFC 3986 lets a reg-name be empty, but
 * an http(s) URI's host may not be (RFC 9110 4.2.1), so neither may Host's. */
static bool valid_host(const char *s, size_t len)
{
    size_t i = 0;
    if (len > 0 && s[0] == '[') {
        /* IP-literal: hex, ':' and '.' for IPv6, the rest for IPvFuture. */
        for (i = 1; i < len && s[i] != ']'; i++) {
            if (!is_host_char((unsigned char)s[i]) && s[i] != ':')
                return false;
        }
        if (i == len || i == 1)
            return false;
        i++;
    } else {
        for (; i < len && s[i] != ':'; i++) {
            if (s[i] == '%') {
                if (len - i < 3 || !is_hex((unsigned char)s[i + 1]) ||
                    !is_hex((unsigned char)s[i + 2]))
                    return false;
                i += 2;
            } else if (!is_host_char((unsigned char)s[i])) {
                return false;
            }
        }
        if (i == 0)
            return false;
    }
    if (i == len)
        return true;
    if (s[i] != ':')
        return false;
    for (i++; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

static bool skip_ows(const char **s, const char *end)
{
    while (*s < end && (**s == ' ' || **s == '\t'))
        (*s)++;
    return *s < end;
}

/* RFC 9110 10.1.1: Expect is a list; 100-continue is its only expectation. Returns 1 if the
 * list holds 100-continue and nothing else, 0 if it is empty, -1 if it holds anything else. */
static int parse_expect(const char *v, size_t len)
{
    const char *s = v, *end = v + len;
    int found = 0;
    while (skip_ows(&s, end)) {
        const char *item = s;
        while (s < end && *s != ',')
            s++;
        const char *item_end = s;
        while (item_end > item && (item_end[-1] == ' ' || item_end[-1] == '\t'))
            item_end--;
        if (item_end > item) {
            if (item_end - item != 12 || strncasecmp(item, "100-continue", 12) != 0)
                return -1;
            found = 1;
        }
        if (s < end)
            s++; /* the comma */
    }
    return found;
}

static int count_header_bytes(http_parser_t *p, size_t len)
{
    if (len > p->limits.max_header_bytes - p->header_bytes)
        return fail_limit(p, 431, "header-too-large", "request header fields exceed",
                          p->limits.max_header_bytes, "bytes");
    p->header_bytes += len;
    return 0;
}

/* Body and chunk-extension bytes share max_body, so body_len + ext_bytes <= max_body holds. */
static int count_body_bytes(http_parser_t *p, uint64_t len)
{
    size_t used = p->cur->body_len + p->ext_bytes;
    if (len > p->limits.max_body - used)
        return fail_limit(p, 413, "body-too-large", "request body exceeds", p->limits.max_body,
                          "bytes");
    return 0;
}

/* llhttp 8.1 accepts obs-fold even in strict mode and hides it: the CRLF never reaches a
 * callback, a fold after an empty value is skipped as leading whitespace, and a fold after a
 * non-empty value arrives as a second value span. So between a field name and the end of its
 * value we look at the raw bytes for LF followed by SP or HT, carrying the last byte across
 * buffers. Scans from where the last scan stopped (or the buffer start) up to end. */
static bool scan_fold(http_parser_t *p, const char *end)
{
    const char *s = p->scan_from ? p->scan_from : p->feed_begin;
    bool folded = false;
    for (; s < end; s++) {
        if (p->scan_lf && (*s == ' ' || *s == '\t'))
            folded = true;
        p->scan_lf = *s == '\n';
    }
    p->scan_from = end;
    return folded;
}

static int on_message_begin(llhttp_t *ll)
{
    http_parser_t *p = ll->data;
    http_request_free(p->cur);
    p->cur = xrealloc(NULL, sizeof *p->cur);
    *p->cur = (http_request_t){0};
    reserve(p->cur, ARENA_MIN);
    p->header_bytes = 0;
    p->n_content_length = 0;
    p->n_fields = 0;
    p->ext_bytes = 0;
    p->in_header_field = false;
    p->in_header_value = false;
    p->headers_done = false;
    p->saw_transfer_encoding = false;
    p->n_host = 0;
    p->expect_100 = false;
    p->continue_owed = false;
    p->version_complete = false;
    return 0;
}

/* We are not a proxy: a tunnel would hand the connection to bytes no one parses. */
static int on_method_complete(llhttp_t *ll)
{
    if (llhttp_get_method(ll) == HTTP_CONNECT)
        return fail(ll->data, 400, "method-not-supported", "CONNECT is not supported");
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
    http_parser_t *p = ll->data;
    http_request_t *req = p->cur;
    if (len > p->limits.max_url - req->target_len)
        return fail_limit(p, 414, "uri-too-long", "request target exceeds", p->limits.max_url,
                          "bytes");
    /* Non-strict llhttp passes bytes >= 0x80 in the target; RFC 3986 has none, and refusing
     * them here keeps the NUL-terminated target honest. */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)at[i];
        if (c <= 0x20 || c >= 0x7f)
            return fail(p, 400, "bad-request", "request target has a byte outside visible ASCII");
    }
    append(req, at, len);
    req->target_len += len;
    return 0;
}

/* RFC 9112 3.2: origin-form ("/p?q"); absolute-form, which a server MUST accept, its path
 * taken from the URI (only http and https, and no userinfo: RFC 9110 4.2.4); asterisk-form for
 * OPTIONS only. The authority-form is CONNECT's, refused already. A fragment is never sent. */
static int check_target(llhttp_t *ll)
{
    http_parser_t *p = ll->data;
    http_request_t *req = p->cur;
    const char *t = req->arena;
    size_t len = req->target_len;
    if (memchr(t, '#', len) != NULL)
        return fail(p, 400, "bad-request", "request target has a fragment");
    if (len > 0 && t[0] == '/')
        return 0;
    if (len == 1 && t[0] == '*') {
        /* PRI * is HTTP/2's preface: let it reach the version check and its 505. */
        if (llhttp_get_method(ll) == HTTP_OPTIONS || llhttp_get_method(ll) == HTTP_PRI)
            return 0;
        return fail(p, 400, "bad-request", "the target * is for OPTIONS only");
    }
    size_t a;
    if (len >= 7 && strncasecmp(t, "http://", 7) == 0)
        a = 7;
    else if (len >= 8 && strncasecmp(t, "https://", 8) == 0)
        a = 8;
    else
        return fail(p, 400, "bad-request", "request target is neither a path nor an http(s) URI");
    size_t host = a;
    while (a < len && t[a] != '/' && t[a] != '?')
        a++;
    if (!valid_host(t + host, a - host))
        return fail(p, 400, "bad-request", "request target's authority is not a valid host[:port]");
    req->path_start = a;
    return 0;
}

static int on_url_complete(llhttp_t *ll)
{
    http_parser_t *p = ll->data;
    if (check_target(ll) != 0)
        return -1;
    append(p->cur, "", 1);
    return 0;
}

/* llhttp also takes 0.9 and 2.0 in a request line; neither is ours to speak over this parser. */
static int check_version(llhttp_t *ll)
{
    http_parser_t *p = ll->data;
    if (ll->http_major != 1 || ll->http_minor > 1)
        return fail(p, 505, "http-version-not-supported", "HTTP version is not 1.0 or 1.1");
    p->version_complete = true;
    return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    http_parser_t *p = ll->data;
    http_request_t *req = p->cur;
    if (!p->in_header_field) {
        p->in_header_field = true;
        p->field_off = req->arena_len;
    }
    if (count_header_bytes(p, len) != 0)
        return -1;
    reserve(req, len);
    for (size_t i = 0; i < len; i++) {
        char c = at[i];
        req->arena[req->arena_len++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    p->scan_from = at + len;
    p->scan_lf = false;
    return 0;
}

/* Framing headers are judged by name as soon as the name is complete, before llhttp's own
 * checks, so the error names the rule. Trailers (headers_done) are counted and dropped. */
static int on_header_field_complete(llhttp_t *ll)
{
    http_parser_t *p = ll->data;
    http_request_t *req = p->cur;
    const char *name = req->arena + p->field_off;
    size_t len = req->arena_len - p->field_off;

    p->in_header_field = false;
    if (++p->n_fields > p->limits.max_headers)
        return fail_limit(p, 431, "too-many-headers", "request has more than",
                          p->limits.max_headers, "header fields");
    if (!is_token(name, len))
        return fail(p, 400, "invalid-header", "header field name is not a token");
    if (!p->headers_done) {
        if (name_is(name, len, "content-length")) {
            if (p->n_content_length++ > 0)
                return fail(p, 400, "ambiguous-length", "duplicate Content-Length");
            if (p->saw_transfer_encoding)
                return fail(p, 400, "ambiguous-length", "Content-Length with Transfer-Encoding");
        } else if (name_is(name, len, "transfer-encoding")) {
            if (p->n_content_length > 0)
                return fail(p, 400, "ambiguous-length", "Content-Length with Transfer-Encoding");
            if (p->saw_transfer_encoding)
                return fail(p, 400, "unsupported-transfer-encoding",
                            "more than one Transfer-Encoding field");
            /* RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing. */
            if (ll->http_minor == 0)
                return fail(p, 400, "unsupported-transfer-encoding",
                            "Transfer-Encoding in an HTTP/1.0 request");
            p->saw_transfer_encoding = true;
        } else if (name_is(name, len, "upgrade")) {
            return fail(p, 400, "upgrade-not-supported", "Upgrade is not supported");
        } else if (name_is(name, len, "host") && p->n_host++ > 0) {
            /* RFC 9112 3.2: MUST answer 400, for HTTP/1.0 too. */
            return fail(p, 400, "invalid-host", "more than one Host field");
        }
    }
    append(req, "", 1);
    p->in_header_value = true;
    p->scan_lf = false;
    return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    http_parser_t *p = ll->data;
    if (count_header_bytes(p, len) != 0)
        return -1;
    if (scan_fold(p, at + len))
        return fail(p, 400, "invalid-header", "obs-fold (line folding) in a header value");
    /* llhttp refuses these itself; the check is cheap and the arena walk relies on no NUL. */
    for (size_t i = 0; i < len; i++) {
        if (at[i] == '\r' || at[i] == '\n' || at[i] == '\0')
            return fail(p, 400, "invalid-header", "CR, LF or NUL in a header value");
    }
    append(p->cur, at, len);
    return 0;
}

static int on_header_value_complete(llhttp_t *ll)
{
    http_parser_t *p = ll->data;
    http_request_t *req = p->cur;
    size_t value_off = p->field_off + strlen(req->arena + p->field_off) + 1;

    p->in_header_value = false;
    /* llhttp skips leading OWS but hands trailing OWS over. */
    while (req->arena_len > value_off &&
           (req->arena[req->arena_len - 1] == ' ' || req->arena[req->arena_len - 1] == '\t'))
        req->arena_len--;
    if (p->headers_done) {
        req->arena_len = p->field_off;
        return 0;
    }
    /* llhttp 8.1 accepts "gzip, chunked": we would then hand gzip bytes on as the body. */
    const char *name = req->arena + p->field_off;
    const char *value = req->arena + value_off;
    size_t value_len = req->arena_len - value_off;
    if (strcmp(name, "transfer-encoding") == 0 &&
        (value_len != 7 || strncasecmp(value, "chunked", 7) != 0))
        return fail(p, 400, "unsupported-transfer-encoding",
                    "Transfer-Encoding other than chunked");
    if (strcmp(name, "host") == 0 && !valid_host(value, value_len))
        return fail(p, 400, "invalid-host", "Host is not a valid host[:port]");
    /* RFC 9110 10.1.1: a server MUST ignore 100-continue from HTTP/1.0, and may refuse an
     * expectation it does not know with 417; HTTP/1.0 knew no Expect at all. */
    if (strcmp(name, "expect") == 0 && ll->http_minor == 1) {
        int e = parse_expect(value, value_len);
        if (e < 0)
            return fail(p, 417, "expectation-failed", "the only expectation taken is 100-continue");
        if (e > 0)
            p->expect_100 = true;
    }
    append(req, "", 1);
    req->n_headers++;
    return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
    http_parser_t *p = ll->data;
    p->headers_done = true;
    /* "GET /x\n" is an HTTP/0.9 request line to llhttp: 0.9, and no on_version_complete. */
    if (check_version(ll) != 0)
        return -1;
    if (ll->upgrade)
        return fail(p, 400, "upgrade-not-supported", "Upgrade is not supported");
    if (ll->http_minor == 1 && p->n_host == 0)
        return fail(p, 400, "invalid-host", "HTTP/1.1 request without Host");
    if (ll->flags & F_CONTENT_LENGTH) {
        if (count_body_bytes(p, ll->content_length) != 0)
            return -1;
        size_t want = ll->content_length < BODY_PRERESERVE ? ll->content_length : BODY_PRERESERVE;
        reserve(p->cur, want + 1);
    }
    /* A body too big was refused above: that final status is the answer to the expectation. */
    if (p->expect_100 &&
        ((ll->flags & F_CHUNKED) || ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > 0)))
        p->continue_owed = true;
    return 0;
}

/* Refuse an oversized chunk by its announced size, before its bytes arrive. */
static int on_chunk_header(llhttp_t *ll)
{
    http_parser_t *p = ll->data;
    p->continue_owed = false; /* the client did not wait */
    return count_body_bytes(p, ll->content_length);
}

/* Extensions are not kept, but a client must not stream them without bound. */
static int on_chunk_extension(llhttp_t *ll, const char *at, size_t len)
{
    http_parser_t *p = ll->data;
    if (count_body_bytes(p, len) != 0)
        return -1;
    p->ext_bytes += len;
    return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    http_parser_t *p = ll->data;
    p->continue_owed = false; /* the client did not wait */
    if (count_body_bytes(p, len) != 0)
        return -1;
    append(p->cur, at, len);
    p->cur->body_len += len;
    return 0;
}

/* Lays out path, query and the header array at the end of the arena, then sets every
 * pointer: nothing may realloc the arena after this. */
static void finish_request(http_request_t *req)
{
    size_t body_off = req->arena_len - req->body_len;
    append(req, "", 1);

    size_t ps = req->path_start;
    const char *q = memchr(req->arena + ps, '?', req->target_len - ps);
    size_t path_end = q ? (size_t)(q - req->arena) : req->target_len;
    size_t path_len = path_end - ps;
    size_t query_len = q ? req->target_len - path_end - 1 : 0;
    reserve(req, req->target_len + 3);
    size_t path_off = req->arena_len;
    if (path_len == 0) { /* "http://host" or "http://host?q": RFC 9112 3.3, the path is "/" */
        req->arena[path_off] = '/';
        path_len = 1;
    } else {
        memcpy(req->arena + path_off, req->arena + ps, path_len);
    }
    req->arena[path_off + path_len] = '\0';
    size_t query_off = path_off + path_len + 1;
    memcpy(req->arena + query_off, req->arena + path_end + 1, query_len);
    req->arena[query_off + query_len] = '\0';
    req->arena_len = query_off + query_len + 1;

    size_t align = _Alignof(http_header_t);
    size_t hdr_off = (req->arena_len + align - 1) / align * align;
    reserve(req, hdr_off - req->arena_len + req->n_headers * sizeof(http_header_t));
    req->arena_len = hdr_off + req->n_headers * sizeof(http_header_t);

    req->target = req->arena;
    req->path = req->arena + path_off;
    req->query = req->arena + query_off;
    req->body = req->arena + body_off;
    req->headers = req->n_headers ? (http_header_t *)(void *)(req->arena + hdr_off) : NULL;
    size_t off = req->target_len + 1;
    for (unsigned i = 0; i < req->n_headers; i++) {
        req->headers[i].name = req->arena + off;
        off += strlen(req->arena + off) + 1;
        req->headers[i].value = req->arena + off;
        off += strlen(req->arena + off) + 1;
    }
}

static int on_message_complete(llhttp_t *ll)
{
    http_parser_t *p = ll->data;
    http_request_t *req = p->cur;
    p->cur = NULL;
    p->continue_owed = false;
    finish_request(req);
    req->method = llhttp_get_method(ll);
    req->http_major = ll->http_major;
    req->http_minor = ll->http_minor;
    req->keep_alive = llhttp_should_keep_alive(ll) != 0;
    /* RFC 9112 9.6: after a request that closes, further requests are not processed. */
    if (!req->keep_alive)
        p->closing = true;
    if (p->on_request == NULL) {
        http_request_free(req);
        return 0;
    }
    return p->on_request(p, req, p->ud) == 1 ? HPE_PAUSED : 0;
}

/* llhttp's reasons are string literals of its own, never input, so they may name the rule. */
static void map_llhttp_error(http_parser_t *p, llhttp_errno_t err)
{
    switch (err) {
    case HPE_INVALID_VERSION: {
        /* llhttp uses this code for a version it does not take (1.2, 3.0: ours to answer 505)
         * and for a malformed one or a request line not ended by CRLF (bare CR, trailing
         * bytes): those are bad requests (RFC 9112 2.2, 3). */
        const char *reason = llhttp_get_error_reason(&p->llhttp);
        if (!p->version_complete && reason && strcmp(reason, "Invalid HTTP version") == 0)
            fail(p, 505, "http-version-not-supported", "HTTP version is not 1.0 or 1.1");
        else if (p->version_complete)
            fail(p, 400, "bad-request", "request line does not end in CRLF");
        else
            fail(p, 400, "bad-request", "malformed HTTP version");
        break;
    }
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        fail(p, 400, "ambiguous-length", "Content-Length twice or with Transfer-Encoding");
        break;
    case HPE_INVALID_TRANSFER_ENCODING:
        fail(p, 400, "unsupported-transfer-encoding", "Transfer-Encoding other than chunked");
        break;
    case HPE_PAUSED_UPGRADE:
    case HPE_PAUSED_H2_UPGRADE:
        fail(p, 400, "upgrade-not-supported", "Upgrade is not supported");
        break;
    default: {
        bool header = err == HPE_INVALID_HEADER_TOKEN;
        const char *reason = llhttp_get_error_reason(&p->llhttp);
        snprintf(p->detail_buf, sizeof p->detail_buf, "%s: %s",
                 header ? "invalid header" : "malformed request",
                 reason ? reason : llhttp_errno_name(err));
        fail(p, 400, header ? "invalid-header" : "bad-request", p->detail_buf);
    }
    }
}

/* One callback table for every parser: it never changes, and a copy per
 * connection would cost each idle connection 200 bytes. */
static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_method_complete = on_method_complete,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_version_complete = check_version,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_chunk_header = on_chunk_header,
    .on_chunk_extension_name = on_chunk_extension,
    .on_chunk_extension_value = on_chunk_extension,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_parser_init(http_parser_t *p, const http_limits_t *limits, http_on_request_cb cb,
                      void *ud)
{
    memset(p, 0, sizeof *p);
    p->limits = *limits;
    p->on_request = cb;
    p->ud = ud;
    llhttp_init(&p->llhttp, HTTP_REQUEST, &settings);
    p->llhttp.data = p;
}

void http_parser_close(http_parser_t *p)
{
    http_request_free(p->cur);
    p->cur = NULL;
}

int http_parser_feed(http_parser_t *p, const char *data, size_t len, size_t *consumed)
{
    size_t unused;
    if (consumed == NULL)
        consumed = &unused;
    *consumed = 0;
    if (p->error_status != 0)
        return HTTP_ERROR;
    if (llhttp_get_errno(&p->llhttp) == HPE_PAUSED)
        return HTTP_PAUSED; /* not resumed yet: error_pos points into an older buffer */
    if (p->closing) {
        *consumed = len;
        return HTTP_OK;
    }

    p->feed_begin = data;
    p->scan_from = NULL;
    llhttp_errno_t err = llhttp_execute(&p->llhttp, data, len);
    /* A fold may sit in bytes no callback covered, at the end of this buffer. */
    if (err == HPE_OK && p->in_header_value && scan_fold(p, data + len))
        fail(p, 400, "invalid-header", "obs-fold (line folding) in a header value");
    p->feed_begin = p->scan_from = NULL;

    if (p->error_status == 0) {
        if (err == HPE_OK) {
            *consumed = len;
            return HTTP_OK;
        }
        if (err == HPE_PAUSED) {
            *consumed = (size_t)(llhttp_get_error_pos(&p->llhttp) - data);
            return HTTP_PAUSED;
        }
        /* Strict-mode llhttp refuses bytes after a closing request; we ignore them. */
        if (err == HPE_CLOSED_CONNECTION && p->closing) {
            *consumed = len;
            return HTTP_OK;
        }
        map_llhttp_error(p, err);
    }
    /* Nothing more will be parsed: *consumed stays 0 and the partial request goes now. */
    http_request_free(p->cur);
    p->cur = NULL;
    return HTTP_ERROR;
}

void http_parser_resume(http_parser_t *p)
{
    llhttp_resume(&p->llhttp);
}

void http_parser_error(const http_parser_t *p, int *status, const char **slug, const char **detail)
{
    if (status)
        *status = p->error_status;
    if (slug)
        *slug = p->error_slug;
    if (detail)
        *detail = p->error_detail;
}

bool http_parser_mid_request(const http_parser_t *p)
{
    return p->cur != NULL;
}

size_t http_parser_partial_body(const http_parser_t *p)
{
    return p->cur ? p->cur->body_len : 0;
}

bool http_parser_expects_continue(const http_parser_t *p)
{
    return p->continue_owed && p->error_status == 0;
}

void http_parser_continue_sent(http_parser_t *p)
{
    p->continue_owed = false;
}

/* token "/" token *( OWS ";" OWS token "=" ( token / quoted-string ) ) */
bool http_media_type_is(const char *value, const char *type_subtype)
{
    if (value == NULL)
        return false;
    size_t n = strlen(type_subtype);
    if (strncasecmp(value, type_subtype, n) != 0)
        return false;
    const char *s = value + n, *end = s + strlen(s);
    for (;;) {
        if (!skip_ows(&s, end))
            return true;
        if (*s++ != ';' || !skip_ows(&s, end))
            return false;
        const char *name = s;
        while (s < end && *s != '=')
            s++;
        if (s == end || !is_token(name, (size_t)(s - name)))
            return false;
        size_t name_len = (size_t)(s - name);
        const char *val = ++s;
        size_t val_len;
        if (s < end && *s == '"') {
            for (s++; s < end && *s != '"'; s++) {
                if (*s == '\\' && ++s == end)
                    return false;
            }
            if (s == end)
                return false;
            s++;
            val++;
            val_len = (size_t)(s - val - 1);
        } else {
            while (s < end && *s != ';' && *s != ' ' && *s != '\t')
                s++;
            val_len = (size_t)(s - val);
            if (!is_token(val, val_len))
                return false;
        }
        /* JSON is UTF-8 (RFC 8259 8.1): any other charset would be read wrongly. */
        if (name_len == 7 && strncasecmp(name, "charset", 7) == 0 &&
            (val_len != 5 || strncasecmp(val, "utf-8", 5) != 0))
            return false;
    }
}

const char *http_request_header(const http_request_t *req, const char *name)
{
    for (unsigned i = 0; i < req->n_headers; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    }
    return NULL;
}

void http_request_free(http_request_t *req)
{
    if (req == NULL)
        return;
    free(req->arena);
    free(req);
}
