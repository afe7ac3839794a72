/* The peer client's strict HTTP/1.1 response parser (llhttp): every size
 * counted, one response at a time, a body bounded by what the caller allows.
 * No I/O: peer_client.c feeds it; fuzz_peer_http feeds it anything. */
#include "peer_client.h"
#include "tr_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADER_BYTES (32 * 1024) /* status line, fields, values, chunk extensions */
#define MAX_HEADER_FIELDS 100

/* ---- response parser ---- */

enum { FIELD_OTHER, FIELD_CT, FIELD_TE, FIELD_PROTO };

static int parse_fail(peer_client_parser_t *p, int code, const char *msg)
{
    if (!p->error) {
        p->error = msg;
        p->error_code = code;
    }
    return -1;
}

static int count_header(peer_client_parser_t *p, size_t len)
{
    if (len > MAX_HEADER_BYTES - p->header_bytes)
        return parse_fail(p, TR_E_LIMIT, "response header too large");
    p->header_bytes += len;
    return 0;
}

static int on_status(llhttp_t *ll, const char *at, size_t len)
{
    return count_header(ll->data, len);
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    peer_client_parser_t *p = ll->data;
    if (count_header(p, len) != 0)
        return -1;
    for (size_t i = 0; i < len; i++, p->field_len++) {
        char ch = at[i];
        if (p->field_len < sizeof(p->field))
            p->field[p->field_len] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    return 0;
}

static bool field_is(const peer_client_parser_t *p, const char *lower, size_t len)
{
    return len == strlen(lower) && memcmp(p->field, lower, len) == 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
    peer_client_parser_t *p = ll->data;
    if (++p->n_fields > MAX_HEADER_FIELDS)
        return parse_fail(p, TR_E_LIMIT, "response has too many header fields");
    p->field_kind = FIELD_OTHER;
    p->value_len = 0;
    size_t n = p->field_len;
    p->field_len = 0; /* the next name starts afresh, whatever its value did */
    if (p->headers_done)
        return 0; /* a trailer: counted, not used */
    if (field_is(p, "content-length", n) && p->n_content_length++ > 0)
        return parse_fail(p, TR_E_HTTP, "response has a duplicate Content-Length");
    if (field_is(p, "content-type", n))
        p->field_kind = FIELD_CT;
    else if (field_is(p, "transfer-encoding", n))
        p->field_kind = FIELD_TE;
    else if (field_is(p, "trellis-protocol", n)) {
        /* Two announcements could disagree: which one would be true? */
        if (p->has_protocol)
            return parse_fail(p, TR_E_HTTP, "response has a duplicate Trellis-Protocol");
        p->field_kind = FIELD_PROTO;
    }
    return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    peer_client_parser_t *p = ll->data;
    if (count_header(p, len) != 0)
        return -1;
    if (memchr(at, '\r', len) || memchr(at, '\n', len) || memchr(at, '\0', len))
        return parse_fail(p, TR_E_HTTP, "CR, LF or NUL in a response header value");
    if (p->field_kind == FIELD_OTHER)
        return 0;
    if (len >= sizeof(p->value) - p->value_len)
        return parse_fail(p, TR_E_HTTP,
                          p->field_kind == FIELD_CT ? "response Content-Type longer than 127 bytes"
                          : p->field_kind == FIELD_PROTO
                              ? "response Trellis-Protocol longer than 127 bytes"
                              : "response Transfer-Encoding other than chunked");
    memcpy(p->value + p->value_len, at, len);
    p->value_len += len;
    return 0;
}

static int on_header_value_complete(llhttp_t *ll)
{
    peer_client_parser_t *p = ll->data;
    /* llhttp skips leading whitespace but hands trailing whitespace over. */
    while (p->value_len &&
           (p->value[p->value_len - 1] == ' ' || p->value[p->value_len - 1] == '\t'))
        p->value_len--;
    p->value[p->value_len] = '\0';
    if (p->field_kind == FIELD_CT)
        memcpy(p->content_type, p->value, p->value_len + 1);
    if (p->field_kind == FIELD_PROTO) {
        memcpy(p->protocol, p->value, p->value_len + 1);
        p->has_protocol = true;
    }
    /* llhttp 8.1 takes "gzip, chunked": we asked for no coding and would pass gzip on as JSON. */
    if (p->field_kind == FIELD_TE && strcasecmp(p->value, "chunked") != 0)
        return parse_fail(p, TR_E_HTTP, "response Transfer-Encoding other than chunked");
    p->field_kind = FIELD_OTHER;
    return 0;
}

static void reserve_body(peer_client_parser_t *p, size_t need)
{
    if (need <= p->body_cap)
        return;
    size_t cap = p->body_cap ? p->body_cap : 1024;
    while (cap < need)
        cap *= 2;
    if (cap > p->max_body + 1)
        cap = p->max_body + 1;
    char *b = realloc(p->body, cap);
    if (!b)
        abort();
    p->body = b;
    p->body_cap = cap;
}

static int on_headers_complete(llhttp_t *ll)
{
    peer_client_parser_t *p = ll->data;
    p->headers_done = true;
    p->status = ll->status_code;
    if (ll->http_major != 1 || ll->http_minor > 1)
        return parse_fail(p, TR_E_HTTP, "response is not HTTP/1.0 or HTTP/1.1");
    if (p->status > 599)
        return parse_fail(p, TR_E_HTTP, "response status outside 100..599");
    if (p->status < 200) /* nothing we send asks for 100-continue or an upgrade */
        return parse_fail(p, TR_E_HTTP, "unexpected 1xx response");
    if ((ll->flags & F_CONTENT_LENGTH) && (ll->flags & F_TRANSFER_ENCODING))
        return parse_fail(p, TR_E_HTTP, "response has Content-Length and Transfer-Encoding");
    /* A body ended by the close cannot be told from a truncated one: refused. */
    if (llhttp_message_needs_eof(ll))
        return parse_fail(p, TR_E_HTTP, "response has neither Content-Length nor chunked framing");
    if (ll->flags & F_CONTENT_LENGTH) {
        if (ll->content_length > p->max_body)
            return parse_fail(p, TR_E_LIMIT, "response too large");
        reserve_body(p, (size_t)ll->content_length + 1);
    }
    return 0;
}

static int count_body(peer_client_parser_t *p, uint64_t len)
{
    if (len > p->max_body - p->body_len)
        return parse_fail(p, TR_E_LIMIT, "response too large");
    return 0;
}

static int on_chunk_header(llhttp_t *ll)
{
    return count_body(ll->data, ll->content_length);
}

static int on_chunk_extension(llhttp_t *ll, const char *at, size_t len)
{
    return count_header(ll->data, len);
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    peer_client_parser_t *p = ll->data;
    if (count_body(p, len) != 0)
        return -1;
    reserve_body(p, p->body_len + len + 1);
    memcpy(p->body + p->body_len, at, len);
    p->body_len += len;
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    peer_client_parser_t *p = ll->data;
    p->done = true;
    p->keep_alive = llhttp_should_keep_alive(ll) != 0;
    return HPE_PAUSED; /* bytes after the response are not ours to parse */
}

void peer_client_parser_init(peer_client_parser_t *p, size_t max_body)
{
    memset(p, 0, sizeof(*p));
    p->max_body = max_body;
    llhttp_settings_init(&p->settings);
    p->settings.on_status = on_status;
    p->settings.on_header_field = on_header_field;
    p->settings.on_header_field_complete = on_header_field_complete;
    p->settings.on_header_value = on_header_value;
    p->settings.on_header_value_complete = on_header_value_complete;
    p->settings.on_headers_complete = on_headers_complete;
    p->settings.on_chunk_header = on_chunk_header;
    p->settings.on_chunk_extension_name = on_chunk_extension;
    p->settings.on_chunk_extension_value = on_chunk_extension;
    p->settings.on_body = on_body;
    p->settings.on_message_complete = on_message_complete;
    llhttp_init(&p->ll, HTTP_RESPONSE, &p->settings);
    p->ll.data = p;
}

void peer_client_parser_free(peer_client_parser_t *p)
{
    free(p->body);
    p->body = NULL;
    p->body_len = p->body_cap = 0;
}

char *peer_client_parser_take_body(peer_client_parser_t *p, size_t *len)
{
    char *b = p->body;
    *len = p->body_len;
    if (b)
        b[*len] = '\0'; /* room for it is always reserved */
    p->body = NULL;
    p->body_len = p->body_cap = 0;
    return b;
}

/* llhttp 8.1 accepts obs-fold even in strict mode and hides it, so the raw header bytes are
 * scanned for LF followed by SP or HT, up to the blank line that ends the header section.
 * scan: 0 in a line, 1 after LF, 2 after LF CR, 3 header section over. */
static bool scan_fold(peer_client_parser_t *p, const char *data, size_t len)
{
    for (size_t i = 0; i < len && p->scan != 3; i++) {
        char ch = data[i];
        if (p->scan == 1 && (ch == ' ' || ch == '\t'))
            return true;
        if (p->scan == 0)
            p->scan = ch == '\n' ? 1 : 0;
        else if (p->scan == 1)
            p->scan = ch == '\n' ? 3 : ch == '\r' ? 2 : 0;
        else
            p->scan = ch == '\n' ? 3 : 0;
    }
    return false;
}

int peer_client_parser_feed(peer_client_parser_t *p, const char *data, size_t len, size_t *used)
{
    *used = 0;
    if (p->error)
        return p->error_code;
    if (p->done)
        return PEER_PARSE_DONE;
    if (scan_fold(p, data, len)) {
        parse_fail(p, TR_E_HTTP, "obs-fold (line folding) in a response header");
        return p->error_code;
    }
    llhttp_errno_t e = llhttp_execute(&p->ll, data, len);
    if (p->error)
        return p->error_code;
    if (e == HPE_OK) {
        *used = len;
        return PEER_PARSE_MORE;
    }
    if (e == HPE_PAUSED && p->done) {
        *used = (size_t)(llhttp_get_error_pos(&p->ll) - data);
        return PEER_PARSE_DONE;
    }
    /* llhttp's reasons are its own string literals, never response bytes. */
    const char *reason = llhttp_get_error_reason(&p->ll);
    snprintf(p->err_buf, sizeof(p->err_buf), "malformed response: %s",
             reason ? reason : llhttp_errno_name(e));
    parse_fail(p, TR_E_HTTP, p->err_buf);
    return p->error_code;
}
