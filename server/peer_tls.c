/* The peer client's parts that do no I/O: the peer URL; the client TLS context (Mozilla
 * "modern", our node chain, the consortium root and its CRLs), the name or IP check and the
 * organisation read from the peer's verified chain; and the strict response parser. */
#include "peer_client.h"
#include "tls.h"
#include "tr_error.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADER_BYTES (32 * 1024) /* status line, fields, values, chunk extensions */
#define MAX_HEADER_FIELDS 100

/* ---- URL ---- */

static int bad_url(char *err, size_t err_len, const char *why)
{
    snprintf(err, err_len, "peer URL %s", why);
    return TR_E_INVAL;
}

/* RFC 1123 labels of letters, digits and inner hyphens. A name whose last label is all digits
 * would be read as an IPv4 address by getaddrinfo ("10.1" is 10.0.0.1): refused, so the
 * certificate check and the connection always agree on what the host is. */
static bool valid_name(char *host)
{
    size_t label = 0;
    bool all_digits = true;
    for (char *s = host;; s++) {
        char ch = *s;
        if (ch == '.' || ch == '\0') {
            if (label == 0 || label > 63 || s[-1] == '-')
                return false;
            if (ch == '\0')
                return !all_digits;
            label = 0;
            all_digits = true;
            continue;
        }
        if (ch >= 'A' && ch <= 'Z')
            *s = (char)(ch - 'A' + 'a');
        ch = *s;
        bool digit = ch >= '0' && ch <= '9';
        if (!digit && !(ch >= 'a' && ch <= 'z') && !(ch == '-' && label > 0))
            return false;
        all_digits = all_digits && digit;
        label++;
    }
}

int peer_client_parse_url(const char *url, peer_url_t *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    if (!url || strncasecmp(url, "https://", 8) != 0)
        return bad_url(err, err_len, "must start with https://");
    const char *auth = url + 8;
    const char *end = auth + strcspn(auth, "/?#");
    if (*end && strcmp(end, "/") != 0)
        return bad_url(err, err_len,
                       "must be https://host[:port], without path, query or fragment");
    if (memchr(auth, '@', (size_t)(end - auth)))
        return bad_url(err, err_len, "must not carry user information");

    const char *host = auth, *host_end, *port = NULL;
    if (*auth == '[') {
        const char *close = memchr(auth, ']', (size_t)(end - auth));
        if (!close)
            return bad_url(err, err_len, "has an unclosed [ in its host");
        host = auth + 1;
        host_end = close;
        if (close + 1 < end) {
            if (close[1] != ':')
                return bad_url(err, err_len, "has bytes after its [IPv6] host");
            port = close + 2;
        }
        out->ipv6 = out->host_is_ip = true;
    } else {
        const char *colon = memchr(auth, ':', (size_t)(end - auth));
        host_end = colon ? colon : end;
        port = colon ? colon + 1 : NULL;
    }
    size_t host_len = (size_t)(host_end - host);
    if (host_len == 0)
        return bad_url(err, err_len, "has no host");
    if (host_len >= sizeof(out->host))
        return bad_url(err, err_len, "has a host longer than 255 bytes");
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';

    unsigned char addr[16];
    if (out->ipv6) {
        /* inet_pton refuses a zone ("%eth0"): a peer is never link-local. */
        if (inet_pton(AF_INET6, out->host, addr) != 1)
            return bad_url(err, err_len, "has an invalid IPv6 address");
    } else if (inet_pton(AF_INET, out->host, addr) == 1) {
        out->host_is_ip = true;
    } else if (host_len > 253 || !valid_name(out->host)) {
        return bad_url(err, err_len, "has an invalid host name or IPv4 address");
    }

    out->port = 443;
    if (port) {
        size_t n = (size_t)(end - port);
        unsigned v = 0;
        if (n == 0 || n > 5)
            return bad_url(err, err_len, "has an empty or overlong port");
        for (size_t i = 0; i < n; i++) {
            if (port[i] < '0' || port[i] > '9')
                return bad_url(err, err_len, "has a port that is not a number");
            v = v * 10 + (unsigned)(port[i] - '0');
        }
        if (v == 0 || v > 65535)
            return bad_url(err, err_len, "has a port outside 1..65535");
        out->port = (uint16_t)v;
    }
    return 0;
}

/* ---- context ---- */

int peer_tls_client_ctx(const char *cert_chain, const char *key, const char *ca, const char *crl,
                        SSL_CTX **out, char *err, size_t err_len)
{
    *out = NULL;
    if (!cert_chain || !key || !ca) {
        snprintf(err, err_len, "peer TLS needs a certificate chain, a key and a CA");
        return TR_E_INVAL;
    }
    /* The same suites, groups, key checks and CRL policy as the node's own
     * listener (tls.c). */
    SSL_CTX *ctx;
    int rc = tls_ctx_new(false, cert_chain, key, &ctx, err, err_len);
    if (rc == 0 && (rc = tls_ctx_trust(ctx, ca, crl, X509_PURPOSE_SSL_SERVER, err, err_len)) != 0)
        SSL_CTX_free(ctx);
    if (rc != 0)
        return rc;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    *out = ctx;
    return 0;
}

/* ---- per connection ---- */

/* TLS 1.3 tells a client that the server refused its certificate only as an alert after the
 * handshake, and tls_conn_* clears OpenSSL's error queue: keep the alert's text. */
static void on_info(const SSL *ssl, int where, int ret)
{
    if (!(where & SSL_CB_READ_ALERT) || ((ret >> 8) & 0xff) != SSL3_AL_FATAL)
        return;
    char *slot = SSL_get_app_data(ssl);
    if (slot)
        snprintf(slot, 64, "%s", SSL_alert_desc_string_long(ret));
}

int peer_tls_conn_setup(SSL *ssl, const peer_url_t *u, char *alert)
{
    alert[0] = '\0';
    SSL_set_connect_state(ssl);
    SSL_set_app_data(ssl, alert);
    SSL_set_info_callback(ssl, on_info);
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok;
    if (u->host_is_ip) {
        /* SNI carries names only (RFC 6066); the address must be in the certificate's SAN. */
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), u->host);
    } else {
        ok = SSL_set_tlsext_host_name(ssl, u->host) == 1 && SSL_set1_host(ssl, u->host) == 1;
    }
    ERR_clear_error();
    return ok ? 0 : TR_E_TLS;
}

void peer_tls_handshake_error(SSL *ssl, const char *alert, tls_fail_t why, char *err,
                              size_t err_len)
{
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK)
        snprintf(err, err_len, "peer certificate refused: %s", X509_verify_cert_error_string(v));
    else if (alert[0])
        snprintf(err, err_len, "TLS handshake refused by the peer: %s", alert);
    else if (why == TLS_FAIL_PROTOCOL)
        snprintf(err, err_len,
                 "TLS handshake failed: protocol error (is the peer speaking TLS 1.3?)");
    else
        snprintf(err, err_len, "TLS handshake failed (%s)", tls_fail_name(why));
}

int peer_tls_check_identity(SSL *ssl, const char *expect_org, tr_identity_t *id, char *err,
                            size_t err_len)
{
    char why[96];
    STACK_OF(X509) *chain = SSL_get0_verified_chain(ssl);
    if (SSL_get_verify_result(ssl) != X509_V_OK || !chain) {
        snprintf(err, err_len, "peer certificate was not verified");
        return TR_E_IDENTITY;
    }
    if (tr_identity_from_chain(chain, id, why, sizeof(why)) != 0) {
        snprintf(err, err_len, "peer certificate carries no Trellis identity: %s", why);
        return TR_E_IDENTITY;
    }
    if (id->role != TR_ROLE_NODE) {
        snprintf(err, err_len, "peer certificate is for %s/%s, a %s, not a node", id->org, id->name,
                 tr_role_name(id->role));
        return TR_E_IDENTITY;
    }
    if (strcmp(id->org, expect_org) != 0) {
        snprintf(err, err_len, "peer certificate is for org %s, expected %s", id->org, expect_org);
        return TR_E_IDENTITY;
    }
    return 0;
}

/* ---- response parser ---- */

enum { FIELD_OTHER, FIELD_CT, FIELD_TE };

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
                          p->field_kind == FIELD_CT
                              ? "response Content-Type longer than 127 bytes"
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
