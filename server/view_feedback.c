/* The feedback log, "you said, we did": GET /viewer/feedback (a table of
 * entries with what changed and what could not change and why side by side,
 * filterable by theme, status and level of involvement, and its CSV) and
 * GET /viewer/feedback/easy-read (the same entries in plain words: the
 * easy-read summaries, one idea a line). Both run the query of
 * GET /v1/feedback (API_FEEDBACK_SQL) as the node's own organisation. */
#include "api.h"
#include "html.h"
#include "query.h"
#include "req_query.h"
#include "response.h"
#include "tr_error.h"
#include "tr_record.h"
#include "view_form.h"
#include "view_pages.h"
#include "viewer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEEDBACK_ROWS "200" /* entries on a page, newest first */

static const char *const statuses[] = {"open",    "heard",         "agreed", "in_progress",
                                       "changed", "cannot_change", NULL};

#define N_STATUSES 6

typedef struct {
    bool csv, easy;
    bool summary;  /* the table of entries by status is on the page (or is the CSV) */
    bool only_sum; /* table=status&format=csv: that table alone */
    char theme[40], status[24], level[24];
    long long by_status[N_STATUSES]; /* true counts, for the small-number rule */
} fb_ctx_t;

/* What the responses say: the latest of each kind of answer (they come
 * oldest first). Borrowed from the row's JSON. */
typedef struct {
    const char *what_changed, *why_not;
} answers_t;

static answers_t answers_of(json_t *responses)
{
    answers_t a = {NULL, NULL};
    size_t i;
    json_t *r;
    json_array_foreach(responses, i, r)
    {
        json_t *body = json_object_get(r, "body");
        const char *wc = json_string_value(json_object_get(body, "what_changed"));
        const char *wn = json_string_value(json_object_get(body, "why_not"));
        if (wc && wc[0])
            a.what_changed = wc;
        if (wn && wn[0])
            a.why_not = wn;
    }
    return a;
}

static void themes_text(json_t *themes, char *buf, size_t len)
{
    size_t i, used = 0;
    json_t *t;
    char lab[64];
    buf[0] = '\0';
    json_array_foreach(themes, i, t)
    {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                         view_label(json_string_value(t), lab, sizeof(lab)));
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
}

static void filters(strbuf_t *out, const fb_ctx_t *c, const char *action, bool easy)
{
    view_form_begin(out, action, "Filter the feedback");
    view_select(out, "theme", easy ? "Topic" : "Theme", tr_feedback_codes("themes"), c->theme);
    view_select(out, "status", easy ? "What happened" : "Status", statuses, c->status);
    view_select(out, "level", easy ? "How people took part" : "Level of involvement",
                tr_feedback_codes("level"), c->level);
    view_form_end(out, "Show");
}

/* The same filters as a query string, for the link between the two views. */
static void filter_query(strbuf_t *out, const fb_ctx_t *c)
{
    strbuf_puts(out, "?theme=");
    html_url_param(out, c->theme);
    strbuf_puts(out, "&status=");
    html_url_param(out, c->status);
    strbuf_puts(out, "&level=");
    html_url_param(out, c->level);
}

static void table_row(html_table_t *t, json_t *row)
{
    json_t *entry = json_object_get(row, "entry");
    json_t *body = json_object_get(entry, "body");
    answers_t a = answers_of(json_object_get(row, "responses"));
    char themes[400], lab[64];
    html_table_cell(t, json_string_value(json_object_get(body, "week")));
    html_table_cell(t, json_string_value(json_object_get(entry, "origin")));
    html_table_cell(
        t, view_label(json_string_value(json_object_get(body, "source_role")), lab, sizeof(lab)));
    themes_text(json_object_get(body, "themes"), themes, sizeof(themes));
    html_table_cell(t, themes);
    html_table_cell(
        t, view_label(json_string_value(json_object_get(body, "level")), lab, sizeof(lab)));
    html_table_cell(t, json_string_value(json_object_get(body, "summary")));
    html_table_cell(
        t, view_label(json_string_value(json_object_get(row, "status")), lab, sizeof(lab)));
    html_table_cell(t, a.what_changed);
    html_table_cell(t, a.why_not);
}

/* One entry in plain words: short sentences, one idea a line. */
static void easy_item(strbuf_t *out, json_t *row)
{
    json_t *body = json_object_get(json_object_get(row, "entry"), "body");
    const char *status = json_string_value(json_object_get(row, "status"));
    answers_t a = answers_of(json_object_get(row, "responses"));
    strbuf_puts(out, "<li>\n<p><strong>You said:</strong></p>\n<p>");
    html_text(out, json_string_value(json_object_get(body, "easy_read")));
    strbuf_puts(out, "</p>\n<p><strong>We did:</strong></p>\n");
    if (a.what_changed) {
        strbuf_puts(out, "<p>");
        html_text(out, a.what_changed);
        strbuf_puts(out, "</p>\n");
    }
    if (status && strcmp(status, "cannot_change") == 0) {
        strbuf_puts(out, "<p>We could not change this.</p>\n");
        if (a.why_not) {
            strbuf_puts(out, "<p>This is why:</p>\n<p>");
            html_text(out, a.why_not);
            strbuf_puts(out, "</p>\n");
        }
    } else if (!a.what_changed) {
        const char *say = !status || strcmp(status, "open") == 0 ? "We have not answered yet."
                          : strcmp(status, "heard") == 0         ? "We heard you."
                          : strcmp(status, "agreed") == 0        ? "We agreed to change this."
                          : strcmp(status, "in_progress") == 0   ? "We are working on it."
                                                                 : "We changed this.";
        strbuf_printf(out, "<p>%s</p>\n", say);
    }
    strbuf_puts(out, "</li>\n");
}

/* Entries by status, for the theme and level chosen, with their total: one
 * table through the small-number rule, so that no small count can be worked
 * out from the total. */
static void summary_table(req_t *req, strbuf_t *out, const fb_ctx_t *c, bool csv)
{
    static const char *const cols[] = {"Status", "Entries"};
    tr_smallnum_rule_t rule;
    viewer_rule(req, &rule);
    tr_smallnum_table_t *tab;
    if (tr_smallnum_table_new(N_STATUSES, 1, &tab) != 0)
        abort();
    for (size_t i = 0; i < N_STATUSES; i++)
        tr_smallnum_set(tab, i, 0, c->by_status[i]);
    if (tr_smallnum_apply(tab, &rule) != 0)
        abort();
    html_table_t t;
    html_table_begin(&t, out, csv, "Entries by status, for the theme and level chosen", cols, 2);
    char lab[64], n[TR_SMALLNUM_TEXT_MAX];
    for (size_t i = 0; i <= N_STATUSES; i++) {
        html_table_cell(&t,
                        i < N_STATUSES ? view_label(statuses[i], lab, sizeof(lab)) : "All entries");
        html_table_count(&t, tr_smallnum_text(&rule, tr_smallnum_get(tab, i, 0), n, sizeof(n)));
    }
    html_table_end(&t, NULL);
    tr_smallnum_table_free(tab);
}

static void on_rows(req_t *req, const PGresult *res, const char *err, void *ud)
{
    const fb_ctx_t *c = ud;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        response_error(req, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, NULL);
        return;
    }
    static const char *const cols[] = {
        "Week",   "Organisation",         "Who said it",
        "Themes", "Level of involvement", "You said",
        "Status", "What changed",         "What could not change, and why"};
    strbuf_t out = {0}, q = {0};
    filter_query(&q, c);
    if (!c->csv) {
        viewer_page_begin(req, &out, c->easy ? "You said, we did: easy read" : "Feedback log",
                          c->easy ? "easy-read" : "feedback", c->easy);
        if (c->easy) {
            strbuf_puts(&out,
                        "<p>People told us what they think.</p>\n"
                        "<p>This page says what they told us.</p>\n"
                        "<p>It says what we did about it.</p>\n<p><a href=\"/viewer/feedback");
            html_attr(&out, q.buf);
            strbuf_puts(&out, "\">See all the details in a table</a></p>\n");
            filters(&out, c, "/viewer/feedback/easy-read", true);
        } else {
            strbuf_puts(&out, "<p>You said, we did: what people told each service, and what "
                              "the service did about it. The newest entries come first.</p>\n"
                              "<p><a href=\"/viewer/feedback/easy-read");
            html_attr(&out, q.buf);
            strbuf_puts(&out, "\">Read this in easy read</a></p>\n");
            filters(&out, c, "/viewer/feedback", false);
        }
    }
    html_table_t t = {0};
    if (c->easy) {
        strbuf_puts(&out, "<h2>What you said and what we did</h2>\n<ul class=\"easy\">\n");
    } else {
        html_table_begin(&t, &out, c->csv, "Feedback entries and their answers", cols,
                         (int)(sizeof(cols) / sizeof(cols[0])));
    }
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        json_t *row = json_loads(PQgetvalue(res, i, 0), 0, NULL);
        if (!row)
            continue;
        if (c->easy)
            easy_item(&out, row);
        else
            table_row(&t, row);
        json_decref(row);
    }
    strbuf_free(&q);
    if (c->easy) {
        strbuf_puts(&out, "</ul>\n");
        if (n == 0)
            strbuf_puts(&out, "<p>There is nothing to show for this choice.</p>\n");
    } else {
        html_table_end(&t, "No feedback entries match these filters.");
    }
    if (c->csv) {
        viewer_send_csv(req, "feedback.csv", &out);
        return;
    }
    if (!c->easy) {
        strbuf_t eq = {0};
        filter_query(&eq, c);
        html_csv_link(&out, eq.buf + 1); /* the filters without their "?" */
        strbuf_free(&eq);
        if (c->summary) {
            strbuf_puts(&out, "<h2>How far the answers got</h2>\n");
            summary_table(req, &out, c, false);
            strbuf_t sq = {0};
            filter_query(&sq, c);
            strbuf_puts(&sq, "&table=status");
            html_csv_link(&out, sq.buf + 1); /* without its "?" */
            strbuf_free(&sq);
        }
    }
    html_page_end(&out);
    viewer_send_html(req, 200, &out);
}

static void rows_params(const fb_ctx_t *c, const req_t *req, const char *params[5])
{
    params[0] = c->status[0] ? c->status : NULL;
    params[1] = c->theme[0] ? c->theme : NULL;
    params[2] = c->level[0] ? c->level : NULL;
    params[3] = conn_visibility(req->conn);
    params[4] = FEEDBACK_ROWS;
}

/* The counts by status came: keep them, then read the rows (or, for the
 * summary's CSV, answer now). */
static void on_counts(req_t *req, const PGresult *res, const char *err, void *ud)
{
    const fb_ctx_t *c = ud;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        response_error(req, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, NULL);
        return;
    }
    fb_ctx_t *next = malloc(sizeof(*next)); /* c is freed once this returns */
    if (!next)
        abort();
    *next = *c;
    for (int r = 0; r < PQntuples(res); r++)
        for (size_t i = 0; i < N_STATUSES; i++)
            if (strcmp(PQgetvalue(res, r, 0), statuses[i]) == 0)
                next->by_status[i] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    if (next->only_sum) {
        strbuf_t out = {0};
        summary_table(req, &out, next, true);
        free(next);
        viewer_send_csv(req, "feedback-by-status.csv", &out);
        return;
    }
    const char *params[5];
    rows_params(next, req, params);
    int rc = req_query(req, API_FEEDBACK_SQL, 5, params, on_rows, next, free);
    if (rc != 0)
        response_error(req, rc, NULL);
}

/* The feedback query, counted by status: the same entries and statuses as
 * the rows (API_FEEDBACK_SQL), whatever status is chosen. */
static const char *counts_sql(void)
{
    static char *sql;
    if (!sql) {
        strbuf_t b = {0};
        strbuf_puts(&b, "SELECT q.j->>'status', count(*) FROM (");
        strbuf_puts(&b, API_FEEDBACK_SQL);
        strbuf_puts(&b, ") q(j) GROUP BY 1");
        sql = strbuf_take(&b, NULL);
    }
    return sql;
}

static void feedback_page(req_t *req, bool easy)
{
    static const char *const allowed[] = {"theme", "status", "level", "table", NULL};
    if (viewer_bad_query(req, allowed))
        return;
    fb_ctx_t *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    const char *q = req->http->query;
    c->easy = easy;
    c->csv = !easy && viewer_wants_csv(req);
    if (query_get(q, "theme", c->theme, sizeof(c->theme)) < 0 ||
        query_get(q, "status", c->status, sizeof(c->status)) < 0 ||
        query_get(q, "level", c->level, sizeof(c->level)) < 0 ||
        !view_code_ok(tr_feedback_codes("themes"), c->theme) ||
        !view_code_ok(statuses, c->status) || !view_code_ok(tr_feedback_codes("level"), c->level)) {
        free(c);
        response_problem(req, 400, "bad-parameter",
                         "theme, status and level must each be one of the codes the form offers "
                         "(docs/records.md)");
        return;
    }
    char table[12] = "";
    if (query_get(q, "table", table, sizeof(table)) < 0 ||
        (table[0] && strcmp(table, "entries") != 0 && strcmp(table, "status") != 0)) {
        free(c);
        response_problem(req, 400, "bad-parameter", "table must be entries or status");
        return;
    }
    c->only_sum = c->csv && strcmp(table, "status") == 0;
    c->summary = !easy && (!c->csv || c->only_sum);
    const char *params[5];
    rows_params(c, req, params);
    int rc;
    if (c->summary) {
        params[0] = NULL;      /* every status */
        params[4] = "1000000"; /* every entry */
        rc = req_query(req, counts_sql(), 5, params, on_counts, c, free);
    } else {
        rc = req_query(req, API_FEEDBACK_SQL, 5, params, on_rows, c, free);
    }
    if (rc != 0)
        response_error(req, rc, NULL);
}

void view_feedback(req_t *req)
{
    feedback_page(req, false);
}

void view_feedback_easy(req_t *req)
{
    feedback_page(req, true);
}
