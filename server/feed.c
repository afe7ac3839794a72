/* Change feed with long-poll: a waiting request sits on the node's list until
 * a commit wakes it (feed_wake: a local store, or a NOTIFY from another
 * process on the same database) or its deadline passes. A reader that names
 * the epoch its cursor is in resumes from the last point that epoch has in
 * common with the database as it is now (sql/007: a restore, a failover). */
#include "feed.h"
#include "query.h"
#include "response.h"
#include "strbuf.h"
#include "sync_pull.h"
#include "tr_check.h"
#include "tr_error.h"
#include "tr_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct changes_wait {
    uv_timer_t timer;
    req_t *req; /* NULL once answered or aborted */
    node_t *node;
    int64_t since, limit; /* a negative limit: answer now, even if empty */
    uint64_t deadline;    /* loop time when a long-poll answers empty */
    feed_filter_t filter;
    char kinds[128];             /* the filter's kinds as a PostgreSQL array literal */
    char epoch[TR_UUID_LEN + 1]; /* the reader's epoch, "" once the resume point is known */
    bool recover;                /* a peer's own records too (recover=1) */
    bool resumed;                /* the first query has said where to resume */
    bool rewound;                /* and it was before since: the feed went back */
    int64_t from;                /* what the reply reads after: since, or where it resumed */
    bool waiting;
    struct changes_wait *prev, *next;
};

static void feed_query(struct changes_wait *cw);

static void on_wait_closed(uv_handle_t *h)
{
    free(h->data);
}

static void unlink_waiter(struct changes_wait *cw)
{
    if (!cw->waiting)
        return;
    if (cw->prev)
        cw->prev->next = cw->next;
    else
        cw->node->waiters = cw->next;
    if (cw->next)
        cw->next->prev = cw->prev;
    cw->prev = cw->next = NULL;
    cw->waiting = false;
}

static void feed_finish(struct changes_wait *cw)
{
    unlink_waiter(cw);
    cw->req = NULL;
    uv_timer_stop(&cw->timer);
    uv_close((uv_handle_t *)&cw->timer, on_wait_closed);
}

static void feed_abort(req_t *req)
{
    feed_finish(req->ctx);
}

static void on_wait_timeout(uv_timer_t *t)
{
    struct changes_wait *cw = t->data;
    unlink_waiter(cw);
    cw->limit = -cw->limit;
    feed_query(cw);
}

void feed_shutdown(node_t *node)
{
    while (node->waiters) {
        struct changes_wait *cw = node->waiters;
        unlink_waiter(cw);
        uv_timer_stop(&cw->timer);
        if (cw->limit > 0)
            cw->limit = -cw->limit;
        feed_query(cw);
    }
}

void feed_wake(node_t *node, unsigned kinds)
{
    node->data_generation++; /* the viewer's cached figures are stale (view_cache.h) */
    if (kinds & (1u << TR_KIND_PATHWAY_REFERRAL | 1u << TR_KIND_PATHWAY_EVENT))
        node->pathway_generation++; /* and so are the pathway sums */
    while (node->waiters) {
        struct changes_wait *cw = node->waiters;
        unlink_waiter(cw);
        uv_timer_stop(&cw->timer);
        feed_query(cw);
    }
}

unsigned feed_kinds_of_payload(const char *payload)
{
    unsigned kinds = 0;
    const char *p = payload ? payload : "";
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[32];
        tr_kind_t k;
        if (len == 0 || len >= sizeof(name))
            return FEED_KINDS_ALL;
        memcpy(name, p, len);
        name[len] = '\0';
        if (tr_kind_parse(name, &k) != 0)
            return FEED_KINDS_ALL;
        kinds |= 1u << k;
        p += len + (end ? 1 : 0);
        if (end && !*p)
            return FEED_KINDS_ALL; /* a trailing comma: not what trellis_store sends */
    }
    return kinds ? kinds : FEED_KINDS_ALL;
}

/* What a reader is offered honours each record's audience, the sharing
 * decision its origin signed into it: a peer gets a record only if the
 * audience names the peer's organisation or the whole consortium (and its
 * own share grants the kind); a record signed before audiences existed
 * (audience NULL) is sent only by its origin's node, never relayed. An agent
 * of another organisation reading this node sees the same.
 *
 * Rows: (head, seq, doc, last); one row with NULL seq when nothing is new.
 * last is the highest sequence number in the query's snapshot: a page that
 * is not full has looked at every record up to it, so the cursor moves there
 * even past records the filter left out. Without that, a peer's own records
 * (or, for an agent, other organisations' referrals) would be scanned again
 * from the same cursor on every poll, a cost that grows with the log. */
static void on_changes(void *ud, const PGresult *res, const char *err)
{
    struct changes_wait *cw = ud;
    req_t *req = cw->req;
    req->dbq = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
        req->on_abort = NULL;
        feed_finish(cw);
        response_error(req, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, NULL);
        return;
    }
    int n = PQgetisnull(res, 0, 1) ? 0 : PQntuples(res);
    if (!cw->resumed) {
        /* The reader's epoch is older than the feed's: it resumes from the
         * last common point, and is told at once (below) where that is. */
        int64_t resume = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
        cw->resumed = true;
        cw->epoch[0] = '\0';
        if (resume < cw->since) {
            cw->since = cw->from = resume;
            cw->rewound = true;
        }
    }
    bool final = cw->limit < 0 || cw->rewound;
    int64_t limit = cw->limit < 0 ? -cw->limit : cw->limit;
    int64_t last = PQgetisnull(res, 0, 3) ? 0 : strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    if (n < limit && last > cw->since)
        cw->since = last; /* everything up to last was looked at */
    uint64_t now = uv_now(cw->node->loop);
    if (n == 0 && !final && now < cw->deadline) {
        /* Nothing yet: wait for a commit (feed_wake) or the deadline. */
        uv_timer_start(&cw->timer, on_wait_timeout, cw->deadline - now, 0);
        cw->waiting = true;
        cw->next = cw->node->waiters;
        if (cw->next)
            cw->next->prev = cw;
        cw->node->waiters = cw;
        return;
    }
    strbuf_t out = {0};
    strbuf_puts(&out, "{\"changes\":[");
    int64_t cursor = cw->since;
    for (int i = 0; i < n; i++) {
        int64_t seq = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        if (n == limit)
            cursor = seq; /* a full page: the next one starts after it */
        strbuf_printf(&out, "%s{\"seq\":%lld,\"record\":", i ? "," : "", (long long)seq);
        /* The stored jsonb is already JSON: no parse and re-dump on the loop. */
        strbuf_add(&out, PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2));
        strbuf_puts(&out, "}");
    }
    strbuf_printf(&out, "],\"cursor\":\"%lld\",\"more\":%s,\"head\":%s", (long long)cursor,
                  n == limit ? "true" : "false", PQgetvalue(res, 0, 0));
    /* Values from the database's own types (uuid, bigint): nothing to escape. */
    if (PQgetisnull(res, 0, 5))
        strbuf_puts(&out, ",\"epoch\":null");
    else
        strbuf_printf(&out, ",\"epoch\":\"%s\"", PQgetvalue(res, 0, 5));
    strbuf_printf(&out, ",\"since\":\"%lld\"", (long long)cw->from);
    if (cw->filter.peer_org[0]) {
        if (PQgetisnull(res, 0, 7)) {
            strbuf_puts(&out, ",\"your_cursor\":null");
        } else {
            strbuf_printf(&out, ",\"your_cursor\":{\"cursor\":\"%s\"", PQgetvalue(res, 0, 7));
            for (int col = 6; col <= 8; col += 2) {
                const char *key = col == 6 ? "epoch" : "went_back_epoch";
                if (PQgetisnull(res, 0, col))
                    strbuf_printf(&out, ",\"%s\":null", key);
                else
                    strbuf_printf(&out, ",\"%s\":\"%s\"", key, PQgetvalue(res, 0, col));
            }
            strbuf_puts(&out, "}");
        }
    }
    strbuf_puts(&out, "}");
    size_t len;
    char *body = strbuf_take(&out, &len);
    req->on_abort = NULL;
    feed_finish(cw);
    response_send(req, 200, "application/json", NULL, body, len);
    free(body);
}

static void feed_query(struct changes_wait *cw)
{
    char since[24], limit[24];
    snprintf(since, sizeof(since), "%lld", (long long)cw->since);
    snprintf(limit, sizeof(limit), "%lld", (long long)(cw->limit < 0 ? -cw->limit : cw->limit));
    req_t *req = cw->req;
    int rc;
    const char *epoch = cw->epoch[0] ? cw->epoch : NULL;
    /* Columns: head (the node's latest sequence number, so a reader can tell
     * its lag), seq, doc, last (above), the point resumed from, the feed's
     * epoch, and for a peer this node's cursor on it (epoch, cursor, and the
     * epoch in which this node found the peer's feed went back). */
    if (cw->filter.peer_org[0]) { /* a peer: the kinds shared with it, maybe none */
        const char *params[7] = {since,
                                 limit,
                                 cw->kinds,
                                 cw->filter.peer_org,
                                 cw->recover ? "t" : "f",
                                 epoch,
                                 cw->filter.peer_name};
        rc = db_query(cw->node->db,
                      "WITH r AS (SELECT trellis_feed_resume($6::uuid, $1::bigint) AS since) "
                      "SELECT CASE WHEN h.is_called THEN h.last_value ELSE 0 END, c.seq, c.doc, "
                      "(SELECT seq FROM trellis_changes ORDER BY seq DESC LIMIT 1), r.since, "
                      "(SELECT epoch FROM trellis_feed_epochs ORDER BY n DESC LIMIT 1), "
                      "pc.epoch, pc.cursor, pc.went_back_epoch "
                      "FROM trellis_change_seq h CROSS JOIN r "
                      "LEFT JOIN peer_cursors pc ON pc.peer = $7 LEFT JOIN "
                      "LATERAL (SELECT seq, doc::text AS doc FROM trellis_changes "
                      "WHERE seq > r.since AND ((kind = ANY($3::text[]) AND origin <> $4 "
                      "AND via IS DISTINCT FROM $4 AND (audience && ARRAY[$4, '*'] "
                      "OR (audience IS NULL AND via IS NULL))) OR ($5::boolean AND origin = $4)) "
                      "ORDER BY seq LIMIT $2::int) c ON true ORDER BY c.seq",
                      7, params, on_changes, cw, &req->dbq);
    } else {
        const char *vis = cw->filter.vis_org[0] ? cw->filter.vis_org : NULL;
        const char *params[4] = {since, limit, vis, epoch};
        rc = db_query(cw->node->db,
                      "WITH r AS (SELECT trellis_feed_resume($4::uuid, $1::bigint) AS since) "
                      "SELECT CASE WHEN h.is_called THEN h.last_value ELSE 0 END, c.seq, c.doc, "
                      "(SELECT seq FROM trellis_changes ORDER BY seq DESC LIMIT 1), r.since, "
                      "(SELECT epoch FROM trellis_feed_epochs ORDER BY n DESC LIMIT 1) "
                      "FROM trellis_change_seq h CROSS JOIN r LEFT JOIN "
                      "LATERAL (SELECT seq, doc::text AS doc FROM trellis_changes "
                      "WHERE seq > r.since AND ($3::text IS NULL OR origin = $3 "
                      "OR audience && ARRAY[$3, '*'] "
                      "OR (audience IS NULL AND kind = 'directory.service')) "
                      "ORDER BY seq LIMIT $2::int) c ON true ORDER BY c.seq",
                      4, params, on_changes, cw, &req->dbq);
    }
    if (rc != 0) {
        req->on_abort = NULL;
        feed_finish(cw);
        response_error(req, rc, NULL);
    }
}

void feed_serve(req_t *req, const feed_filter_t *filter)
{
    static const char *const allowed[] = {"since", "limit", "wait", "epoch", NULL};
    static const char *const allowed_peer[] = {"since", "limit", "wait", "epoch", "recover", NULL};
    const char *q = req->http->query, *bad;
    size_t bad_len;
    int64_t since, limit, wait;
    node_t *node = req->conn->node;
    bool peer = filter->peer_org[0] != '\0';
    if (!query_only(q, peer ? allowed_peer : allowed, &bad, &bad_len)) {
        response_problem(req, 400, "unknown-parameter",
                         peer ? "parameters are since, limit, wait, epoch and recover"
                              : "parameters are since, limit, wait and epoch");
        return;
    }
    char epoch[TR_UUID_LEN + 2] = "";
    int has_epoch = query_get(q, "epoch", epoch, sizeof(epoch));
    if (has_epoch < 0 || (has_epoch && !tr_is_uuid(epoch))) {
        response_problem(req, 400, "bad-parameter",
                         "epoch must be the epoch (a lowercase UUID) of an earlier reply");
        return;
    }
    int64_t recover = 0;
    if (peer && query_int(q, "recover", 0, 1, 0, &recover) != 0) {
        response_problem(req, 400, "bad-parameter", "recover must be 0 or 1");
        return;
    }
    if (query_int(q, "since", 0, INT64_MAX, 0, &since) != 0) {
        response_problem(req, 400, "bad-parameter", "since must be a cursor from a reply, or 0");
        return;
    }
    int max_limit = filter->max_limit ? filter->max_limit : 1000;
    if (query_int(q, "limit", 1, max_limit, 100, &limit) != 0) {
        char d[64];
        snprintf(d, sizeof(d), "limit must be between 1 and %d", max_limit);
        response_problem(req, 400, "bad-parameter", d);
        return;
    }
    if (query_int(q, "wait", 0, (int64_t)(node->cfg.max_wait_ms / 1000), 0, &wait) != 0) {
        response_problem(req, 400, "bad-parameter",
                         "wait must be whole seconds, at most [limits] max_wait");
        return;
    }
    if (!sync_feed_ready(node)) {
        /* This start's epoch is not made yet: a reader naming the epoch
         * before it would be taken as current and not told that the feed
         * went back (a restore), and would skip what the new history holds
         * between here and its cursor. */
        response_problem_h(req, 503, "starting",
                           "the node is starting: its feed's epoch for this start is not made "
                           "yet",
                           "Retry-After: 1\r\n");
        return;
    }
    struct changes_wait *cw = calloc(1, sizeof(*cw));
    if (!cw)
        abort();
    cw->req = req;
    cw->node = node;
    cw->since = cw->from = since;
    cw->limit = wait ? limit : -limit;
    cw->filter = *filter;
    snprintf(cw->epoch, sizeof(cw->epoch), "%s", has_epoch ? epoch : "");
    cw->recover = recover == 1;
    strbuf_t kinds = {0};
    strbuf_puts(&kinds, "{");
    for (int k = 0, first = 1; k < TR_KIND_COUNT_; k++) {
        if (filter->kinds & (1u << k)) {
            strbuf_printf(&kinds, "%s%s", first ? "" : ",", tr_kind_name((tr_kind_t)k));
            first = 0;
        }
    }
    strbuf_puts(&kinds, "}");
    snprintf(cw->kinds, sizeof(cw->kinds), "%s", kinds.buf);
    strbuf_free(&kinds);
    cw->deadline = uv_now(node->loop) + (uint64_t)wait * 1000;
    uv_timer_init(node->loop, &cw->timer);
    cw->timer.data = cw;
    req->ctx = cw;
    req->on_abort = feed_abort;
    feed_query(cw);
}
