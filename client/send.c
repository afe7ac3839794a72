/* The send loop (send.h). Each round takes the oldest queued records, cuts
 * them into up to [node] parallel batches, sends the batches at once and
 * applies the answers in queue order. An event sent in the same round as
 * its referral may reach the node first and be refused as `no_referral`
 * (`no_entry` for a feedback response): such a record stays queued for the
 * next round once, and is only moved to the refused list if the node refuses
 * it again. */
#include "send.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static progress_t *waiting_progress;

static void on_wait(double seconds, const char *why)
{
    if (waiting_progress)
        progress_wait(waiting_progress, seconds, why);
}

/* {"records":[doc,doc,...]} from the spooled texts, which are JSON already. */
static char *batch_body(const spool_item_t *items, size_t n, size_t *len)
{
    size_t total = 16;
    for (size_t i = 0; i < n; i++)
        total += strlen(items[i].doc) + 1;
    char *body = malloc(total);
    if (!body)
        abort();
    size_t off = (size_t)snprintf(body, total, "{\"records\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            body[off++] = ',';
        size_t l = strlen(items[i].doc);
        memcpy(body + off, items[i].doc, l);
        off += l;
    }
    memcpy(body + off, "]}", 3);
    *len = off + 2;
    return body;
}

static const char *problem_detail(const node_reply_t *r, char *buf, size_t len)
{
    json_t *doc = json_loadb(r->body, r->len, 0, NULL);
    const char *d = json_string_value(json_object_get(doc, "detail"));
    snprintf(buf, len, "%s", d ? d : "");
    json_decref(doc);
    return buf;
}

/* Records held back once because their referral or entry was in flight. */
typedef struct {
    int64_t *seqs;
    size_t n, cap;
} deferred_t;

#define MAX_DEFERRED 100000

static bool deferred_has(const deferred_t *d, int64_t seq)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->seqs[i] == seq)
            return true;
    return false;
}

/* True when the only error is that the referral (or entry) is not known yet. */
static bool waits_for_parent(json_t *res)
{
    json_t *errors = json_object_get(res, "errors");
    const char *code = json_string_value(json_object_get(json_array_get(errors, 0), "code"));
    return json_array_size(errors) == 1 && code &&
           (!strcmp(code, "no_referral") || !strcmp(code, "no_entry"));
}

/* apply()'s spool failure, apart from a malformed answer (SEND_E_LOCAL). */
#define APPLY_E_SPOOL (-100)

/* What one batch's answers did, for the progress once they are committed. */
typedef struct {
    int64_t sent, stored, unchanged, refused;
} tally_t;

/* Apply the node's answer to one batch inside the round's transaction. The
 * answer is checked whole before anything changes, so that a malformed
 * answer leaves the spool as it was; a spool error fails the round. */
static int apply(spool_t *s, const spool_item_t *items, size_t n, const node_reply_t *r, tally_t *t,
                 deferred_t *d, char *err, size_t err_len)
{
    json_t *doc = json_loadb(r->body, r->len, 0, NULL);
    json_t *results = json_object_get(doc, "results");
    size_t i;
    json_t *res;
    bool good = json_is_array(results) && json_array_size(results) == n;
    json_array_foreach(results, i, res)
    {
        json_int_t idx = json_integer_value(json_object_get(res, "index"));
        if (!good || idx < 0 || (size_t)idx >= n ||
            !json_string_value(json_object_get(res, "result")))
            good = false;
    }
    if (!good) {
        json_decref(doc);
        snprintf(err, err_len, "the node's answer does not match the batch sent");
        return SEND_E_LOCAL;
    }
    int64_t held = 0;
    json_array_foreach(results, i, res)
    {
        json_int_t idx = json_integer_value(json_object_get(res, "index"));
        const char *what = json_string_value(json_object_get(res, "result"));
        int rc = 0;
        if (strcmp(what, "stored") == 0 || strcmp(what, "unchanged") == 0) {
            rc = spool_done(s, &items[idx], err, err_len);
            if (what[0] == 's')
                t->stored++;
            else
                t->unchanged++;
        } else if (waits_for_parent(res) && d->n < MAX_DEFERRED &&
                   !deferred_has(d, items[idx].seq)) {
            if (d->n == d->cap) {
                d->cap = d->cap ? d->cap * 2 : 64;
                d->seqs = realloc(d->seqs, d->cap * sizeof(*d->seqs));
                if (!d->seqs)
                    abort();
            }
            d->seqs[d->n++] = items[idx].seq;
            held++;
        } else {
            char *errors = json_dumps(json_object_get(res, "errors"), JSON_COMPACT);
            rc = spool_refused(s, &items[idx], errors ? errors : "[]", err, err_len);
            free(errors);
            t->refused++;
        }
        if (rc != 0) {
            json_decref(doc);
            return APPLY_E_SPOOL;
        }
    }
    json_decref(doc);
    t->sent = (int64_t)n - held;
    return SEND_OK;
}

int send_queue(spool_t *s, node_http_t *h, const agent_config_t *c, progress_t *p, char *err,
               size_t err_len)
{
    size_t batch = (size_t)c->batch;
    size_t parallel = c->parallel > 0 ? (size_t)c->parallel : 1;
    if (parallel > NODE_MAX_PARALLEL)
        parallel = NODE_MAX_PARALLEL;
    spool_counts_t counts;
    if (spool_counts(s, &counts, err, err_len) != 0)
        return SEND_E_LOCAL;
    progress_expect(p, counts.queued);
    waiting_progress = p;
    deferred_t deferred = {0};
    int rc = SEND_OK;
    for (;;) {
        spool_item_t *items;
        size_t n;
        if (spool_next(s, batch * parallel, &items, &n, err, err_len) != 0) {
            rc = SEND_E_LOCAL;
            break;
        }
        /* Every record leaves the queue or is held back once, so this ends. */
        if (n == 0) {
            spool_items_free(items, n);
            break;
        }
        size_t n_jobs = (n + batch - 1) / batch;
        node_job_t jobs[NODE_MAX_PARALLEL];
        char *bodies[NODE_MAX_PARALLEL];
        for (size_t j = 0; j < n_jobs; j++) {
            size_t from = j * batch, cnt = n - from < batch ? n - from : batch;
            bodies[j] = batch_body(items + from, cnt, &jobs[j].len);
            jobs[j].body = bodies[j];
        }
        node_http_post_many(h, "/v1/records", jobs, n_jobs, c->retry_for, on_wait);
        /* Apply in queue order, stopping at the first batch without an
         * answer, in one transaction for the round: each commit is an fsync
         * and a rewrite of the queue's index pages it touched. */
        size_t shrink_to = 0, applied = 0;
        tally_t tallies[NODE_MAX_PARALLEL] = {0};
        bool in_tx = false, spool_failed = false;
        for (size_t j = 0; j < n_jobs; j++) {
            size_t from = j * batch, cnt = n - from < batch ? n - from : batch;
            node_job_t *job = &jobs[j];
            if (rc == SEND_OK && job->rc != NODE_OK) {
                snprintf(err, err_len, "%s", job->err);
                rc = job->rc == NODE_E_LOCAL ? SEND_E_LOCAL : SEND_E_UNREACHABLE;
            } else if (rc == SEND_OK && job->reply.status == 413 && cnt > 1) {
                /* Over the node's batch or body limit: smaller batches from now on. */
                shrink_to = cnt / 2;
            } else if (rc == SEND_OK && job->reply.status != 200) {
                char detail[300];
                problem_detail(&job->reply, detail, sizeof(detail));
                snprintf(err, err_len, "the node did not take the batch: %ld%s%s",
                         job->reply.status, detail[0] ? ": " : "", detail);
                rc = job->reply.status >= 500 ? SEND_E_UNREACHABLE : SEND_E_LOCAL;
            } else if (rc == SEND_OK) {
                if (!in_tx && spool_begin(s, err, err_len) != 0)
                    rc = SEND_E_LOCAL;
                else
                    in_tx = true;
                if (rc == SEND_OK)
                    rc = apply(s, items + from, cnt, &job->reply, &tallies[applied], &deferred, err,
                               err_len);
                if (rc == APPLY_E_SPOOL) {
                    spool_failed = true;
                    rc = SEND_E_LOCAL;
                } else if (rc == SEND_OK) {
                    applied++;
                }
            }
            if (job->rc == NODE_OK)
                node_reply_free(&job->reply);
            free(bodies[j]);
        }
        /* A malformed answer changed nothing: the batches before it stand.
         * A spool error takes the whole round back; its records are sent
         * again and answered `unchanged`. */
        if (in_tx && spool_failed) {
            spool_rollback(s);
        } else if (in_tx && spool_commit(s, err, err_len) != 0) {
            rc = SEND_E_LOCAL;
        } else {
            for (size_t j = 0; j < applied; j++)
                progress_batch(p, tallies[j].sent, tallies[j].stored, tallies[j].unchanged,
                               tallies[j].refused);
        }
        spool_items_free(items, n);
        if (shrink_to)
            batch = shrink_to;
        if (rc != SEND_OK)
            break;
    }
    free(deferred.seqs);
    waiting_progress = NULL;
    char when[32];
    snprintf(when, sizeof(when), "%lld", (long long)time(NULL));
    spool_state_set(s, "last_push_at", when);
    spool_state_set(s, "last_push_result", rc == SEND_OK ? "ok" : err);
    if (rc == SEND_OK)
        spool_state_set(s, "last_success_at", when);
    return rc;
}
