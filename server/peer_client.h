/* An asynchronous HTTPS client for node-to-node sync: one keep-alive connection to one peer,
 * one GET at a time, over mutual TLS with the peer's organisation checked from its certificate.
 * Everything runs on the caller's libuv loop; nothing blocks it and nothing here logs. */
#ifndef TRELLIS_PEER_CLIENT_H
#define TRELLIS_PEER_CLIENT_H

#include "tls.h"
#include "tr_identity.h"

#include <llhttp.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct peer_client peer_client_t;

/* Everything here is borrowed for the duration of the callback only. */
typedef struct {
    int status;
    const char *content_type; /* "" when the response had none */
    const char *body;         /* NUL-terminated for convenience; body_len excludes the NUL */
    size_t body_len;
    const tr_identity_t *peer; /* who answered, read from its verified certificate */
    const char *protocol;      /* its Trellis-Protocol header as sent, NULL when it had none */
} peer_response_t;

/* res is NULL on failure, and err then says why in one line (never response bytes). The
 * callback may call peer_client_get, _cancel or _free on its own client. */
typedef void (*peer_response_cb)(void *ud, const peer_response_t *res, const char *err);

typedef struct {
    const char *url;        /* "https://host[:port]", host a name, an IPv4 or a [IPv6] literal */
    SSL_CTX *ssl_ctx;       /* from peer_tls_client_ctx; borrowed: every (re)connection makes
                               its SSL from it, so keep it alive until peer_client_free (an SSL
                               already made holds its own reference) */
    const char *expect_org; /* the peer's organisation: its node certificate must say so */
    uint64_t connect_timeout_ms; /* resolve + connect + handshake; 0: 10 s */
    uint64_t request_timeout_ms; /* default for peer_client_get; 0: 30 s */
    size_t max_body;             /* response body bytes; past it "response too large"; 0: 16 MiB */
} peer_client_config_t;

/* cfg is copied. 0, or TR_E_INVAL for a bad URL, organisation or missing context, with one
 * line in err. Makes no connection yet: the first request does. */
int peer_client_new(uv_loop_t *loop, const peer_client_config_t *cfg, peer_client_t **out,
                    char *err, size_t err_len);

/* Start GET path_and_query ("/v1/fed/changes?since=0&wait=30"), announcing this node's
 * protocol version (Trellis-Protocol, proto/tr_protocol.h). timeout_ms bounds the wait for
 * the whole response once the request is sent (0: the configured default; a long-poll passes
 * wait + slack). The callback is called exactly once, never from inside this call, unless
 * cancelled first. TR_E_INVAL if a request is already pending or the path is not a plain
 * origin-form target. A request that finds its keep-alive connection closed by the peer before
 * any response byte is sent again once on a fresh connection (GET is idempotent). */
int peer_client_get(peer_client_t *c, const char *path_and_query, uint64_t timeout_ms,
                    peer_response_cb cb, void *ud);

/* Drop the pending request, if any: its callback is not called. A request already sent leaves
 * the connection unusable, so it is closed; the next request reconnects. */
void peer_client_cancel(peer_client_t *c);

/* Cancel, close every handle, and free the client in the last close callback. NULL is fine. */
void peer_client_free(peer_client_t *c);

/* TCP connections made so far (each successful connect), for metrics and tests. */
uint64_t peer_client_connects(const peer_client_t *c);

/* The client context: TLS 1.3 only with Mozilla's modern suites, presenting our node chain
 * (cert_chain: leaf then organisation CA; key), verifying the peer against the consortium
 * root ca, and, when crl is given (may be NULL or ""), against every CA's CRL. Reads files:
 * call it at start-up or on the thread pool. 0, or TR_E_TLS/TR_E_CERT with one line in err. */
int peer_tls_client_ctx(const char *cert_chain, const char *key, const char *ca, const char *crl,
                        SSL_CTX **out, char *err, size_t err_len);

/* ---- the pieces below are exposed for tests and for peer_client.c's own use ---- */

typedef struct {
    char host[256]; /* lowercase name, or IP literal without brackets */
    uint16_t port;
    bool host_is_ip;
    bool ipv6;
} peer_url_t;

/* "https://host[:port][/]": no user information, path, query or fragment; port 1..65535,
 * 443 by default. 0, or TR_E_INVAL with one line in err. */
int peer_client_parse_url(const char *url, peer_url_t *out, char *err, size_t err_len);

/* Prepare a fresh SSL (from tls_conn_init) as a client of u: connect state, SNI for a name,
 * the name or IP the certificate must match; fatal alerts from the peer are written to alert
 * (64 bytes, kept alive as long as the SSL). 0 or TR_E_TLS. */
int peer_tls_conn_setup(SSL *ssl, const peer_url_t *u, char *alert);

/* After a failed handshake: one line on why (verification result, peer alert, or kind). */
void peer_tls_handshake_error(SSL *ssl, const char *alert, tls_fail_t why, char *err,
                              size_t err_len);

/* After the handshake: the verified chain must carry a node identity of expect_org. 0, or
 * TR_E_IDENTITY with "peer certificate is for org X, expected Y" style text in err. */
int peer_tls_check_identity(SSL *ssl, const char *expect_org, tr_identity_t *id, char *err,
                            size_t err_len);

/* Strict, bounded HTTP/1.x response parsing on llhttp (HTTP_RESPONSE mode). One parser per
 * response: init, feed until PEER_PARSE_DONE or an error, then take the body and free. */
enum { PEER_PARSE_MORE = 0, PEER_PARSE_DONE = 1 };

typedef struct {
    llhttp_t ll;
    llhttp_settings_t settings;
    size_t max_body;
    int status;
    bool keep_alive; /* valid once done */
    bool done;
    char content_type[128];
    char protocol[128]; /* the Trellis-Protocol value, when has_protocol */
    bool has_protocol;
    char *body; /* grows up to max_body + 1 (the NUL) */
    size_t body_len, body_cap;
    const char *error; /* static text, or err_buf; NULL while all is well */
    int error_code;    /* TR_E_HTTP or TR_E_LIMIT, with error */
    /* private to peer_client.c */
    size_t header_bytes;
    unsigned n_fields, n_content_length;
    size_t field_len; /* bytes of the current field name */
    char field[20];   /* its start, lowercased: enough to recognise the fields we read */
    int field_kind;   /* which of those it is */
    char value[128];  /* the value of such a field */
    size_t value_len;
    bool headers_done;  /* fields now are trailers */
    unsigned char scan; /* obs-fold scan state across feeds */
    char err_buf[96];
} peer_client_parser_t;

void peer_client_parser_init(peer_client_parser_t *p, size_t max_body);
void peer_client_parser_free(peer_client_parser_t *p);
/* PEER_PARSE_MORE (all bytes used), PEER_PARSE_DONE (*used bytes belong to this response; any
 * rest does not), or TR_E_HTTP / TR_E_LIMIT with p->error set. Errors are sticky. */
int peer_client_parser_feed(peer_client_parser_t *p, const char *data, size_t len, size_t *used);
/* The body (NUL-terminated, maybe NULL when empty), now the caller's to free. */
char *peer_client_parser_take_body(peer_client_parser_t *p, size_t *len);

#endif
