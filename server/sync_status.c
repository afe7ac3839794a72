/* What the pull loop shows: /v1/fed/status (and so `trellis status`) and
 * the federation lines of /metrics. */
#include "sync_int.h"
#include "sync_pull.h"
#include "tr_protocol.h"

#include <stdio.h>

static const char *const state_names[] = {
    [P_IDLE] = "idle",
    [P_LOCK] = "taking the pull lock",
    [P_STANDBY] = "standby: another process pulls",
    [P_CURSOR] = "reading cursor",
    [P_FETCH] = "fetching",
    [P_VERIFY] = "verifying",
    [P_CERTS] = "fetching certificates",
    [P_APPLY] = "applying",
    [P_BACKOFF] = "waiting to retry",
};

static void put_time(json_t *o, const char *key, time_t t)
{
    if (!t) {
        json_object_set_new(o, key, json_null());
        return;
    }
    char buf[32];
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(o, key, json_string(buf));
}

json_t *sync_status(const node_t *node)
{
    json_t *peers = json_array();
    const sync_t *s = node->sync;
    time_t now = time(NULL);
    for (size_t i = 0; s && i < s->n_peers; i++) {
        const sync_peer_t *p = &s->peers[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "peer", p->cfg->name, "org", p->cfg->org,
                              "url", p->cfg->url, "state",
                              p->incompatible ? "incompatible" : state_names[p->state]);
        /* The version of its last reply: null before the first. */
        json_object_set_new(o, "protocol",
                            p->peer_protocol ? json_integer(p->peer_protocol) : json_null());
        /* Not p->cursor, which a back-off forgets until it reads it again. */
        json_object_set_new(o, "cursor",
                            p->shown_cursor >= 0 ? json_integer(p->shown_cursor) : json_null());
        json_object_set_new(o, "peer_head", json_integer(p->head));
        json_object_set_new(o, "lag_records",
                            json_integer(p->shown_cursor >= 0 && p->head > p->shown_cursor
                                             ? p->head - p->shown_cursor
                                             : 0));
        put_time(o, "last_success", p->last_success);
        /* Seconds since this node last had everything the peer had: 0 while
         * it long-polls with everything, not while a retry is on its way. */
        json_object_set_new(
            o, "lag_seconds",
            p->caught_up_at
                ? json_integer(p->caught_up && p->state == P_FETCH ? 0 : now - p->caught_up_at)
                : json_null());
        json_object_set_new(o, "last_error",
                            p->last_error[0] ? json_string(p->last_error) : json_null());
        put_time(o, "last_error_at", p->last_error_at);
        json_object_set_new(o, "stored", json_integer((json_int_t)p->stored));
        json_object_set_new(o, "unchanged", json_integer((json_int_t)p->unchanged));
        json_object_set_new(o, "refused", json_integer((json_int_t)p->refused));
        json_object_set_new(o, "protocol_errors", json_integer((json_int_t)p->protocol_errors));
        json_t *rec = recover_peer_status(p);
        json_object_update(o, rec);
        json_decref(rec);
        json_array_append_new(peers, o);
    }
    json_t *st = json_pack("{s:s, s:{s:i, s:i}, s:o}", "org", node->org, "protocol", "version",
                           TR_PROTOCOL_VERSION, "min", TR_PROTOCOL_MIN, "peers", peers);
    if (s)
        json_object_set_new(st, "recovery", recover_status(s));
    return st;
}

void sync_metrics(const node_t *node, strbuf_t *out)
{
    const sync_t *s = node->sync;
    if (!s)
        return;
    strbuf_puts(out, "# HELP trellis_fed_records_refused_total Pulled records refused, by "
                     "reason.\n# TYPE trellis_fed_records_refused_total counter\n");
    for (int i = 0; i < SYNC_REFUSED_COUNT_; i++)
        strbuf_printf(out, "trellis_fed_records_refused_total{reason=\"%s\"} %llu\n",
                      sync_refusal_name((sync_refusal_t)i),
                      (unsigned long long)s->refused_by_reason[i]);
    strbuf_puts(out, "# HELP trellis_fed_records_stored_total Pulled records stored, by peer.\n"
                     "# TYPE trellis_fed_records_stored_total counter\n");
    for (size_t i = 0; i < s->n_peers; i++)
        strbuf_printf(out, "trellis_fed_records_stored_total{peer=\"%s\"} %llu\n",
                      s->peers[i].cfg->name, (unsigned long long)s->peers[i].stored);
    strbuf_puts(out, "# HELP trellis_fed_protocol_errors_total Replies of the peer that broke "
                     "the protocol (each backed off).\n"
                     "# TYPE trellis_fed_protocol_errors_total counter\n");
    for (size_t i = 0; i < s->n_peers; i++)
        strbuf_printf(out, "trellis_fed_protocol_errors_total{peer=\"%s\"} %llu\n",
                      s->peers[i].cfg->name, (unsigned long long)s->peers[i].protocol_errors);
    strbuf_puts(out, "# HELP trellis_fed_lag_records Records the peer has that this node has "
                     "not pulled yet.\n# TYPE trellis_fed_lag_records gauge\n");
    for (size_t i = 0; i < s->n_peers; i++) {
        const sync_peer_t *p = &s->peers[i];
        strbuf_printf(out, "trellis_fed_lag_records{peer=\"%s\"} %lld\n", p->cfg->name,
                      (long long)(p->shown_cursor >= 0 && p->head > p->shown_cursor
                                      ? p->head - p->shown_cursor
                                      : 0));
    }
    strbuf_puts(out, "# HELP trellis_fed_feed_went_back_total Times the peer's feed went back "
                     "under this node's cursor (a restore or a failover of the peer).\n"
                     "# TYPE trellis_fed_feed_went_back_total counter\n");
    for (size_t i = 0; i < s->n_peers; i++)
        strbuf_printf(out, "trellis_fed_feed_went_back_total{peer=\"%s\"} %llu\n",
                      s->peers[i].cfg->name, (unsigned long long)s->peers[i].went_back);
    char why[200];
    strbuf_printf(out,
                  "# HELP trellis_recovering 1 while the node refuses writes of its own: it is "
                  "recovering after a restore or a failover.\n# TYPE trellis_recovering gauge\n"
                  "trellis_recovering %d\n",
                  sync_taking_writes((node_t *)node, why, sizeof(why)) ? 0 : 1);
    strbuf_puts(out, "# HELP trellis_fed_last_success_seconds Unix time of the last batch "
                     "applied.\n# TYPE trellis_fed_last_success_seconds gauge\n");
    for (size_t i = 0; i < s->n_peers; i++)
        strbuf_printf(out, "trellis_fed_last_success_seconds{peer=\"%s\"} %lld\n",
                      s->peers[i].cfg->name, (long long)s->peers[i].last_success);
}
