/* The send loop (send.h). */
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

/* Apply the node's answer to the batch, in one transaction. */
static int apply(spool_t *s, const spool_item_t *items, size_t n, const node_reply_t *r,
                 progress_t *p, char *err, size_t err_len)
{
    json_t *doc = json_loadb(r->body, r->len, 0, NULL);
    json_t *results = json_object_get(doc, "results");
    if (!json_is_array(results) || json_array_size(results) != n) {
        json_decref(doc);
        snprintf(err, err_len, "the node's answer does not match the batch sent");
        return SEND_E_LOCAL;
    }
    if (spool_begin(s, err, err_len) != 0) {
        json_decref(doc);
        return SEND_E_LOCAL;
    }
    int64_t stored = 0, unchanged = 0, refused = 0;
    size_t i;
    json_t *res;
    json_array_foreach(results, i, res)
    {
        json_int_t idx = json_integer_value(json_object_get(res, "index"));
        const char *what = json_string_value(json_object_get(res, "result"));
        if (idx < 0 || (size_t)idx >= n || !what)
            goto bad;
        int rc;
        if (strcmp(what, "stored") == 0 || strcmp(what, "unchanged") == 0) {
            rc = spool_done(s, items[idx].seq, err, err_len);
            if (what[0] == 's')
                stored++;
            else
                unchanged++;
        } else {
            char *errors = json_dumps(json_object_get(res, "errors"), JSON_COMPACT);
            rc = spool_refused(s, items[idx].seq, errors ? errors : "[]", err, err_len);
            free(errors);
            refused++;
        }
        if (rc != 0) {
            spool_rollback(s);
            json_decref(doc);
            return SEND_E_LOCAL;
        }
    }
    json_decref(doc);
    if (spool_commit(s, err, err_len) != 0)
        return SEND_E_LOCAL;
    progress_batch(p, (int64_t)n, stored, unchanged, refused);
    return SEND_OK;
bad:
    spool_rollback(s);
    json_decref(doc);
    snprintf(err, err_len, "the node's answer does not match the batch sent");
    return SEND_E_LOCAL;
}

int send_queue(spool_t *s, node_http_t *h, const agent_config_t *c, progress_t *p, char *err,
               size_t err_len)
{
    size_t batch = (size_t)c->batch;
    spool_counts_t counts;
    if (spool_counts(s, &counts, err, err_len) != 0)
        return SEND_E_LOCAL;
    p->to_send = p->sent + counts.queued;
    waiting_progress = p;
    int rc = SEND_OK;
    for (;;) {
        spool_item_t *items;
        size_t n;
        if (spool_next(s, batch, &items, &n, err, err_len) != 0) {
            rc = SEND_E_LOCAL;
            break;
        }
        if (n == 0) {
            spool_items_free(items, n);
            break;
        }
        size_t len;
        char *body = batch_body(items, n, &len);
        node_reply_t r;
        int hr = node_http_call(h, "POST", "/v1/records", body, len, c->retry_for, on_wait, &r, err,
                                err_len);
        free(body);
        if (hr != NODE_OK) {
            spool_items_free(items, n);
            rc = hr == NODE_E_LOCAL ? SEND_E_LOCAL : SEND_E_UNREACHABLE;
            break;
        }
        if (r.status == 413 && n > 1) {
            /* Over the node's batch or body limit: smaller batches from now on. */
            batch = n / 2;
            node_reply_free(&r);
            spool_items_free(items, n);
            continue;
        }
        if (r.status != 200) {
            char detail[300];
            problem_detail(&r, detail, sizeof(detail));
            snprintf(err, err_len, "the node did not take the batch: %ld%s%s", r.status,
                     detail[0] ? ": " : "", detail);
            rc = r.status >= 500 ? SEND_E_UNREACHABLE : SEND_E_LOCAL;
            node_reply_free(&r);
            spool_items_free(items, n);
            break;
        }
        rc = apply(s, items, n, &r, p, err, err_len);
        node_reply_free(&r);
        spool_items_free(items, n);
        if (rc != SEND_OK)
            break;
    }
    waiting_progress = NULL;
    char when[32];
    snprintf(when, sizeof(when), "%lld", (long long)time(NULL));
    spool_state_set(s, "last_push_at", when);
    spool_state_set(s, "last_push_result", rc == SEND_OK ? "ok" : err);
    if (rc == SEND_OK)
        spool_state_set(s, "last_success_at", when);
    return rc;
}
