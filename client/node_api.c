/* Blocking HTTPS GET over mutual TLS with OpenSSL's BIO connect. */
#include "node_api.h"
#include "cli.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPLY (16u << 20)

static const char *opt_env(const char *env)
{
    const char *v = getenv(env);
    return v && v[0] ? v : NULL;
}

int node_target_parse(node_target_t *t, int *argc, char **argv)
{
    t->url = opt_env("TRELLIS_NODE");
    t->cert = opt_env("TRELLIS_CERT");
    t->key = opt_env("TRELLIS_KEY");
    t->ca = opt_env("TRELLIS_CA");
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--node") == 0)
            slot = &t->url;
        else if (strcmp(argv[i], "--cert") == 0)
            slot = &t->cert;
        else if (strcmp(argv[i], "--key") == 0)
            slot = &t->key;
        else if (strcmp(argv[i], "--ca") == 0)
            slot = &t->ca;
        if (slot) {
            if (i + 1 >= *argc) {
                cli_error("%s needs a value", argv[i]);
                return -1;
            }
            *slot = argv[++i];
            continue;
        }
        argv[out++] = argv[i];
    }
    *argc = out;
    if (!t->url || !t->cert || !t->key || !t->ca) {
        cli_error("which node? give --node URL --cert CHAIN --key KEY --ca ROOT "
                  "(or TRELLIS_NODE, TRELLIS_CERT, TRELLIS_KEY, TRELLIS_CA)");
        return -1;
    }
    if (strncmp(t->url, "https://", 8) != 0) {
        cli_error("--node must be an https:// URL");
        return -1;
    }
    return 0;
}

static int tls_fail(const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char buf[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    cli_error("%s: %s", what, buf);
    ERR_clear_error();
    return -1;
}

int node_get(const node_target_t *t, const char *path, int *status, char **body, size_t *len)
{
    int rc = -1;
    char host[300];
    snprintf(host, sizeof(host), "%s", t->url + 8);
    char *slash = strchr(host, '/');
    if (slash)
        *slash = '\0';
    /* The name to verify: host without port or IPv6 brackets. */
    char name[300];
    snprintf(name, sizeof(name), "%s", host[0] == '[' ? host + 1 : host);
    char *end = host[0] == '[' ? strchr(name, ']') : strrchr(name, ':');
    if (end)
        *end = '\0';

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    BIO *bio = NULL;
    char *buf = NULL;
    if (!ctx)
        return tls_fail("TLS");
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_load_verify_file(ctx, t->ca) != 1) {
        tls_fail(t->ca);
        goto done;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
        tls_fail(t->cert);
        goto done;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1) {
        tls_fail(t->key);
        goto done;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    bio = BIO_new_ssl_connect(ctx);
    SSL *ssl = NULL;
    BIO_get_ssl(bio, &ssl);
    if (!bio || !ssl || BIO_set_conn_hostname(bio, host) != 1) {
        tls_fail("connect");
        goto done;
    }
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1) {
        ERR_clear_error();
        SSL_set_tlsext_host_name(ssl, name);
        SSL_set1_host(ssl, name);
    }
    if (BIO_do_connect(bio) != 1 || BIO_do_handshake(bio) != 1) {
        tls_fail(t->url);
        goto done;
    }
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n"
                     "Connection: close\r\n\r\n",
                     path, host);
    if (BIO_write(bio, req, n) != n) {
        tls_fail("sending the request");
        goto done;
    }
    size_t got = 0, cap = 65536;
    buf = malloc(cap);
    for (;;) {
        if (got + 1 >= cap) {
            if (cap >= MAX_REPLY) {
                cli_error("the node's reply is over %u bytes", MAX_REPLY);
                goto done;
            }
            cap *= 2;
            buf = realloc(buf, cap);
        }
        if (!buf)
            abort();
        int r = BIO_read(bio, buf + got, (int)(cap - got - 1));
        if (r <= 0)
            break; /* Connection: close ends the reply */
        got += (size_t)r;
    }
    buf[got] = '\0';
    char *head_end = strstr(buf, "\r\n\r\n");
    if (got == 0 || !head_end || sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
        cli_error("no HTTP reply from %s (is the certificate accepted? try curl -v)", t->url);
        goto done;
    }
    *len = got - (size_t)(head_end + 4 - buf);
    *body = malloc(*len + 1);
    if (!*body)
        abort();
    memcpy(*body, head_end + 4, *len);
    (*body)[*len] = '\0';
    rc = 0;
done:
    free(buf);
    BIO_free_all(bio);
    SSL_CTX_free(ctx);
    return rc;
}
