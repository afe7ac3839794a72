/* Views for caseworkers and coordinators: GET /v1/referrals (each referral
 * with its current status, folded from its events by proto/tr_fold, a page
 * at a time with a cursor) and GET /v1/feedback (entries with their
 * responses: "you said, we did"). */
#include "api.h"
#include "req_query.h"
#include "query.h"
#include "response.h"
#include "strbuf.h"
#include "tr_check.h"
#include "tr_error.h"
#include "tr_fold.h"
#include "tr_identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIEW_LIMIT_MAX 500

static bool bad_query(req_t *req, const char *const *allowed, const char *names)
{
    const char *bad;
    size_t bad_len;
    if (query_only(req->http->query, allowed, &bad, &bad_len))
        return false;
    char d[160];
    snprintf(d, sizeof(d), "unknown parameter; this view takes %s", names);
    response_problem(req, 400, "unknown-parameter", d);
    return true;
}

/* ---- GET /v1/referrals?direction=in|out&status=&limit=&after= ---- */

typedef struct {
    char status[24]; /* filter, "" for any */
    int64_t limit;
} referrals_ctx_t;

/* A page's cursor is its last row's place in the order (week descending,
 * then id, then origin): "WEEK.ID.ORIGIN", none of which holds a dot. */
#define CURSOR_LEN (8 + 1 + 36 + 1 + 63)

static bool parse_cursor(char *s, char **week, char **id, char **origin)
{
    char *a = strchr(s, '.'), *b = a ? strchr(a + 1, '.') : NULL;
    if (!a || !b)
        return false;
    *a = *b = '\0';
    *week = s;
    *id = a + 1;
    *origin = b + 1;
    return tr_is_iso_week(*week) && tr_is_uuid(*id) && tr_name_valid(*origin);
}

static void on_referrals(req_t *req, const PGresult *res, const char *err, void *ud)
{
    const referrals_ctx_t *ctx = ud;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        response_error(req, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, NULL);
        return;
    }
    json_t *out = json_array();
    for (int row = 0; row < PQntuples(res); row++) {
        json_t *doc = json_loads(PQgetvalue(res, row, 0), 0, NULL);
        json_t *events = json_loads(PQgetvalue(res, row, 1), 0, NULL);
        size_t n = json_array_size(events);
        tr_fold_event_t *ev = calloc(n ? n : 1, sizeof(*ev));
        if (!ev)
            abort();
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(events, i);
            if (tr_ref_status_parse(json_string_value(json_object_get(e, "status")),
                                    &ev[k].status) != 0)
                continue;
            ev[k].id = json_string_value(json_object_get(e, "id"));
            ev[k].origin = json_string_value(json_object_get(e, "origin"));
            ev[k].days = json_integer_value(json_object_get(e, "days"));
            k++;
        }
        tr_fold_result_t fold;
        if (tr_referral_fold(ev, k, &fold) == 0) {
            const char *status = tr_ref_status_name(fold.status);
            if (!ctx->status[0] || strcmp(ctx->status, status) == 0)
                json_array_append_new(
                    out, json_pack("{s:O, s:s, s:I, s:I, s:O}", "referral", doc, "status", status,
                                   "days", (json_int_t)fold.days, "events",
                                   (json_int_t)fold.n_events, "flags", fold.flags));
            tr_fold_result_clear(&fold);
        }
        free(ev);
        json_decref(events);
        json_decref(doc);
    }
    json_t *reply = json_pack("{s:o}", "referrals", out);
    /* A full page may have more after it (the status filter applies after
     * the limit, so a page can hold fewer than limit and still have more). */
    int n = PQntuples(res);
    if (n > 0 && n == ctx->limit) {
        char next[CURSOR_LEN + 1];
        snprintf(next, sizeof(next), "%s.%s.%s", PQgetvalue(res, n - 1, 2),
                 PQgetvalue(res, n - 1, 3), PQgetvalue(res, n - 1, 4));
        json_object_set_new(reply, "next", json_string(next));
    }
    response_json(req, 200, reply);
}

void api_referrals(req_t *req)
{
    static const char *const allowed[] = {"direction", "status", "limit", "after", NULL};
    if (bad_query(req, allowed, "direction, status, limit and after"))
        return;
    const char *q = req->http->query;
    char direction[8] = "out", after[CURSOR_LEN + 1] = "";
    char *week = NULL, *id = NULL, *origin = NULL;
    int64_t limit;
    referrals_ctx_t *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        abort();
    tr_ref_status_t st;
    if (query_get(q, "direction", direction, sizeof(direction)) < 0 ||
        (strcmp(direction, "in") && strcmp(direction, "out"))) {
        free(ctx);
        response_problem(req, 400, "bad-parameter", "direction must be in or out");
        return;
    }
    if (query_get(q, "status", ctx->status, sizeof(ctx->status)) < 0 ||
        (ctx->status[0] && tr_ref_status_parse(ctx->status, &st) != 0)) {
        free(ctx);
        response_problem(req, 400, "bad-parameter",
                         "status must be one of sent, received, accepted, declined, contacted, "
                         "closed, withdrawn");
        return;
    }
    if (query_int(q, "limit", 1, VIEW_LIMIT_MAX, 100, &limit) != 0) {
        free(ctx);
        response_problem(req, 400, "bad-parameter", "limit must be between 1 and 500");
        return;
    }
    int has_after = query_get(q, "after", after, sizeof(after));
    if (has_after < 0 || (has_after && !parse_cursor(after, &week, &id, &origin))) {
        free(ctx);
        response_problem(req, 400, "bad-parameter",
                         "after must be the next cursor of the previous page");
        return;
    }
    ctx->limit = limit;
    char lim[24];
    snprintf(lim, sizeof(lim), "%lld", (long long)limit);
    const char *params[6] = {direction, conn_identity(req->conn)->org, lim, week, id, origin};
    /* out: referrals this organisation sent; in: referrals to it (to_org).
     * Only events from the referral's parties count (replicated records may
     * hold others: sql/003_federation.sql), and only referrals sent from a
     * service of their origin, as far as this node knows the directory. */
    int rc = req_query(
        req,
        "SELECT r.doc::text, coalesce((SELECT json_agg(json_build_object('id', e.id, 'origin', "
        "e.origin, 'status', e.status, 'days', e.days)) FROM pathway_events e "
        "WHERE e.referral = r.id AND (e.origin = r.origin OR e.origin = r.to_org)), "
        "'[]')::text, r.week, r.id, r.origin "
        "FROM pathway_referrals r "
        "WHERE CASE WHEN $1 = 'out' THEN r.origin = $2 ELSE r.to_org = $2 END "
        "AND NOT EXISTS (SELECT 1 FROM directory_services f WHERE f.id = r.from_service "
        "AND f.origin <> r.origin AND NOT EXISTS (SELECT 1 FROM directory_services g "
        "WHERE g.id = r.from_service AND g.origin = r.origin)) "
        "AND ($4::text IS NULL OR r.week < $4::text "
        "OR (r.week = $4::text AND (r.id, r.origin) > ($5::uuid, $6::text))) "
        "ORDER BY r.week DESC, r.id, r.origin LIMIT $3::int",
        6, params, on_referrals, ctx, free);
    if (rc != 0)
        response_error(req, rc, NULL);
}

/* ---- GET /v1/feedback?status=&theme=&level=&limit= ---- */

/* An entry's status is its latest response's (by week, then how far the
 * loop got), or "open" while nobody has answered. Only the entry's own
 * organisation answers it. */
const char API_FEEDBACK_SQL[] =
    "SELECT json_build_object('entry', f.doc, 'status', f.status, 'responses', f.responses) "
    "FROM (SELECT e.doc, e.week, e.id, "
    "  coalesce((SELECT r.status FROM feedback_responses r WHERE r.entry = e.id "
    "    AND r.origin = e.origin "
    "    ORDER BY r.week DESC, array_position(ARRAY['heard','agreed','in_progress',"
    "'changed','cannot_change'], r.status) DESC LIMIT 1), 'open') AS status, "
    "  coalesce((SELECT json_agg(r.doc ORDER BY r.week, r.id) FROM feedback_responses r "
    "    WHERE r.entry = e.id AND r.origin = e.origin), '[]') AS responses "
    "  FROM feedback_entries e "
    "  WHERE ($2::text IS NULL OR e.themes @> ARRAY[$2::text]) "
    "  AND ($3::text IS NULL OR e.level = $3) AND ($4::text IS NULL OR e.origin = $4)) f "
    "WHERE $1::text IS NULL OR f.status = $1 "
    "ORDER BY f.week DESC, f.id LIMIT $5::int";

static void on_feedback(void *ud, const PGresult *res, const char *err)
{
    req_t *req = ud;
    req->dbq = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        response_error(req, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, NULL);
        return;
    }
    strbuf_t out = {0};
    strbuf_puts(&out, "{\"feedback\":[");
    for (int row = 0; row < PQntuples(res); row++) {
        if (row)
            strbuf_puts(&out, ",");
        strbuf_add(&out, PQgetvalue(res, row, 0), (size_t)PQgetlength(res, row, 0));
    }
    strbuf_puts(&out, "]}");
    size_t len;
    char *body = strbuf_take(&out, &len);
    response_send(req, 200, "application/json", NULL, body, len);
    free(body);
}

void api_feedback(req_t *req)
{
    static const char *const allowed[] = {"status", "theme", "level", "limit", NULL};
    static const char *const statuses[] = {"open",    "heard",         "agreed", "in_progress",
                                           "changed", "cannot_change", NULL};
    if (bad_query(req, allowed, "status, theme, level and limit"))
        return;
    const char *q = req->http->query;
    char status[24] = "", theme[40] = "", level[24] = "";
    int64_t limit;
    if (query_get(q, "status", status, sizeof(status)) < 0 ||
        query_get(q, "theme", theme, sizeof(theme)) < 0 ||
        query_get(q, "level", level, sizeof(level)) < 0) {
        response_problem(req, 400, "bad-parameter", "status, theme and level are short codes");
        return;
    }
    bool status_ok = !status[0];
    for (int i = 0; statuses[i] && !status_ok; i++)
        status_ok = strcmp(status, statuses[i]) == 0;
    if (!status_ok) {
        response_problem(req, 400, "bad-parameter",
                         "status must be open, heard, agreed, in_progress, changed or "
                         "cannot_change");
        return;
    }
    if (query_int(q, "limit", 1, VIEW_LIMIT_MAX, 100, &limit) != 0) {
        response_problem(req, 400, "bad-parameter", "limit must be between 1 and 500");
        return;
    }
    char lim[24];
    snprintf(lim, sizeof(lim), "%lld", (long long)limit);
    const char *vis = conn_visibility(req->conn);
    const char *params[5] = {status[0] ? status : NULL, theme[0] ? theme : NULL,
                             level[0] ? level : NULL, vis, lim};
    int rc =
        db_query(req->conn->node->db, API_FEEDBACK_SQL, 5, params, on_feedback, req, &req->dbq);
    if (rc != 0)
        response_error(req, rc, NULL);
}
