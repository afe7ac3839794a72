/* Reply serialisation: status line, the fixed headers, body. */
#include "response.h"
#include "tr_error.h"
#include "tr_problem.h"
#include "tr_protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The Date header changes once a second: format it once a second. */
static const char *http_date(void)
{
    static char buf[40];
    static time_t last;
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return buf;
}

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define PROTOCOL_TEXT STRINGIFY(TR_PROTOCOL_VERSION)

static bool status_closes(int status)
{
    return status == 400 || status == 408 || status == 413 || status == 414 || status == 431 ||
           status == 505;
}

/* What a browser is told on every reply of the viewer listener, errors
 * included: run no script or style but the node's own files (none inline),
 * send no Referer off the page, and never be framed (clickjacking). */
#define VIEWER_HEADERS                                                                             \
    "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "       \
    "form-action 'self'\r\n"                                                                       \
    "Referrer-Policy: no-referrer\r\n"                                                             \
    "X-Frame-Options: DENY\r\n"

void response_send(req_t *req, int status, const char *content_type, const char *extra_headers,
                   const char *body, size_t body_len)
{
    response_send_cached(req, status, content_type, "no-store", extra_headers, body, body_len);
}

void response_send_cached(req_t *req, int status, const char *content_type,
                          const char *cache_control, const char *extra_headers, const char *body,
                          size_t body_len)
{
    conn_t *conn = req->conn;
    if (status_closes(status) || conn->drain)
        req->close_after = true;
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\n"
                     "Date: %s\r\n"
                     "Content-Type: %s\r\n"
                     "Content-Length: %zu\r\n"
                     "Cache-Control: %s\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "%s%s%s",
                     status, tr_http_reason(status), http_date(), content_type, body_len,
                     cache_control, conn->is_viewer ? VIEWER_HEADERS : "",
                     /* Every API reply says which protocol this node speaks: a peer
                      * checks it on each (docs/federation.md, "Protocol versions"). */
                     conn->is_viewer ? "" : TR_PROTOCOL_HEADER ": " PROTOCOL_TEXT "\r\n",
                     req->close_after ? "Connection: close\r\n"
                     /* An HTTP/1.0 client keeps the connection only if told so. */
                     : req->http && req->http->http_minor == 0 ? "Connection: keep-alive\r\n"
                                                               : "");
    /* A reply to HEAD says what GET would send, Content-Length included, but not the body. */
    if (req->http && req->http->method == HTTP_HEAD)
        body_len = 0;
    size_t extra = extra_headers ? strlen(extra_headers) : 0;
    size_t total = (size_t)n + extra + 2 + body_len;
    char *out = malloc(total);
    if (!out)
        abort();
    memcpy(out, head, (size_t)n);
    if (extra)
        memcpy(out + n, extra_headers, extra);
    memcpy(out + n + extra, "\r\n", 2);
    if (body_len)
        memcpy(out + n + extra + 2, body, body_len);
    req->out = out;
    req->out_len = total;
    req->status = status;
    req->dbq = NULL;
    conn_reply_ready(req);
}

void response_json(req_t *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) {
        response_problem(req, 500, "internal", "reply could not be encoded");
        return;
    }
    response_send(req, status, "application/json", NULL, text, strlen(text));
    free(text);
}

void response_problem_h(req_t *req, int status, const char *slug, const char *detail,
                        const char *extra_headers)
{
    size_t len = 0;
    char *text = tr_problem_render(status, slug, detail, &len);
    if (!text)
        abort();
    response_send(req, status, TR_PROBLEM_CONTENT_TYPE, extra_headers, text, len);
    free(text);
}

void response_problem(req_t *req, int status, const char *slug, const char *detail)
{
    response_problem_h(req, status, slug, detail, NULL);
}

void response_error(req_t *req, int code, const char *detail)
{
    switch (code) {
    case TR_E_DB_UNAVAILABLE:
        response_problem_h(req, 503, "database-unavailable",
                           detail ? detail : "the database is not reachable; try again shortly",
                           "Retry-After: 5\r\n");
        break;
    case TR_E_NOT_FOUND:
        response_problem(req, 404, "not-found", detail);
        break;
    default:
        response_problem(req, 500, "internal", detail ? detail : tr_strerror(code));
        break;
    }
}
