/* Getting back what a restore or a failover lost (docs/federation.md,
 * "Restores and failovers"). At every start the node begins a new epoch of
 * its feed, asks each peer it pulls from what it has seen of that feed, and
 * takes no write of its own until it knows nothing was lost or has pulled
 * back from every peer its own records they hold. */
#include "log.h"
#include "sync_int.h"
#include "sync_pull.h"
#include "tr_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPOCH_RETRY_MS 1000

static const char *const rec_names[] = {
    [REC_STARTING] = "starting", [REC_CHECKING] = "checking",       [REC_RECOVERING] = "recovering",
    [REC_DONE] = "done",         [REC_UNCONFIRMED] = "unconfirmed", [REC_INCOMPLETE] = "incomplete",
};

static uint64_t own_total(const sync_t *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->n_peers; i++)
        n += s->peers[i].own_recovered;
    return n;
}

/* The peers named by a test of each, as a JSON array (new reference). */
static json_t *peers_where(const sync_t *s, bool (*test)(const sync_peer_t *))
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_peers; i++)
        if (test(&s->peers[i]))
            json_array_append_new(a, json_string(s->peers[i].cfg->name));
    return a;
}

static bool pass_pending(const sync_peer_t *p)
{
    return p->recover_pass;
}

static bool unreached(const sync_peer_t *p)
{
    return !p->checked && p->check_failed;
}

static bool detected_by(const sync_peer_t *p)
{
    return p->detected;
}

static void enter(sync_t *s, rec_state_t st)
{
    recovery_t *r = &s->rec;
    if (r->state == st)
        return;
    r->state = st;
    uint64_t now = uv_now(s->node->loop);
    if (st == REC_RECOVERING) {
        r->deadline_ms = now + s->node->cfg.recovery_timeout_ms;
        r->finished_at = 0;
        log_event(LOG_WARN, "recovery_started",
                  json_pack("{s:s, s:o, s:o}", "epoch", r->epoch, "detected_by",
                            peers_where(s, detected_by), "waiting_for",
                            peers_where(s, pass_pending)));
        return;
    }
    r->finished_at = time(NULL);
    if (st == REC_DONE)
        log_event(r->detected ? LOG_WARN : LOG_INFO, "recovery_done",
                  json_pack("{s:s, s:b, s:I}", "epoch", r->epoch, "went_back", r->detected,
                            "own_records_recovered", (json_int_t)own_total(s)));
    else if (st == REC_UNCONFIRMED)
        log_event(LOG_WARN, "recovery_unconfirmed",
                  json_pack("{s:s, s:o, s:s}", "epoch", r->epoch, "unreached",
                            peers_where(s, unreached), "action",
                            "writes are taken; each peer is asked when it can be reached, and "
                            "writes stop again if one has seen more of this node's feed"));
    else if (st == REC_INCOMPLETE)
        log_event(LOG_ERROR, "recovery_incomplete",
                  json_pack("{s:s, s:o, s:I, s:s}", "epoch", r->epoch, "waiting_for",
                            peers_where(s, pass_pending), "own_records_recovered",
                            (json_int_t)own_total(s), "action",
                            "[node] recovery_timeout passed: writes are taken again; the "
                            "records those peers hold come back when they can be reached"));
}

/* Decide the state from the peers' (lazily: the deadline is checked here,
 * whenever anyone asks). */
static void update(sync_t *s)
{
    recovery_t *r = &s->rec;
    if (r->state == REC_STARTING || s->stopping)
        return;
    bool asked = true, failed = false, pending = false;
    for (size_t i = 0; i < s->n_peers; i++) {
        const sync_peer_t *p = &s->peers[i];
        if (!p->checked && !p->check_failed)
            asked = false;
        if (!p->checked && p->check_failed)
            failed = true;
        if (p->recover_pass)
            pending = true;
    }
    bool late = uv_now(s->node->loop) >= r->deadline_ms;
    switch (r->state) {
    case REC_CHECKING:
        if (r->detected)
            enter(s, pending ? REC_RECOVERING : REC_DONE);
        else if (asked)
            enter(s, failed ? REC_UNCONFIRMED : REC_DONE);
        else if (late)
            enter(s, REC_UNCONFIRMED);
        break;
    case REC_RECOVERING:
        if (!pending)
            enter(s, REC_DONE);
        else if (late)
            enter(s, REC_INCOMPLETE);
        break;
    default:
        /* Every peer asked at last, or every pass done after the timeout. */
        if ((r->state == REC_UNCONFIRMED && !failed && asked) ||
            (r->state == REC_INCOMPLETE && !pending))
            enter(s, REC_DONE);
        break;
    }
}

/* ---- the epoch ---- */

static void make_epoch(sync_t *s);

static void on_epoch_retry(uv_timer_t *t)
{
    make_epoch(t->data);
}

static void on_epoch(void *ud, const PGresult *res, const char *err)
{
    sync_t *s = ud;
    recovery_t *r = &s->rec;
    r->dbq = NULL;
    if (s->stopping)
        return;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        log_event(LOG_WARN, "feed_epoch_failed",
                  json_pack("{s:s}", "error", res ? PQresultErrorMessage(res) : err));
        uv_timer_start(&r->timer, on_epoch_retry, EPOCH_RETRY_MS, 0);
        return;
    }
    snprintf(r->epoch, sizeof(r->epoch), "%s", PQgetvalue(res, 0, 0));
    r->epoch_start = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    r->state = REC_CHECKING;
    r->deadline_ms = uv_now(s->node->loop) + s->node->cfg.recovery_timeout_ms;
    log_event(LOG_INFO, "feed_epoch",
              json_pack("{s:s, s:I}", "epoch", r->epoch, "start_seq", (json_int_t)r->epoch_start));
    update(s); /* no peers to pull from: nothing to wait for */
    sync__begin(s);
}

static void make_epoch(sync_t *s)
{
    int rc = db_query(s->node->db, "SELECT epoch, n, start_seq FROM trellis_feed_epoch_new()", 0,
                      NULL, on_epoch, s, &s->rec.dbq);
    if (rc != 0)
        uv_timer_start(&s->rec.timer, on_epoch_retry, EPOCH_RETRY_MS, 0);
}

void recover_start(sync_t *s)
{
    recovery_t *r = &s->rec;
    r->state = REC_STARTING;
    r->started_at = time(NULL); /* r->timer: sync_start made it, sync_stop closes it */
    for (size_t i = 0; i < s->n_peers; i++) {
        s->peers[i].recover_pass = true;
        s->peers[i].recover_until = -1;
    }
    make_epoch(s);
}

void recover_stop(sync_t *s)
{
    if (s->rec.dbq) {
        db_query_cancel(s->rec.dbq); /* its callback will not come */
        s->rec.dbq = NULL;
    }
    uv_timer_stop(&s->rec.timer);
}

/* ---- what the peers say ---- */

static void on_checked(void *ud, const PGresult *res, const char *err)
{
    sync_peer_t *p = ud;
    sync_t *s = p->sync;
    p->check_dbq = NULL;
    p->busy--;
    if (p->stopping)
        return; /* sync_stop frees once the peers settle: the pull loop's timer does that */
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        return; /* asked again with the next reply */
    p->checked = true;
    p->check_failed = false;
    if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        p->detected = true;
        s->rec.detected = true;
        s->rec.detected_at = time(NULL);
        log_event(LOG_WARN, "feed_went_back",
                  json_pack("{s:s, s:s, s:s}", "peer", p->cfg->name, "epoch", s->rec.epoch,
                            "detail",
                            "the peer has seen more of this node's feed than its database holds "
                            "(a restore, a point-in-time recovery or a failover): this node's "
                            "own records are pulled back before it takes writes"));
        /* A peer reached only after writes were opened: stop them again
         * until its pass (and any other still pending) is done. */
        if (s->rec.state >= REC_DONE && p->recover_pass)
            enter(s, REC_RECOVERING);
    }
    update(s);
}

void recover_on_reply(sync_peer_t *p)
{
    sync_t *s = p->sync;
    const sync_batch_t *b = &p->batch;
    if (p->checked || p->check_dbq || s->rec.state == REC_STARTING)
        return;
    if (!b->has_your) {
        /* The peer has never pulled from us (or is a node without epochs). */
        p->checked = true;
        p->check_failed = false;
        update(s);
        return;
    }
    char cursor[24];
    snprintf(cursor, sizeof(cursor), "%lld", (long long)b->your_cursor);
    const char *params[4] = {b->your_epoch[0] ? b->your_epoch : NULL, cursor,
                             b->your_went_back_epoch[0] ? b->your_went_back_epoch : NULL,
                             s->rec.epoch};
    int rc = db_query(s->node->db,
                      "SELECT trellis_feed_went_back($1::uuid, $2::bigint, $3::uuid, $4::uuid)", 4,
                      params, on_checked, p, &p->check_dbq);
    if (rc == 0)
        p->busy++;
}

void recover_on_failure(sync_peer_t *p)
{
    if (p->checked || p->check_failed)
        return;
    p->check_failed = true;
    update(p->sync);
}

void recover_on_standby(sync_peer_t *p)
{
    /* Another process on this database pulls from the peer: it has been
     * running on this database, and its own start did the recovery. */
    p->recover_pass = false;
    if (!p->checked) {
        p->checked = true;
        p->check_failed = false;
    }
    update(p->sync);
}

void recover_on_batch(sync_peer_t *p)
{
    const sync_batch_t *b = &p->applying;
    if (b->went_back) {
        p->went_back++;
        p->went_back_at = time(NULL);
        p->went_back_from = p->cursor;
        p->went_back_to = b->reply_since;
        log_event(LOG_WARN, "sync_feed_went_back",
                  json_pack("{s:s, s:I, s:I, s:s}", "peer", p->cfg->name, "from",
                            (json_int_t)p->went_back_from, "to", (json_int_t)p->went_back_to,
                            "epoch", b->epoch));
    }
    if (b->epoch[0])
        memcpy(p->epoch, b->epoch, sizeof(p->epoch));
}

void recover_on_applied(sync_peer_t *p, bool more)
{
    if (p->recover_pass && (!more || (p->recover_until >= 0 && p->cursor >= p->recover_until))) {
        p->recover_pass = false;
        log_event(LOG_INFO, "recovery_peer_done",
                  json_pack("{s:s, s:I}", "peer", p->cfg->name, "own_records_recovered",
                            (json_int_t)p->own_recovered));
    }
    update(p->sync);
}

/* ---- what others ask ---- */

bool sync_taking_writes(node_t *node, char *why, size_t why_len)
{
    sync_t *s = node->sync;
    if (!s)
        return true;
    update(s);
    switch (s->rec.state) {
    case REC_STARTING:
    case REC_CHECKING:
        snprintf(why, why_len,
                 "the node is recovering: it is asking its peers whether they hold records of "
                 "its own that its database lost (a restore or a failover)");
        return false;
    case REC_RECOVERING:
        snprintf(why, why_len,
                 "the node is recovering: its database went back (a restore or a failover) and "
                 "it is pulling back its own records from its peers before it takes new ones");
        return false;
    default:
        return true;
    }
}

bool sync_feed_ready(const node_t *node)
{
    return !node->sync || node->sync->rec.state != REC_STARTING;
}

json_t *recover_status(const sync_t *s)
{
    const recovery_t *r = &s->rec;
    update((sync_t *)s);
    json_t *o = json_pack("{s:s, s:b, s:I}", "state", rec_names[r->state], "went_back", r->detected,
                          "own_records_recovered", (json_int_t)own_total(s));
    json_object_set_new(o, "epoch", r->epoch[0] ? json_string(r->epoch) : json_null());
    json_object_set_new(o, "detected_by", peers_where(s, detected_by));
    json_object_set_new(o, "waiting_for", peers_where(s, pass_pending));
    json_object_set_new(o, "unreached", peers_where(s, unreached));
    return o;
}

json_t *recover_peer_status(const sync_peer_t *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "feed_epoch", p->epoch[0] ? json_string(p->epoch) : json_null());
    if (p->went_back) {
        json_object_set_new(o, "feed_went_back",
                            json_pack("{s:I, s:I, s:I}", "count", (json_int_t)p->went_back, "from",
                                      (json_int_t)p->went_back_from, "to",
                                      (json_int_t)p->went_back_to));
    } else {
        json_object_set_new(o, "feed_went_back", json_null());
    }
    json_object_set_new(o, "own_records_recovered", json_integer((json_int_t)p->own_recovered));
    json_object_set_new(o, "recovery_pass", json_string(p->recover_pass ? "pending" : "done"));
    json_object_set_new(o, "saw_our_feed_go_back", json_boolean(p->detected));
    return o;
}
