/* libcurl client for the node (node_http.h). */
#include "node_http.h"

#include <curl/curl.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_REPLY (64u << 20)

struct node_http {
    const agent_config_t *cfg;
    CURL *curl;
    struct curl_slist *headers;
};

typedef struct {
    char *buf;
    size_t len, cap;
    int too_big;
    long retry_after;
} sink_t;

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    sink_t *s = user;
    size_t add = size * n;
    if (s->len + add + 1 > MAX_REPLY) {
        s->too_big = 1;
        return 0;
    }
    if (s->len + add + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 16384;
        while (cap < s->len + add + 1)
            cap *= 2;
        char *b = realloc(s->buf, cap);
        if (!b)
            abort();
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, add);
    s->len += add;
    s->buf[s->len] = '\0';
    return add;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
    sink_t *s = user;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        char v[32];
        size_t vl = len - (sizeof(name) - 1);
        if (vl >= sizeof(v))
            vl = sizeof(v) - 1;
        memcpy(v, data + sizeof(name) - 1, vl);
        v[vl] = '\0';
        char *end;
        long secs = strtol(v, &end, 10);
        /* Delta-seconds only; an HTTP date is rare from our own node. */
        if (end != v && secs >= 0)
            s->retry_after = secs;
    }
    return len;
}

node_http_t *node_http_new(const agent_config_t *c, char *err, size_t err_len)
{
    static int global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            snprintf(err, err_len, "libcurl cannot start");
            return NULL;
        }
        global_done = 1;
    }
    node_http_t *h = calloc(1, sizeof(*h));
    if (!h)
        abort();
    h->cfg = c;
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        snprintf(err, err_len, "libcurl cannot start");
        return NULL;
    }
    CURL *k = h->curl;
    curl_easy_setopt(k, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(k, CURLOPT_CAINFO, c->ca);
    curl_easy_setopt(k, CURLOPT_SSLCERT, c->cert);
    curl_easy_setopt(k, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(k, CURLOPT_SSLKEY, c->key);
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(k, CURLOPT_TIMEOUT, c->timeout);
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, c->connect_timeout);
    curl_easy_setopt(k, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_USERAGENT, "trellis-agent/" TRELLIS_VERSION);
    if (c->proxy && strcasecmp(c->proxy, "none") == 0)
        curl_easy_setopt(k, CURLOPT_PROXY, "");
    else if (c->proxy)
        curl_easy_setopt(k, CURLOPT_PROXY, c->proxy);
    /* Unset: libcurl reads https_proxy / HTTPS_PROXY and no_proxy itself. */
    h->headers = curl_slist_append(NULL, "Content-Type: application/json");
    h->headers = curl_slist_append(h->headers, "Accept: application/json");
    h->headers = curl_slist_append(h->headers, "Expect:");
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, h->headers);
    return h;
}

void node_http_free(node_http_t *h)
{
    if (!h)
        return;
    curl_slist_free_all(h->headers);
    curl_easy_cleanup(h->curl);
    free(h);
}

void node_reply_free(node_reply_t *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

int node_http_request(node_http_t *h, const char *method, const char *path, const char *body,
                      size_t body_len, node_reply_t *r, char *err, size_t err_len)
{
    memset(r, 0, sizeof(*r));
    r->retry_after = -1;
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", h->cfg->node_url, path);
    size_t ul = strlen(h->cfg->node_url);
    if (ul > 0 && h->cfg->node_url[ul - 1] == '/' && path[0] == '/')
        snprintf(url, sizeof(url), "%.*s%s", (int)ul - 1, h->cfg->node_url, path);
    sink_t s = {0};
    s.retry_after = -1;
    CURL *k = h->curl;
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(k, CURLOPT_HEADERDATA, &s);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(k, CURLOPT_POST, 1L);
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
    } else {
        curl_easy_setopt(k, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = curl_easy_perform(k);
    if (rc != CURLE_OK) {
        free(s.buf);
        if (s.too_big) {
            snprintf(err, err_len, "the node's reply is over %u MiB", MAX_REPLY >> 20);
            return NODE_E_LOCAL;
        }
        /* Our own files are a local problem, not the node's. */
        if (rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE ||
            rc == CURLE_OUT_OF_MEMORY) {
            snprintf(err, err_len, "%s (check [node] cert, key and ca)", curl_easy_strerror(rc));
            return NODE_E_LOCAL;
        }
        snprintf(err, err_len, "%s: %s", h->cfg->node_url, curl_easy_strerror(rc));
        return NODE_E_UNREACHABLE;
    }
    curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &r->status);
    r->body = s.buf ? s.buf : calloc(1, 1);
    if (!r->body)
        abort();
    r->len = s.len;
    r->retry_after = s.retry_after;
    return NODE_OK;
}

double node_backoff(int attempt, long retry_after, double unit_random)
{
    if (retry_after >= 0)
        return retry_after > 300 ? 300.0 : (double)retry_after + unit_random * 0.5;
    double ceiling = 0.5;
    for (int i = 0; i < attempt && ceiling < 30.0; i++)
        ceiling *= 2;
    if (ceiling > 30.0)
        ceiling = 30.0;
    return ceiling * unit_random;
}

static double unit_random(void)
{
    uint32_t v;
    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        v = (uint32_t)rand();
    return (double)v / 4294967296.0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile int *stop_flag;

void node_http_set_stop_flag(volatile int *flag)
{
    stop_flag = flag;
}

/* Sleep in steps of at most 0.2 s, so that a stop request is seen soon. */
static void sleep_s(double s)
{
    while (s > 0 && !(stop_flag && *stop_flag)) {
        double step = s > 0.2 ? 0.2 : s;
        struct timespec ts = {(time_t)step, (long)((step - (double)(time_t)step) * 1e9)};
        nanosleep(&ts, NULL);
        s -= step;
    }
}

int node_http_call(node_http_t *h, const char *method, const char *path, const char *body,
                   size_t body_len, long retry_for, void (*on_wait)(double, const char *),
                   node_reply_t *r, char *err, size_t err_len)
{
    double deadline = now_s() + (double)retry_for;
    for (int attempt = 0;; attempt++) {
        int rc = node_http_request(h, method, path, body, body_len, r, err, err_len);
        if (rc == NODE_E_LOCAL)
            return rc;
        long ra = -1;
        char why[96];
        if (rc == NODE_OK) {
            long st = r->status;
            if (st != 429 && st != 502 && st != 503 && st != 504)
                return NODE_OK;
            ra = r->retry_after;
            snprintf(why, sizeof(why), "the node answered %ld", st);
            snprintf(err, err_len, "the node answered %ld (busy or its database unavailable)", st);
            node_reply_free(r);
        } else {
            snprintf(why, sizeof(why), "the node is unreachable");
        }
        double wait = node_backoff(attempt, ra, unit_random());
        if (now_s() + wait > deadline || (stop_flag && *stop_flag))
            return NODE_E_UNREACHABLE;
        if (on_wait)
            on_wait(wait, why);
        sleep_s(wait);
    }
}
