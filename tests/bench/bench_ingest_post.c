/* bench_ingest_post: POST every batch file of the ingest benchmark to a node,
 * with C concurrent keep-alive clients over mutual TLS, one thread each and
 * one request in flight per connection. The reference side of the benchmark
 * is psql, a C client; a Python client would spend the same two cores' time
 * on itself (about 3 us a record, measured) and hold a global lock.
 *
 *   bench_ingest_post WORKDIR PORT CLIENTS [ORG [BATCHES]]
 *
 * Reads WORKDIR/BATCHES/ *.json (default WORKDIR/batches) and the agent
 * certificate of organisation ORG (default bench) in WORKDIR/pki.
 * Prints "rate N" (records stored per second) and a batch-latency line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *data;
    size_t len;
} body_t;

static body_t *bodies;
static size_t n_bodies;
static atomic_size_t next_body;
static atomic_long stored_total;
static atomic_int failures;
static double *latency; /* per batch, seconds */
static SSL_CTX *ctx;
static int port;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int load_bodies(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0)
        return -1;
    bodies = calloc((size_t)n, sizeof(*bodies));
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        size_t l = strlen(name);
        if (l > 5 && strcmp(name + l - 5, ".json") == 0) {
            char path[8192];
            snprintf(path, sizeof(path), "%s/%s", dir, name);
            FILE *f = fopen(path, "rb");
            if (!f)
                return -1;
            fseek(f, 0, SEEK_END);
            long size = ftell(f);
            rewind(f);
            body_t *b = &bodies[n_bodies++];
            b->data = malloc((size_t)size);
            b->len = fread(b->data, 1, (size_t)size, f);
            fclose(f);
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

static SSL *connect_tls(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return NULL;
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set1_host(ssl, "127.0.0.1"); /* the node's certificate names its address */
    if (SSL_connect(ssl) != 1) {
        SSL_free(ssl);
        close(fd);
        return NULL;
    }
    return ssl;
}

static int write_all(SSL *ssl, const char *p, size_t len)
{
    while (len) {
        int n = SSL_write(ssl, p, len > (1u << 30) ? 1 << 30 : (int)len);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One reply: its status and body (in buf, which grows). */
static int read_reply(SSL *ssl, char **buf, size_t *cap, int *status, char **body, size_t *body_len)
{
    size_t len = 0, head = 0, want = 0;
    for (;;) {
        if (len + 16384 > *cap) {
            *cap = (*cap + 16384) * 2;
            *buf = realloc(*buf, *cap);
        }
        int n = SSL_read(ssl, *buf + len, (int)(*cap - len - 1));
        if (n <= 0)
            return -1;
        len += (size_t)n;
        (*buf)[len] = '\0';
        if (!head) {
            char *end = strstr(*buf, "\r\n\r\n");
            if (!end)
                continue;
            head = (size_t)(end - *buf) + 4;
            char *cl = strcasestr(*buf, "\r\ncontent-length:");
            if (!cl || cl > end || sscanf(*buf, "HTTP/1.1 %d", status) != 1)
                return -1;
            want = head + strtoul(cl + 17, NULL, 10);
        }
        if (len >= want) {
            *body = *buf + head;
            *body_len = want - head;
            return 0;
        }
    }
}

static void *client(void *arg)
{
    (void)arg;
    SSL *ssl = connect_tls();
    char *buf = NULL, *body;
    size_t cap = 0, body_len;
    int status;
    if (!ssl) {
        atomic_fetch_add(&failures, 1);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&next_body, 1);
        if (i >= n_bodies)
            break;
        char head[256];
        int hl = snprintf(head, sizeof(head),
                          "POST /v1/records HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                          bodies[i].len);
        double t0 = now();
        if (write_all(ssl, head, (size_t)hl) || write_all(ssl, bodies[i].data, bodies[i].len) ||
            read_reply(ssl, &buf, &cap, &status, &body, &body_len)) {
            atomic_fetch_add(&failures, 1);
            break;
        }
        latency[i] = now() - t0;
        const char *s = strstr(body, "\"stored\":");
        if (status != 200 || !s)
            atomic_fetch_add(&failures, 1);
        else
            atomic_fetch_add(&stored_total, strtol(s + 9, NULL, 10));
    }
    free(buf);
    SSL_shutdown(ssl);
    close(SSL_get_fd(ssl));
    SSL_free(ssl);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: bench_ingest_post WORKDIR PORT CLIENTS [ORG [BATCHES]]\n");
        return 2;
    }
    const char *org = argc > 4 ? argv[4] : "bench";
    const char *batches = argc > 5 ? argv[5] : "batches";
    char path[4096], cert[4096], key[4096], ca[4096];
    snprintf(path, sizeof(path), "%s/%s", argv[1], batches);
    snprintf(cert, sizeof(cert), "%s/pki/orgs/%s/agents/agent.chain.crt", argv[1], org);
    snprintf(key, sizeof(key), "%s/pki/orgs/%s/agents/agent.key", argv[1], org);
    snprintf(ca, sizeof(ca), "%s/pki/ca.crt", argv[1]);
    port = atoi(argv[2]);
    int clients = atoi(argv[3]);
    if (load_bodies(path) != 0 || n_bodies == 0 || clients < 1 || clients > 256) {
        fprintf(stderr, "bench_ingest_post: no batches in %s, or a bad client count\n", path);
        return 2;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 2;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    latency = calloc(n_bodies, sizeof(*latency));
    pthread_t *th = calloc((size_t)clients, sizeof(*th));
    double start = now();
    for (int i = 0; i < clients; i++)
        pthread_create(&th[i], NULL, client, NULL);
    for (int i = 0; i < clients; i++)
        pthread_join(th[i], NULL);
    double took = now() - start;
    qsort(latency, n_bodies, sizeof(*latency), cmp_double);
    printf("rate %ld\n", (long)((double)atomic_load(&stored_total) / took));
    printf("latency per 1,000-record batch: p50 %.0f ms, p99 %.0f ms\n",
           1000 * latency[n_bodies / 2], 1000 * latency[n_bodies * 99 / 100]);
    if (atomic_load(&failures))
        printf("errors %d\n", atomic_load(&failures));
    return atomic_load(&failures) ? 1 : 0;
}
