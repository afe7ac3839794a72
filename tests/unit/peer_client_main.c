/* Driver for tests/integration/test_peer_client.py: runs peer_client against a real trellisd
 * and the test's fake peers, printing one line per step ("<step> key=value ... err=<text>",
 * err last) for the Python side to check. Ends by checking that uv_loop_close() succeeds. */
#include "peer_client.h"

#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bool done;
    int status;
    char ct[128];
    char *body;
    char peer[160];
    char err[256];
    uint64_t ms;
} result_t;

static uv_loop_t *loop;
static SSL_CTX *ctx;

static void on_result(void *ud, const peer_response_t *res, const char *err)
{
    result_t *r = ud;
    r->done = true;
    if (!res) {
        snprintf(r->err, sizeof(r->err), "%s", err);
        return;
    }
    r->status = res->status;
    snprintf(r->ct, sizeof(r->ct), "%s", res->content_type);
    r->body = strndup(res->body, res->body_len);
    snprintf(r->peer, sizeof(r->peer), "%s/%s/%s", res->peer->org, tr_role_name(res->peer->role),
             res->peer->name);
}

static peer_client_t *client(const char *url, const char *org, size_t max_body)
{
    peer_client_config_t cfg = {.url = url,
                                .ssl_ctx = ctx,
                                .expect_org = org,
                                .connect_timeout_ms = 5000,
                                .request_timeout_ms = 10000,
                                .max_body = max_body};
    peer_client_t *c = NULL;
    char err[200];
    if (peer_client_new(loop, &cfg, &c, err, sizeof(err)) != 0) {
        printf("peer_client_new failed: %s\n", err);
        exit(2);
    }
    return c;
}

/* One request, run to its callback. */
static result_t get(peer_client_t *c, const char *path, uint64_t timeout_ms)
{
    result_t r = {0};
    uint64_t t0 = uv_hrtime();
    int rc = peer_client_get(c, path, timeout_ms, on_result, &r);
    if (rc != 0) {
        snprintf(r.err, sizeof(r.err), "peer_client_get returned %d", rc);
        return r;
    }
    while (!r.done)
        uv_run(loop, UV_RUN_ONCE);
    r.ms = (uv_hrtime() - t0) / 1000000;
    return r;
}

static void report(const char *step, peer_client_t *c, result_t *r, const char *fmt, ...)
{
    printf("%s status=%d ms=%llu connects=%llu", step, r->status, (unsigned long long)r->ms,
           (unsigned long long)(c ? peer_client_connects(c) : 0));
    if (r->status)
        printf(" ct=%s peer=%s", r->ct[0] ? r->ct : "-", r->peer);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        putchar(' ');
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf(" err=%s\n", r->err);
    fflush(stdout);
    free(r->body);
    r->body = NULL;
}

/* ---- 50 requests chained from inside each callback, on one connection ---- */

typedef struct {
    peer_client_t *c;
    int left, ok;
    bool done;
    char err[256];
} chain_t;

static void on_chain(void *ud, const peer_response_t *res, const char *err)
{
    chain_t *ch = ud;
    if (res && res->status == 200)
        ch->ok++;
    else if (!ch->err[0])
        snprintf(ch->err, sizeof(ch->err), "%s", err ? err : "status not 200");
    if (--ch->left == 0 || peer_client_get(ch->c, "/v1/whoami", 0, on_chain, ch) != 0)
        ch->done = true;
}

static void on_sleep(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static void sleep_ms(uint64_t ms)
{
    uv_timer_t t;
    bool done = false;
    uv_timer_init(loop, &t);
    t.data = &done;
    uv_timer_start(&t, on_sleep, ms, 0);
    while (!done)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void on_free_self(void *ud, const peer_response_t *res, const char *err)
{
    result_t *r = ud;
    r->done = true;
    r->status = res ? res->status : 0;
    peer_client_free(*(peer_client_t **)r->body);
    r->body = NULL;
}

static void expect_failure(const char *step, const char *url, const char *org)
{
    if (!url)
        return;
    peer_client_t *c = client(url, org, 0);
    result_t r = get(c, "/v1/whoami", 0);
    report(step, c, &r, NULL);
    peer_client_free(c);
}

static void fake_peer(const char *url)
{
    peer_client_t *c = client(url, "alpha", 1 << 20);
    result_t r = get(c, "/ok", 0);
    report("fake-ok", c, &r, "body=%s", r.body ? r.body : "");
    /* The fake closes a reused connection on /drop without answering: sent again, once. */
    r = get(c, "/drop", 0);
    report("fake-retry", c, &r, NULL);
    r = get(c, "/chunked", 0);
    report("fake-chunked", c, &r, "body=%s", r.body ? r.body : "");
    r = get(c, "/big", 0);
    report("fake-big", c, &r, NULL);
    r = get(c, "/bigchunked", 0);
    report("fake-bigchunked", c, &r, NULL);
    r = get(c, "/fold", 0);
    report("fake-fold", c, &r, NULL);
    r = get(c, "/close", 0);
    report("fake-close", c, &r, NULL);
    r = get(c, "/ok", 0);
    report("fake-after-close", c, &r, NULL);
    r = get(c, "/hang", 300);
    report("fake-hang", c, &r, NULL);
    r = get(c, "/drop-always", 0);
    report("fake-drop-fresh", c, &r, NULL);
    peer_client_free(c);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"org", required_argument, NULL, 'o'},
                                         {"cert", required_argument, NULL, 'c'},
                                         {"key", required_argument, NULL, 'k'},
                                         {"ca", required_argument, NULL, 'a'},
                                         {"crl", required_argument, NULL, 'r'},
                                         {"byname", required_argument, NULL, 'n'},
                                         {"foreign", required_argument, NULL, 'f'},
                                         {"refused", required_argument, NULL, 'x'},
                                         {"fake", required_argument, NULL, 'F'},
                                         {"mismatch", required_argument, NULL, 'm'},
                                         {"refuses-us", required_argument, NULL, 'R'},
                                         {"idle-wait-ms", required_argument, NULL, 'i'},
                                         {NULL, 0, NULL, 0}};
    const char *url = NULL, *org = NULL, *cert = NULL, *key = NULL, *ca = NULL, *crl = NULL;
    const char *byname = NULL, *foreign = NULL, *refused = NULL, *fake = NULL, *mismatch = NULL;
    const char *refuses_us = NULL;
    uint64_t idle_wait = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            url = optarg;
            break;
        case 'o':
            org = optarg;
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            key = optarg;
            break;
        case 'a':
            ca = optarg;
            break;
        case 'r':
            crl = optarg;
            break;
        case 'n':
            byname = optarg;
            break;
        case 'f':
            foreign = optarg;
            break;
        case 'x':
            refused = optarg;
            break;
        case 'F':
            fake = optarg;
            break;
        case 'm':
            mismatch = optarg;
            break;
        case 'R':
            refuses_us = optarg;
            break;
        case 'i':
            idle_wait = strtoull(optarg, NULL, 10);
            break;
        default:
            return 2;
        }
    }
    if (!url || !org || !cert || !key || !ca) {
        fprintf(stderr, "usage: peer_client_main --url U --org O --cert C --key K --ca A "
                        "[--crl R] [--byname U] [--foreign U] [--refused U] [--fake U] "
                        "[--mismatch U] [--refuses-us U] [--idle-wait-ms N]\n");
        return 2;
    }
    char err[256];
    if (peer_tls_client_ctx(cert, key, ca, crl, &ctx, err, sizeof(err)) != 0) {
        printf("ctx failed: %s\n", err);
        return 2;
    }
    uv_loop_t the_loop;
    uv_loop_init(&the_loop);
    loop = &the_loop;

    peer_client_t *c = client(url, org, 0);
    result_t r = get(c, "/v1/whoami", 0);
    json_t *who = r.body ? json_loads(r.body, 0, NULL) : NULL;
    const char *who_org = json_string_value(json_object_get(who, "org"));
    const char *who_role = json_string_value(json_object_get(who, "role"));
    const char *who_name = json_string_value(json_object_get(who, "name"));
    report("whoami", c, &r, "who=%s/%s/%s", who_org ? who_org : "-", who_role ? who_role : "-",
           who_name ? who_name : "-");
    json_decref(who);

    chain_t ch = {.c = c, .left = 50};
    uint64_t t0 = uv_hrtime();
    if (peer_client_get(c, "/v1/whoami", 0, on_chain, &ch) != 0)
        ch.done = true;
    while (!ch.done)
        uv_run(loop, UV_RUN_ONCE);
    printf("sequential ok=%d ms=%llu connects=%llu err=%s\n", ch.ok,
           (unsigned long long)((uv_hrtime() - t0) / 1000000),
           (unsigned long long)peer_client_connects(c), ch.err);

    r = get(c, "/v1/changes?since=0&wait=2", 5000);
    report("longpoll", c, &r, "has_cursor=%d", r.body && strstr(r.body, "\"cursor\"") != NULL);
    r = get(c, "/v1/changes?since=0&wait=5", 500);
    report("timeout", c, &r, NULL);
    r = get(c, "/v1/whoami", 0);
    report("after-timeout", c, &r, NULL);
    if (idle_wait) {
        sleep_ms(idle_wait); /* the node closes the idle keep-alive meanwhile */
        r = get(c, "/v1/whoami", 0);
        report("after-idle", c, &r, NULL);
    }

    /* Cancelled mid long-poll: no callback, and the next request works on a new connection. */
    result_t never = {0};
    peer_client_get(c, "/v1/changes?since=0&wait=2", 5000, on_result, &never);
    sleep_ms(100);
    peer_client_cancel(c);
    r = get(c, "/v1/whoami", 0);
    report("after-cancel", c, &r, "cancelled_called=%d", never.done);
    peer_client_free(c);

    if (byname) {
        peer_client_t *n = client(byname, org, 0);
        r = get(n, "/v1/whoami", 0);
        report("byname", n, &r, NULL);
        peer_client_free(n);
    }
    expect_failure("wrong-org", url, "gamma");
    expect_failure("foreign-ca", foreign, org);
    expect_failure("refused", refused, org);
    expect_failure("mismatch", mismatch, "alpha");
    expect_failure("refuses-us", refuses_us, "alpha");
    if (fake)
        fake_peer(fake);

    /* Freed from inside its own callback. */
    peer_client_t *self = client(url, org, 0);
    r = (result_t){0};
    r.body = (char *)&self; /* smuggles the client to the callback */
    peer_client_get(self, "/v1/whoami", 0, on_free_self, &r);
    while (!r.done)
        uv_run(loop, UV_RUN_ONCE);
    printf("free-in-callback status=%d err=\n", r.status);

    uv_run(loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(loop);
    printf("loop_close rc=%d err=\n", rc);
    SSL_CTX_free(ctx);
    return rc == 0 ? 0 : 1;
}
