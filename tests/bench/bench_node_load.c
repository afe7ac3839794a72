/* bench_node_load: a small HTTP/1.1 keep-alive load generator over mutual
 * TLS, used by bench_node.sh next to ab. ab speaks HTTP/1.0 and only keeps a
 * connection when the reply carries "Keep-Alive"; this tool speaks HTTP/1.1
 * (persistent by default), so it measures any server that does keep-alive
 * the HTTP/1.1 way. One thread, epoll, one request in flight per connection
 * (like ab -k): send GET, read the whole reply (Content-Length), send again.
 * A connection the server closes is reopened (full handshake) and counted.
 *
 *   bench_node_load HOST PORT PATH CONNS SECONDS CERT_CHAIN KEY
 *
 * PATH "@FILE": one path a line; the requests take them in turn, in the
 * file's order, across all connections (bench_directory.py: thousands of
 * distinct queries, so that a reply cache is hit as often as real use
 * would hit it, not on every request).
 *
 * Prints one JSON line: requests (every reply), ok (2xx), non2xx, errors,
 * connects, seconds, and rps, which counts 2xx replies only: a server that
 * answers fast with errors must not look fast. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_CONNECT, ST_HANDSHAKE, ST_WRITE, ST_READ };

/* The largest reply read (head and body): -DLOAD_BUF=... for large pages
 * (bench_directory.py reads directory pages of tens of kilobytes). */
#ifndef LOAD_BUF
#define LOAD_BUF 16384
#endif

typedef struct {
    int fd;
    SSL *ssl;
    int state;
    char buf[LOAD_BUF];
    size_t len;
    size_t want; /* whole reply length once the head is parsed, else 0 */
    int status;
    int closes;  /* reply said Connection: close */
    size_t sent; /* bytes of the request written (always whole with TLS) */
    int cur;     /* index of the request being written, -1 before one is picked */
} conn_t;

static SSL_CTX *ctx;
static struct sockaddr_in addr;
static int ep;
#define MAX_PATHS 100000
#define MAX_PATH_LEN 1024
static char **requests; /* "GET path HTTP/1.1..." texts */
static int *request_lens;
static int n_requests, next_request;
static unsigned long n_req, n_ok, n_non2xx, n_err, n_connects;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void watch(conn_t *c, int op, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, op, c->fd, &ev) != 0) {
        perror("epoll_ctl");
        exit(2);
    }
}

static void open_conn(conn_t *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        perror("socket");
        exit(2);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    n_connects++;
    c->ssl = SSL_new(ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    c->len = c->want = 0;
    c->sent = 0;
    c->closes = 0;
    c->cur = -1;
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 && errno != EINPROGRESS) {
        perror("connect");
        exit(2);
    }
    c->state = ST_CONNECT;
    watch(c, EPOLL_CTL_ADD, EPOLLOUT);
}

static void reopen(conn_t *c, int error)
{
    if (error)
        n_err++;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    SSL_free(c->ssl);
    close(c->fd);
    open_conn(c);
}

/* Parse the head once it is whole: status, Content-Length, Connection: close. */
static int parse_head(conn_t *c)
{
    c->buf[c->len < sizeof(c->buf) ? c->len : sizeof(c->buf) - 1] = 0;
    char *end = strstr(c->buf, "\r\n\r\n");
    if (!end)
        return c->len >= sizeof(c->buf) - 1 ? -1 : 0;
    size_t head = (size_t)(end - c->buf) + 4;
    if (sscanf(c->buf, "HTTP/1.%*d %d", &c->status) != 1)
        return -1;
    long cl = -1;
    for (char *p = strstr(c->buf, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
        char *line = p + 2, *eol = strstr(line, "\r\n");
        if (strncasecmp(line, "Content-Length:", 15) == 0) {
            cl = strtol(line + 15, NULL, 10);
        } else if (strncasecmp(line, "Connection:", 11) == 0) {
            char *v = strcasestr(line + 11, "close");
            if (v && v < eol)
                c->closes = 1;
        }
    }
    if (cl < 0 || head + (size_t)cl > sizeof(c->buf) - 1)
        return -1;
    c->want = head + (size_t)cl;
    return 1;
}

/* Drive one connection as far as it goes without blocking. */
static void step(conn_t *c, unsigned events)
{
    for (;;) {
        switch (c->state) {
        case ST_CONNECT: {
            int err = 0;
            socklen_t l = sizeof(err);
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
            if (err) {
                reopen(c, 1);
                return;
            }
            c->state = ST_HANDSHAKE;
            break;
        }
        case ST_HANDSHAKE: {
            int r = SSL_do_handshake(c->ssl);
            if (r == 1) {
                c->state = ST_WRITE;
                break;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ) {
                watch(c, EPOLL_CTL_MOD, EPOLLIN);
                return;
            }
            if (e == SSL_ERROR_WANT_WRITE) {
                watch(c, EPOLL_CTL_MOD, EPOLLOUT);
                return;
            }
            ERR_print_errors_fp(stderr);
            reopen(c, 1);
            return;
        }
        case ST_WRITE: {
            if (c->cur < 0) {
                c->cur = next_request;
                next_request = (next_request + 1) % n_requests;
            }
            int r = SSL_write(c->ssl, requests[c->cur], request_lens[c->cur]);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE) {
                    watch(c, EPOLL_CTL_MOD, EPOLLOUT);
                    return;
                }
                if (e == SSL_ERROR_WANT_READ) {
                    watch(c, EPOLL_CTL_MOD, EPOLLIN);
                    return;
                }
                reopen(c, 1);
                return;
            }
            c->cur = -1;
            c->len = c->want = 0;
            c->closes = 0;
            c->state = ST_READ;
            watch(c, EPOLL_CTL_MOD, EPOLLIN);
            break;
        }
        case ST_READ: {
            int r = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - 1 - c->len));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                    return; /* already watching EPOLLIN */
                if (e == SSL_ERROR_WANT_WRITE) {
                    watch(c, EPOLL_CTL_MOD, EPOLLOUT);
                    return;
                }
                /* closed by the server: an error only in the middle of a reply */
                reopen(c, c->len > 0);
                return;
            }
            c->len += (size_t)r;
            if (!c->want) {
                int p = parse_head(c);
                if (p < 0) {
                    reopen(c, 1);
                    return;
                }
                if (p == 0)
                    break;
            }
            if (c->len < c->want)
                break;
            n_req++;
            if (c->status >= 200 && c->status < 300)
                n_ok++;
            else
                n_non2xx++;
            if (c->closes) {
                reopen(c, 0);
                return;
            }
            c->state = ST_WRITE;
            break;
        }
        }
    }
    (void)events;
}

static int add_request(const char *path, const char *host)
{
    char text[MAX_PATH_LEN + 256];
    int n = snprintf(text, sizeof(text), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    if (n < 0 || (size_t)n >= sizeof(text) || n_requests >= MAX_PATHS) {
        fprintf(stderr, "bench_node_load: a path over %d bytes or over %d paths\n", MAX_PATH_LEN,
                MAX_PATHS);
        return -1;
    }
    requests[n_requests] = strdup(text);
    request_lens[n_requests++] = n;
    return 0;
}

/* PATH, or every line of the file @PATH. */
static int load_requests(const char *arg, const char *host)
{
    requests = calloc(MAX_PATHS, sizeof(*requests));
    request_lens = calloc(MAX_PATHS, sizeof(*request_lens));
    if (arg[0] != '@')
        return add_request(arg, host);
    FILE *f = fopen(arg + 1, "r");
    if (!f) {
        perror(arg + 1);
        return -1;
    }
    char line[MAX_PATH_LEN + 2];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            rc = add_request(line, host);
    }
    fclose(f);
    if (rc == 0 && n_requests == 0) {
        fprintf(stderr, "bench_node_load: no path in %s\n", arg + 1);
        rc = -1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: %s HOST PORT PATH CONNS SECONDS CERT_CHAIN KEY\n", argv[0]);
        return 2;
    }
    int nconns = atoi(argv[4]);
    double seconds = atof(argv[5]);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        fprintf(stderr, "bench_node_load: HOST must be an IPv4 address\n");
        return 2;
    }
    if (load_requests(argv[3], argv[1]) < 0)
        return 2;
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* like ab: the server is not checked */
    if (SSL_CTX_use_certificate_chain_file(ctx, argv[6]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[7], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    ep = epoll_create1(0);
    conn_t *conns = calloc((size_t)nconns, sizeof(*conns));
    for (int i = 0; i < nconns; i++)
        open_conn(&conns[i]);
    double start = now(), end = start + seconds;
    struct epoll_event evs[256];
    double t;
    while ((t = now()) < end) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++)
            step(evs[i].data.ptr, evs[i].events);
    }
    double took = now() - start;
    printf("{\"requests\": %lu, \"ok\": %lu, \"non2xx\": %lu, \"errors\": %lu, \"connects\": %lu, "
           "\"seconds\": %.3f, \"rps\": %.1f}\n",
           n_req, n_ok, n_non2xx, n_err, n_connects, took, n_ok / took);
    return n_ok > 0 && n_non2xx == 0 ? 0 : 1;
}
