/* libcurl client for the node (node_http.h). */
#include "node_http.h"

#include <curl/curl.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_REPLY (64u << 20)

struct node_http {
    const agent_config_t *cfg;
    CURL *curl;
    CURL *many[NODE_MAX_PARALLEL]; /* node_http_post_many's connections, made on first use */
    CURLM *multi;
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

/* An easy handle with everything but the request: TLS 1.3 with our
 * certificate, timeouts, the proxy. */
static volatile int *stop_flag;

/* Called about once a second even while a long poll waits: a stop (SIGTERM)
 * ends the transfer instead of waiting for the node's answer. */
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)user, (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return stop_flag && *stop_flag ? 1 : 0;
}

static CURL *easy_new(node_http_t *h)
{
    const agent_config_t *c = h->cfg;
    CURL *k = curl_easy_init();
    if (!k)
        return NULL;
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
    curl_easy_setopt(k, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(k, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(k, CURLOPT_USERAGENT, "trellis-agent/" TRELLIS_VERSION);
    if (c->proxy && strcasecmp(c->proxy, "none") == 0)
        curl_easy_setopt(k, CURLOPT_PROXY, "");
    else if (c->proxy)
        curl_easy_setopt(k, CURLOPT_PROXY, c->proxy);
    /* Unset: libcurl reads https_proxy / HTTPS_PROXY and no_proxy itself. */
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, h->headers);
    return k;
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
    h->headers = curl_slist_append(NULL, "Content-Type: application/json");
    h->headers = curl_slist_append(h->headers, "Accept: application/json");
    h->headers = curl_slist_append(h->headers, "Expect:");
    h->curl = easy_new(h);
    if (!h->curl) {
        node_http_free(h);
        snprintf(err, err_len, "libcurl cannot start");
        return NULL;
    }
    return h;
}

void node_http_free(node_http_t *h)
{
    if (!h)
        return;
    for (int i = 0; i < NODE_MAX_PARALLEL; i++) {
        if (h->many[i] && h->multi)
            curl_multi_remove_handle(h->multi, h->many[i]);
        curl_easy_cleanup(h->many[i]);
    }
    curl_multi_cleanup(h->multi);
    curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    free(h);
}

void node_reply_free(node_reply_t *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

static void build_url(node_http_t *h, const char *path, char *url, size_t len)
{
    size_t ul = strlen(h->cfg->node_url);
    if (ul > 0 && h->cfg->node_url[ul - 1] == '/' && path[0] == '/')
        snprintf(url, len, "%.*s%s", (int)ul - 1, h->cfg->node_url, path);
    else
        snprintf(url, len, "%s%s", h->cfg->node_url, path);
}

static void prepare(CURL *k, const char *url, const char *method, const char *body, size_t body_len,
                    sink_t *s)
{
    memset(s, 0, sizeof(*s));
    s->retry_after = -1;
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(k, CURLOPT_HEADERDATA, s);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(k, CURLOPT_POST, 1L);
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
    } else {
        curl_easy_setopt(k, CURLOPT_HTTPGET, 1L);
    }
}

/* What a finished transfer comes to: NODE_OK with r, or an error. */
static int finish(node_http_t *h, CURL *k, CURLcode rc, sink_t *s, node_reply_t *r, char *err,
                  size_t err_len)
{
    memset(r, 0, sizeof(*r));
    r->retry_after = -1;
    if (rc != CURLE_OK) {
        free(s->buf);
        if (s->too_big) {
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
    r->body = s->buf ? s->buf : calloc(1, 1);
    if (!r->body)
        abort();
    r->len = s->len;
    r->retry_after = s->retry_after;
    return NODE_OK;
}

int node_http_request(node_http_t *h, const char *method, const char *path, const char *body,
                      size_t body_len, node_reply_t *r, char *err, size_t err_len)
{
    char url[2048];
    build_url(h, path, url, sizeof(url));
    sink_t s;
    prepare(h->curl, url, method, body, body_len, &s);
    CURLcode rc = curl_easy_perform(h->curl);
    return finish(h, h->curl, rc, &s, r, err, err_len);
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

static bool transient(int rc, const node_reply_t *r)
{
    if (rc == NODE_E_UNREACHABLE)
        return true;
    return rc == NODE_OK &&
           (r->status == 429 || r->status == 502 || r->status == 503 || r->status == 504);
}

void node_http_post_many(node_http_t *h, const char *path, node_job_t *jobs, size_t n,
                         long retry_for, void (*on_wait)(double, const char *))
{
    if (n > NODE_MAX_PARALLEL)
        n = NODE_MAX_PARALLEL;
    if (!h->multi && !(h->multi = curl_multi_init()))
        abort();
    char url[2048];
    build_url(h, path, url, sizeof(url));
    double deadline = now_s() + (double)retry_for;
    sink_t sinks[NODE_MAX_PARALLEL];
    int attempt[NODE_MAX_PARALLEL] = {0};
    double not_before[NODE_MAX_PARALLEL] = {0};
    bool running[NODE_MAX_PARALLEL] = {0}, done[NODE_MAX_PARALLEL] = {0};
    size_t left = n;
    for (size_t i = 0; i < n; i++) {
        jobs[i].rc = NODE_E_UNREACHABLE;
        memset(&jobs[i].reply, 0, sizeof(jobs[i].reply));
        jobs[i].err[0] = '\0';
        if (!h->many[i] && !(h->many[i] = easy_new(h))) {
            snprintf(jobs[i].err, sizeof(jobs[i].err), "libcurl cannot start");
            jobs[i].rc = NODE_E_LOCAL;
            done[i] = true;
            left--;
        }
    }
    while (left > 0) {
        double t = now_s();
        for (size_t i = 0; i < n; i++) {
            if (done[i] || running[i] || t < not_before[i])
                continue;
            prepare(h->many[i], url, "POST", jobs[i].body, jobs[i].len, &sinks[i]);
            curl_easy_setopt(h->many[i], CURLOPT_PRIVATE, (void *)(uintptr_t)(i + 1));
            curl_multi_add_handle(h->multi, h->many[i]);
            running[i] = true;
        }
        int still;
        curl_multi_perform(h->multi, &still);
        CURLMsg *msg;
        int queued;
        while ((msg = curl_multi_info_read(h->multi, &queued)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            size_t i = (size_t)((uintptr_t)priv - 1);
            CURLcode code = msg->data.result;
            curl_multi_remove_handle(h->multi, msg->easy_handle);
            running[i] = false;
            node_job_t *j = &jobs[i];
            int rc = finish(h, h->many[i], code, &sinks[i], &j->reply, j->err, sizeof(j->err));
            if (transient(rc, &j->reply)) {
                long ra = rc == NODE_OK ? j->reply.retry_after : -1;
                if (rc == NODE_OK) {
                    snprintf(j->err, sizeof(j->err),
                             "the node answered %ld (busy or its database unavailable)",
                             j->reply.status);
                    node_reply_free(&j->reply);
                }
                double wait = node_backoff(attempt[i]++, ra, unit_random());
                if (now_s() + wait <= deadline && !(stop_flag && *stop_flag)) {
                    if (on_wait)
                        on_wait(wait, j->err);
                    not_before[i] = now_s() + wait;
                    continue;
                }
                rc = NODE_E_UNREACHABLE;
            }
            j->rc = rc;
            done[i] = true;
            left--;
        }
        if (stop_flag && *stop_flag) {
            for (size_t i = 0; i < n; i++) {
                if (running[i]) {
                    curl_multi_remove_handle(h->multi, h->many[i]);
                    free(sinks[i].buf);
                    running[i] = false;
                }
                if (!done[i]) {
                    snprintf(jobs[i].err, sizeof(jobs[i].err), "stopped");
                    jobs[i].rc = NODE_E_UNREACHABLE;
                    done[i] = true;
                }
            }
            break;
        }
        if (left > 0)
            curl_multi_poll(h->multi, NULL, 0, 100, NULL);
    }
}
