/* Strict, bounded HTTP/1.1 request parsing on top of llhttp.
 *
 * Bytes go in (http_parser_feed); whole requests come out through the
 * on_request callback, which takes ownership of each one. llhttp counts no
 * sizes, so this module enforces the limits itself; it also refuses what
 * DESIGN.md lists as ambiguous: Content-Length with Transfer-Encoding, a
 * duplicate Content-Length, obs-fold (CR or LF in a header value), Upgrade
 * and CONNECT, and what RFC 9112 says a server must refuse (a missing,
 * repeated or invalid Host; a request line not ended by CRLF). No I/O here:
 * the connection layer feeds it and writes replies (and the 100 Continue it
 * asks for). */
#ifndef TRELLIS_HTTP_H
#define TRELLIS_HTTP_H

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    size_t max_url;          /* request target bytes; past it 414 */
    size_t max_header_bytes; /* all header names and values; past it 431 */
    unsigned max_headers;    /* header count; past it 431 */
    size_t max_body;         /* body bytes (Content-Length or chunked); past it 413 */
} http_limits_t;

typedef struct {
    const char *name; /* lowercased by the parser */
    const char *value;
} http_header_t;

typedef struct http_request {
    int method;   /* llhttp_method_t */
    char *target; /* NUL-terminated request target, as sent */
    size_t target_len;
    /* target up to '?' (NUL-terminated copy inside the request); of an absolute-form target
     * ("http://host/p?q") only the path, "/" if it has none; "*" for OPTIONS * */
    const char *path;
    const char *query; /* after '?', or "" */
    http_header_t *headers;
    unsigned n_headers;
    char *body; /* NUL-terminated for convenience; body_len excludes the NUL */
    size_t body_len;
    bool keep_alive; /* llhttp_should_keep_alive at message end */
    unsigned char http_major, http_minor;
    struct http_request *next; /* free for the owner's queue */
    /* private to http.c */
    char *arena;
    size_t arena_len, arena_cap;
    size_t path_start; /* offset of the path in target: past an absolute-form's authority */
} http_request_t;

typedef struct http_parser http_parser_t;

/* Called once per complete request; takes ownership of req. Return 0 to go
 * on parsing, 1 to pause (http_parser_feed then returns HTTP_PAUSED). */
typedef int (*http_on_request_cb)(http_parser_t *p, http_request_t *req, void *ud);

struct http_parser {
    llhttp_t llhttp;
    http_limits_t limits;
    http_on_request_cb on_request;
    void *ud;
    /* private to http.c */
    http_request_t *cur;
    size_t header_bytes;
    unsigned n_content_length;
    bool in_header_value;
    int error_status;
    const char *error_slug;
    const char *error_detail;
    unsigned n_fields;      /* header and trailer fields so far, for max_headers */
    size_t field_off;       /* arena offset of the current field name */
    size_t ext_bytes;       /* chunk-extension bytes, counted with the body */
    const char *feed_begin; /* buffer llhttp is executing, for the obs-fold scan */
    const char *scan_from;  /* next unscanned byte of that buffer, or NULL */
    bool in_header_field;   /* a field name is being received */
    bool scan_lf;           /* last byte scanned for obs-fold was LF */
    bool headers_done;      /* header section over: fields now are trailers */
    bool saw_transfer_encoding;
    unsigned n_host;       /* Host fields in this request */
    bool expect_100;       /* Expect: 100-continue on an HTTP/1.1 request */
    bool continue_owed;    /* headers done, body expected, none of it here, no 100 sent */
    bool version_complete; /* llhttp accepted the version digits: later errors are the line end */
    bool closing;          /* a request said close: ignore whatever follows */
    char detail_buf[96];   /* detail naming a limit or llhttp's reason */
};

enum {
    HTTP_OK = 0,
    HTTP_PAUSED = 1, /* on_request asked to pause; call http_parser_resume, then feed the rest */
    HTTP_ERROR = -1, /* the request is bad; see http_parser_error; close after replying */
};

/* The parser holds a pointer to itself (llhttp.data): it must not move after init. */
void http_parser_init(http_parser_t *p, const http_limits_t *limits, http_on_request_cb cb,
                      void *ud);
/* Frees a partly received request, if any. */
void http_parser_close(http_parser_t *p);

/* Feed bytes. *consumed is how many were used (all of them on HTTP_OK). */
int http_parser_feed(http_parser_t *p, const char *data, size_t len, size_t *consumed);
void http_parser_resume(http_parser_t *p);

/* After HTTP_ERROR: the status to answer (400, 408, 413, 414, 417, 431, 501, 505),
 * a problem type slug ("header-too-large") and a short detail naming the
 * limit or rule; never any of the client's bytes. */
void http_parser_error(const http_parser_t *p, int *status, const char **slug, const char **detail);

/* True if the parser is in the middle of a request (some bytes of it seen). */
bool http_parser_mid_request(const http_parser_t *p);
/* Body bytes of the request in the middle of being received (0 if none). */
size_t http_parser_partial_body(const http_parser_t *p);

/* RFC 9110 10.1.1: the request being received asked for 100-continue, its header section is
 * complete, a body is to follow and none of it has arrived. The caller sends
 * "HTTP/1.1 100 Continue" once every earlier reply is out, then calls continue_sent. */
bool http_parser_expects_continue(const http_parser_t *p);
void http_parser_continue_sent(http_parser_t *p);

/* True if a Content-Type value is the media type type_subtype ("application/json"): type and
 * subtype compared case-insensitively, then only well-formed parameters (RFC 9110 8.3.1); a
 * charset parameter must be utf-8. value may be NULL (absent). */
bool http_media_type_is(const char *value, const char *type_subtype);

/* Case-insensitive header lookup; NULL if absent. */
const char *http_request_header(const http_request_t *req, const char *name);
void http_request_free(http_request_t *req);

#endif
