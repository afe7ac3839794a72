/* The peer client's TLS parts that do no I/O: the peer URL; the client TLS context (tls.c's
 * builder: Mozilla "modern", our node chain, the consortium root and its CRLs), the name or IP
 * check and the organisation read from the peer's verified chain. The response parser is
 * peer_http.c. */
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
