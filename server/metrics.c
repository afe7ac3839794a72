/* Prometheus text rendering of the node's counters and pool gauges. */
#include "metrics.h"
#include "node.h"
#include "router.h"
#include "strbuf.h"
#include "sync_pull.h"
#include "tls_expiry.h"
#include "dir_index_load.h"
#include "view_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const int statuses[] = {
#define M_STATUS(s) s,
    METRICS_STATUSES(M_STATUS)
#undef M_STATUS
};
#define N_LISTED ((int)(sizeof(statuses) / sizeof(statuses[0])))

/* Upper bounds of the latency buckets, in seconds. */
static const double bounds[METRICS_LATENCY_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                       0.05,   0.1,   0.25,   0.5,   1,    5};

static int status_index(int status)
{
    for (int i = 0; i < N_LISTED; i++)
        if (statuses[i] == status)
            return i;
    return N_LISTED; /* other */
}

void metrics_request(metrics_t *m, int route, int status, double seconds)
{
    if (route < 0 || route >= METRICS_MAX_ROUTES)
        route = METRICS_MAX_ROUTES - 1; /* "none": replies to unroutable input */
    m->requests[route][status_index(status)]++;
    int b = 0;
    while (b < METRICS_LATENCY_BUCKETS && seconds > bounds[b])
        b++;
    m->latency_buckets[b]++;
    m->latency_sum += seconds;
    m->latency_count++;
}

static void counter(strbuf_t *s, const char *name, const char *help, const char *type,
                    unsigned long long v)
{
    strbuf_printf(s, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

char *metrics_render(const node_t *node, size_t *len)
{
    const metrics_t *m = &node->metrics;
    strbuf_t s = {0};
    counter(&s, "trellis_connections_accepted_total", "Connections accepted.", "counter",
            m->connections_accepted);
    counter(&s, "trellis_connections_refused_total",
            "Connections closed at once: over max_connections.", "counter", m->connections_refused);
    counter(&s, "trellis_connections_open", "Connections open now.", "gauge", m->connections_open);
    counter(&s, "trellis_requests_queued", "Requests received and not yet answered.", "gauge",
            node->queued_requests);
    counter(&s, "trellis_queued_body_bytes",
            "Bytes of request bodies held by queued requests and batches being stored.", "gauge",
            node->queued_body_bytes);
    counter(&s, "trellis_requests_shed_total",
            "Requests answered 503 at once: over [limits] max_queued_requests, "
            "max_queued_per_identity or max_queued_body_bytes.",
            "counter", m->requests_shed);
    counter(&s, "trellis_public_connections_open", "Connections open now on the public listener.",
            "gauge", node->n_public_conns);
    counter(&s, "trellis_public_connections_refused_total",
            "Public listener connections closed at accept: over [public] max_connections or "
            "max_connections_per_address.",
            "counter", m->public_connections_refused);
    counter(&s, "trellis_viewer_connections_open", "Connections open now on the viewer listener.",
            "gauge", node->n_viewer_conns);
    counter(&s, "trellis_viewer_connections_refused_total",
            "Viewer listener connections closed at accept: over [viewer] max_connections, or "
            "from an address neither loopback nor a trusted proxy.",
            "counter", m->viewer_connections_refused);
    counter(&s, "trellis_tls_handshakes_total", "Mutual-TLS handshakes completed.", "counter",
            m->handshakes);
    tls_expiry_t items[TLS_EXPIRY_MAX];
    size_t n_items = tls_expiry_list(node->ssl_ctx, items, TLS_EXPIRY_MAX);
    time_t now = time(NULL);
    strbuf_puts(&s, "# HELP trellis_tls_expiry_seconds Seconds until each CRL's next update "
                    "and each certificate's expiry (negative: past).\n"
                    "# TYPE trellis_tls_expiry_seconds gauge\n");
    for (size_t i = 0; i < n_items; i++)
        strbuf_printf(&s, "trellis_tls_expiry_seconds{what=\"%s\",name=\"%s\"} %lld\n",
                      items[i].what, items[i].name, (long long)(items[i].at - now));
    strbuf_printf(&s,
                  "# HELP trellis_tls_handshake_failures_total TLS handshakes refused, by reason.\n"
                  "# TYPE trellis_tls_handshake_failures_total counter\n");
    for (int i = 1; i < TLS_FAIL_COUNT_; i++)
        strbuf_printf(&s, "trellis_tls_handshake_failures_total{reason=\"%s\"} %llu\n",
                      tls_fail_name((tls_fail_t)i), (unsigned long long)m->handshake_failures[i]);
    counter(&s, "trellis_http_protocol_errors_total", "Malformed requests refused.", "counter",
            m->protocol_errors);

    strbuf_printf(&s, "# HELP trellis_http_requests_total Requests answered, by route and status.\n"
                      "# TYPE trellis_http_requests_total counter\n");
    for (int r = 0; r < METRICS_MAX_ROUTES; r++) {
        const char *name = r == METRICS_MAX_ROUTES - 1 ? "none" : router_name(r);
        if (r >= router_count() && r != METRICS_MAX_ROUTES - 1)
            continue;
        for (int i = 0; i <= N_LISTED; i++) {
            if (!m->requests[r][i])
                continue;
            if (i < N_LISTED)
                strbuf_printf(&s, "trellis_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                              name, statuses[i], (unsigned long long)m->requests[r][i]);
            else
                strbuf_printf(&s,
                              "trellis_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                              name, (unsigned long long)m->requests[r][i]);
        }
    }

    strbuf_printf(
        &s,
        "# HELP trellis_http_request_duration_seconds Time from a request's arrival to its reply.\n"
        "# TYPE trellis_http_request_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (int b = 0; b < METRICS_LATENCY_BUCKETS; b++) {
        cum += m->latency_buckets[b];
        strbuf_printf(&s, "trellis_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                      bounds[b], cum);
    }
    cum += m->latency_buckets[METRICS_LATENCY_BUCKETS];
    strbuf_printf(&s, "trellis_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    strbuf_printf(&s, "trellis_http_request_duration_seconds_sum %.6f\n", m->latency_sum);
    strbuf_printf(&s, "trellis_http_request_duration_seconds_count %llu\n",
                  (unsigned long long)m->latency_count);

    db_stats_t st;
    db_pool_stats(node->db, &st);
    counter(&s, "trellis_db_pool_size", "Configured PostgreSQL connections.", "gauge", st.size);
    counter(&s, "trellis_db_pool_connected", "PostgreSQL connections up.", "gauge", st.connected);
    counter(&s, "trellis_db_pool_busy", "PostgreSQL connections running a query.", "gauge",
            st.busy);
    counter(&s, "trellis_db_pool_queued", "Queries waiting for a connection.", "gauge", st.queued);
    counter(&s, "trellis_db_queries_total", "Queries run.", "counter", st.queries);
    counter(&s, "trellis_db_errors_total", "Queries that failed.", "counter", st.errors);
    counter(&s, "trellis_db_reconnects_total", "PostgreSQL reconnections.", "counter",
            st.reconnects);
    strbuf_printf(&s,
                  "# HELP trellis_db_schema_version Highest applied migration.\n"
                  "# TYPE trellis_db_schema_version gauge\ntrellis_db_schema_version %d\n",
                  st.schema_version);
    uint64_t hits, misses;
    view_cache_counts(&hits, &misses);
    counter(&s, "trellis_view_cache_hits_total",
            "Replies and results taken from the reply cache (view_cache.h).", "counter", hits);
    counter(&s, "trellis_view_cache_misses_total",
            "Cache lookups that found nothing fresh: the query ran.", "counter", misses);
    dir_index_stats_t dix;
    dir_index_stats(node, &dix);
    counter(&s, "trellis_dir_index_entries",
            "Services held by this process's directory index (0 until loaded, or when off).",
            "gauge", dix.entries);
    counter(&s, "trellis_dir_index_bytes",
            "Memory the directory index counts against [directory] index_max_mb: filter fields "
            "and the services' documents.",
            "gauge", dix.bytes);
    counter(&s, "trellis_dir_index_reloads_total",
            "Full loads of the directory index: the first, and after a restore or a postcode load.",
            "counter", dix.reloads);
    counter(&s, "trellis_dir_index_refreshes_total",
            "Times the directory index took the services stored since it was last current.",
            "counter", dix.refreshes);
    counter(&s, "trellis_dir_index_answers_total", "Directory listings computed from the index.",
            "counter", dix.answers);
    counter(&s, "trellis_dir_index_searches_total",
            "Directory listings with a full-text search answered from the index.", "counter",
            dix.searches);
    counter(&s, "trellis_dir_index_searches_memory_total",
            "Of them, searches evaluated in memory over the index's lexemes.", "counter",
            dix.searches_memory);
    counter(&s, "trellis_dir_index_tsq_kept_total",
            "Of them, searches whose tsquery was kept: no round trip to the database.", "counter",
            dix.tsq_kept);
    counter(&s, "trellis_dir_index_searches_kept_total",
            "Of them, searches (phrases) answered from the database's matches kept, with no query.",
            "counter", dix.searches_kept);
    counter(&s, "trellis_dir_index_centres_kept_total",
            "Directory listings by a postcode whose centre was kept: no round trip.", "counter",
            dix.centres_kept);
    counter(&s, "trellis_dir_index_sql_answers_total",
            "Directory listings answered by the SQL query instead (index off, loading, behind).",
            "counter", dix.sql_answers);
    sync_metrics(node, &s);
    /* With [node] workers > 1 each scrape is answered by one worker and every
     * figure above is that process's own: this says which (docs/workers.md). */
    strbuf_printf(&s,
                  "# HELP trellis_worker The worker process that answered ([node] workers; 0: "
                  "a single process), with its pid.\n"
                  "# TYPE trellis_worker gauge\ntrellis_worker{pid=\"%d\"} %u\n",
                  (int)getpid(), node->cfg.worker);
    return strbuf_take(&s, len);
}
