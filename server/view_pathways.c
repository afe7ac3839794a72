/* The pathways page, GET /viewer/pathways?from=2026-W01&to=2026-W52: where
 * referrals go between organisations and between services (SVG matrices with
 * their tables), how many are accepted and declined and why, how long
 * acceptance and first contact take, and where referrals wait longest for
 * an answer. One query adds up the sums that sql/009_reporting.sql and
 * sql/017 keep by week and by block of weeks (never a fold over every
 * referral); its sums are kept until a pathway record is stored, the page
 * until anything is (view_cache.h); every count passes the small-number
 * rule (view_pathways_model.c); ?format=csv&table=NAME gives each table as
 * CSV. */
#include "html.h"
#include "node.h"
#include "query.h"
#include "req_query.h"
#include "response.h"
#include "tr_check.h"
#include "tr_error.h"
#include "tr_identity.h"
#include "view_cache.h"
#include "view_form.h"
#include "view_matrix.h"
#include "view_pages.h"
#include "view_pathways_model.h"
#include "viewer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The page's one query (sql/functions/17_trellis_pathway_page.sql, a
 * function so that each database connection plans it once): $1, $2 the
 * first and last ISO week, $3, $4 the pair of organisations (NULL: the
 * busiest). Two columns: the sums as lines of text (kept until a pathway
 * record is stored) and the names of the services the page shows, a JSON
 * object (kept until anything is). */
static const char PATHWAYS_SQL[] = "SELECT sums_doc, names_doc FROM trellis_pathway_page($1, $2, "
                                   "$3, $4)";

/* The names again for kept sums ($1, PATHWAYS_SQL's first column). */
static const char NAMES_SQL[] = "SELECT trellis_pathway_names($1::text)";

/* The tables a CSV can be asked for (?format=csv&table=NAME). */
static const char *const tables[] = {"orgs", "services", "outcomes", "reasons",
                                     "days", "waiting",  NULL};

typedef struct {
    bool csv;
    char table[16];
    char from[16], to[16];
    char from_org[TR_NAME_MAX + 1], to_org[TR_NAME_MAX + 1];
    tr_smallnum_rule_t rule;
    char key[160];            /* the cache's key for the sums: the query's parameters */
    char named_key[176];      /* for the names of its services: key and "|named" */
    uint64_t generation;      /* node->data_generation when the query was sent */
    uint64_t sums_generation; /* node->pathway_generation then */
    char *sums;               /* kept sums the names are asked for (owned), or NULL */
} pw_ctx_t;

static void iso_week_of(time_t t, char *out, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%G-W%V", &tm);
}

/* The page's own query string for a link to one of its tables as CSV. */
static void table_query(strbuf_t *q, const pw_ctx_t *c, const char *table)
{
    strbuf_puts(q, "from=");
    html_url_param(q, c->from);
    strbuf_puts(q, "&to=");
    html_url_param(q, c->to);
    if (c->from_org[0]) {
        strbuf_puts(q, "&from_org=");
        html_url_param(q, c->from_org);
    }
    if (c->to_org[0]) {
        strbuf_puts(q, "&to_org=");
        html_url_param(q, c->to_org);
    }
    strbuf_puts(q, "&table=");
    strbuf_puts(q, table);
}

static void csv_link(strbuf_t *out, const pw_ctx_t *c, const char *table)
{
    strbuf_t q = {0};
    table_query(&q, c, table);
    html_csv_link(out, q.buf);
    strbuf_free(&q);
}

static const char *count_text(const pw_model_t *m, const tr_smallnum_table_t *t, size_t r,
                              size_t col, char *buf, size_t len)
{
    return tr_smallnum_text(&m->rule, tr_smallnum_get(t, r, col), buf, len);
}

static void outcomes_table(strbuf_t *out, bool csv, const pw_model_t *m)
{
    static const char *const cols[] = {
        "Receiving organisation", "Accepted",  "Declined",     "Withdrawn before an answer",
        "Waiting for an answer",  "Referrals", "Accepted (%)", "Declined (%)"};
    html_table_t t;
    html_table_begin(&t, out, csv, "Outcomes of the referrals each organisation received", cols, 8);
    for (size_t i = 0; m->outcomes && i <= m->to_orgs.n; i++) {
        char b[TR_SMALLNUM_TEXT_MAX];
        html_table_cell(&t, i < m->to_orgs.n ? m->to_orgs.labels[i] : "All organisations");
        for (size_t k = 0; k <= PW_OUTCOMES; k++)
            html_table_count(&t, count_text(m, m->outcomes, i, k, b, sizeof(b)));
        tr_sn_cell_t all = tr_smallnum_get(m->outcomes, i, PW_OUTCOMES);
        html_table_count(&t, tr_smallnum_percent(tr_smallnum_get(m->outcomes, i, PW_ACCEPTED), all,
                                                 b, sizeof(b)));
        html_table_count(&t, tr_smallnum_percent(tr_smallnum_get(m->outcomes, i, PW_DECLINED), all,
                                                 b, sizeof(b)));
    }
    html_table_end(&t, "No referrals were sent in this period.");
}

static void reasons_table(strbuf_t *out, bool csv, const pw_model_t *m)
{
    static const char *const cols[] = {"Reason", "Declines", "Share of declines (%)"};
    html_table_t t;
    html_table_begin(&t, out, csv, "Why referrals were declined", cols, 3);
    for (size_t i = 0; m->reasons_t && i <= m->reasons.n; i++) {
        char b[TR_SMALLNUM_TEXT_MAX], lab[64];
        bool other = m->reasons.other && i == m->reasons.n - 1;
        html_table_cell(&t, i == m->reasons.n ? "All reasons"
                            : other           ? m->reasons.labels[i]
                                              : view_label(m->reasons.keys[i], lab, sizeof(lab)));
        html_table_count(&t, count_text(m, m->reasons_t, i, 0, b, sizeof(b)));
        html_table_count(&t, tr_smallnum_percent(tr_smallnum_get(m->reasons_t, i, 0),
                                                 tr_smallnum_get(m->reasons_t, m->reasons.n, 0), b,
                                                 sizeof(b)));
    }
    html_table_end(&t, "No referral was declined in this period.");
}

static void median_cell(html_table_t *t, const pw_model_t *m, const char *org, const char *measure)
{
    long long n, d = pw_median_days(m, org, measure, &n);
    char b[48];
    if (n == 0)
        snprintf(b, sizeof(b), "none");
    else if (!tr_smallnum_stat_ok(&m->rule, n))
        snprintf(b, sizeof(b), "too few to show");
    else
        snprintf(b, sizeof(b), "%lld", d);
    html_table_count(t, b);
}

static void days_table(strbuf_t *out, bool csv, const pw_model_t *m)
{
    static const char *const cols[] = {"Receiving organisation", "Median days to acceptance",
                                       "Median days to first contact"};
    html_table_t t;
    html_table_begin(&t, out, csv, "Days from referral to acceptance and to first contact", cols,
                     3);
    size_t kept = m->to_orgs.n - (m->to_orgs.other ? 1 : 0);
    for (size_t i = 0; m->outcomes && i <= kept; i++) {
        const char *org = i < kept ? m->to_orgs.keys[i] : NULL;
        html_table_cell(&t, org ? m->to_orgs.labels[i] : "All organisations");
        median_cell(&t, m, org, "accepted");
        median_cell(&t, m, org, "contact");
    }
    html_table_end(&t, "No referrals were sent in this period.");
}

static void waiting_table(strbuf_t *out, bool csv, const pw_model_t *m)
{
    static const char *const cols[] = {"Service", "Organisation",
                                       "Oldest unanswered referral sent in", "Weeks waiting"};
    html_table_t t;
    html_table_begin(&t, out, csv, "Services with the longest waits for an answer", cols, 4);
    for (size_t i = 0; i < m->n_waiting; i++) {
        const pw_wait_t *w = &m->waiting[i];
        char weeks[24];
        snprintf(weeks, sizeof(weeks), "%lld", w->weeks);
        html_table_cell(&t, w->name ? w->name : w->service);
        html_table_cell(&t, w->org);
        html_table_cell(&t, w->week);
        html_table_count(&t, weeks);
    }
    html_table_end(&t, "No referral sent in this period is waiting for an answer.");
}

static view_matrix_t orgs_matrix(const pw_model_t *m)
{
    return (view_matrix_t){"flows-orgs",      "Referrals between organisations",
                           "From \\ to",      m->from_orgs.labels,
                           m->to_orgs.labels, m->from_orgs.n,
                           m->to_orgs.n,      m->flows,
                           &m->rule};
}

static view_matrix_t services_matrix(const pw_model_t *m)
{
    return (view_matrix_t){"flows-services",  "Referrals between their services",
                           "From \\ to",      m->from_svcs.labels,
                           m->to_svcs.labels, m->from_svcs.n,
                           m->to_svcs.n,      m->services,
                           &m->rule};
}

static void services_section(strbuf_t *out, const pw_ctx_t *c, const pw_model_t *m)
{
    strbuf_puts(out, "<h2 id=\"services\">Flows between services</h2>\n");
    /* The pair of organisations: any two of the period's. */
    size_t k = 0;
    const char **froms = calloc(m->from_orgs.n + 1, sizeof(*froms));
    const char **tos = calloc(m->to_orgs.n + 1, sizeof(*tos));
    if (!froms || !tos)
        abort();
    for (size_t i = 0; i < m->from_orgs.n; i++)
        if (m->from_orgs.keys[i][0])
            froms[k++] = m->from_orgs.keys[i];
    k = 0;
    for (size_t i = 0; i < m->to_orgs.n; i++)
        if (m->to_orgs.keys[i][0])
            tos[k++] = m->to_orgs.keys[i];
    view_form_begin(out, "/viewer/pathways#services", "Choose two organisations");
    strbuf_puts(out, "<input type=\"hidden\" name=\"from\" value=\"");
    html_attr(out, c->from);
    strbuf_puts(out, "\"><input type=\"hidden\" name=\"to\" value=\"");
    html_attr(out, c->to);
    strbuf_puts(out, "\">\n");
    view_select(out, "from_org", "Referring organisation", froms, m->pair_from ? m->pair_from : "");
    view_select(out, "to_org", "Receiving organisation", tos, m->pair_to ? m->pair_to : "");
    view_form_end(out, "Show their services");
    free(froms);
    free(tos);
    if (!m->pair_from || !m->pair_to) {
        strbuf_puts(out, "<p>No referrals were sent in this period.</p>\n");
        return;
    }
    strbuf_puts(out, "<p>From ");
    html_text(out, m->pair_from);
    strbuf_puts(out, " to ");
    html_text(out, m->pair_to);
    strbuf_puts(out, ".</p>\n");
    if (m->pair_hidden || !m->services) {
        strbuf_puts(out, "<p>Not shown: there are too few referrals between these two "
                         "organisations in this period to show them by service.</p>\n");
        return;
    }
    view_matrix_t sm = services_matrix(m);
    view_matrix_svg(out, &sm);
    view_matrix_table(out, false, &sm);
    csv_link(out, c, "services");
}

/* The page below its header (which names the signed-in user: page_send). */
static void page(strbuf_t *out, const pw_ctx_t *c, const pw_model_t *m)
{
    strbuf_printf(out,
                  "<p>Where referrals went between the consortium's organisations and services, "
                  "by the week they were sent. To protect the people behind them, counts from 1 "
                  "to %lld are shown as &ldquo;fewer than %lld&rdquo;, other counts are rounded to "
                  "the nearest %lld, and a few more are &ldquo;not shown&rdquo; so that a small "
                  "one cannot be worked out from a total. Percentages are worked out from the "
                  "rounded counts.</p>\n",
                  m->rule.threshold - 1, m->rule.threshold, m->rule.rounding);
    view_form_begin(out, "/viewer/pathways", "Choose the period");
    view_input(out, "from", "First week (like 2026-W01)", "text", c->from);
    view_input(out, "to", "Last week (like 2026-W52)", "text", c->to);
    view_form_end(out, "Show");

    strbuf_puts(out, "<h2>Flows between organisations</h2>\n");
    if (m->flows) {
        view_matrix_t om = orgs_matrix(m);
        view_matrix_svg(out, &om);
        view_matrix_table(out, false, &om);
        csv_link(out, c, "orgs");
    } else {
        strbuf_puts(out, "<p>No referrals were sent in this period.</p>\n");
    }
    services_section(out, c, m);

    strbuf_puts(out, "<h2>Accepted and declined</h2>\n");
    outcomes_table(out, false, m);
    csv_link(out, c, "outcomes");
    reasons_table(out, false, m);
    csv_link(out, c, "reasons");

    strbuf_puts(out, "<h2>How long it takes</h2>\n<p>Medians are shown over ");
    strbuf_printf(out, "%lld referrals or more.</p>\n", m->rule.threshold);
    days_table(out, false, m);
    csv_link(out, c, "days");

    strbuf_puts(out, "<h2>Waiting longest</h2>\n");
    waiting_table(out, false, m);
    csv_link(out, c, "waiting");
    html_page_end(out);
}

static void page_send(req_t *req, const char *body, size_t len)
{
    strbuf_t out = {0};
    viewer_page_begin(req, &out, "Pathways", "pathways", false);
    strbuf_add(&out, body, len);
    viewer_send_html(req, 200, &out);
}

static void csv_send(req_t *req, const pw_ctx_t *c, strbuf_t *out)
{
    char filename[48];
    snprintf(filename, sizeof(filename), "pathways-%s.csv", c->table);
    viewer_send_csv(req, filename, out);
}

/* The reply cache's key for what is sent (the page, or one table as CSV):
 * the query's key and the form. The small-number rule is the node's. */
static void reply_key(const pw_ctx_t *c, char *key, size_t len)
{
    snprintf(key, len, "%s|%s", c->key, c->csv ? c->table : "page");
}

/* Reply with the page or the asked-for table, from the query's sums and
 * names (both texts borrowed), and keep what was rendered for the same
 * question while nothing is stored. */
static void respond(req_t *req, const pw_ctx_t *c, const char *sums, const char *names)
{
    pw_model_t m;
    int rc = pw_model_build(&m, sums, names, &c->rule);
    if (rc != 0) {
        pw_model_free(&m);
        response_error(req, rc, "the pathway figures could not be worked out");
        return;
    }
    strbuf_t out = {0};
    char key[sizeof(c->key) + 32];
    reply_key(c, key, sizeof(key));
    node_t *node = req->conn->node;
    if (!c->csv) {
        page(&out, c, &m);
        pw_model_free(&m);
        view_cache_put_len(key, c->generation, uv_now(node->loop), out.buf, out.len);
        page_send(req, out.buf, out.len);
        strbuf_free(&out);
        return;
    }
    if (strcmp(c->table, "orgs") == 0) {
        view_matrix_t om = orgs_matrix(&m);
        if (m.flows)
            view_matrix_table(&out, true, &om);
        else
            strbuf_puts(&out, "From \\ to,Total\r\n");
    } else if (strcmp(c->table, "services") == 0) {
        view_matrix_t sm = services_matrix(&m);
        if (m.services && !m.pair_hidden)
            view_matrix_table(&out, true, &sm);
        else
            strbuf_puts(&out, "From \\ to,Total\r\n");
    } else if (strcmp(c->table, "outcomes") == 0) {
        outcomes_table(&out, true, &m);
    } else if (strcmp(c->table, "reasons") == 0) {
        reasons_table(&out, true, &m);
    } else if (strcmp(c->table, "days") == 0) {
        days_table(&out, true, &m);
    } else {
        waiting_table(&out, true, &m);
    }
    pw_model_free(&m);
    view_cache_put_len(key, c->generation, uv_now(node->loop), out.buf ? out.buf : "", out.len);
    csv_send(req, c, &out);
}

/* PATHWAYS_SQL's reply: the sums (kept until a pathway record is stored)
 * and their services' names (until anything is). */
static void on_rows(req_t *req, const PGresult *res, const char *err, void *ud)
{
    const pw_ctx_t *c = ud;
    (void)err;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
        PQnfields(res) != 2) {
        response_error(req, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, NULL);
        return;
    }
    node_t *node = req->conn->node;
    view_cache_put(c->key, c->sums_generation, uv_now(node->loop), PQgetvalue(res, 0, 0));
    view_cache_put(c->named_key, c->generation, uv_now(node->loop), PQgetvalue(res, 0, 1));
    respond(req, c, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
}

/* NAMES_SQL's reply: the names as they are now, for the kept sums (which
 * ctx holds: the cache's copy may be gone by now). */
static void on_named(req_t *req, const PGresult *res, const char *err, void *ud)
{
    const pw_ctx_t *c = ud;
    (void)err;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        response_error(req, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, NULL);
        return;
    }
    node_t *node = req->conn->node;
    view_cache_put(c->named_key, c->generation, uv_now(node->loop), PQgetvalue(res, 0, 0));
    respond(req, c, c->sums, PQgetvalue(res, 0, 0));
}

static void ctx_free(void *ud)
{
    pw_ctx_t *c = ud;
    free(c->sums);
    free(c);
}

static bool bad(req_t *req, const char *detail)
{
    response_problem(req, 400, "bad-parameter", detail);
    return true;
}

/* Read and check the query into c; false after replying 400. */
static bool parse(req_t *req, pw_ctx_t *c)
{
    const char *q = req->http->query;
    c->csv = viewer_wants_csv(req);
    time_t now = time(NULL);
    iso_week_of(now, c->to, sizeof(c->to));
    iso_week_of(now - (time_t)51 * 7 * 86400, c->from, sizeof(c->from));
    if (query_get(q, "from", c->from, sizeof(c->from)) < 0 || !tr_is_iso_week(c->from) ||
        query_get(q, "to", c->to, sizeof(c->to)) < 0 || !tr_is_iso_week(c->to))
        return !bad(req, "from and to must be ISO weeks like 2026-W01");
    if (strcmp(c->from, c->to) > 0)
        return !bad(req, "from must not be after to");
    int f = query_get(q, "from_org", c->from_org, sizeof(c->from_org));
    int t = query_get(q, "to_org", c->to_org, sizeof(c->to_org));
    if (f < 0 || t < 0 || (c->from_org[0] && !tr_name_valid(c->from_org)) ||
        (c->to_org[0] && !tr_name_valid(c->to_org)))
        return !bad(req, "from_org and to_org are organisation ids (either left out: the "
                         "busiest pair's)");
    if (query_get(q, "table", c->table, sizeof(c->table)) < 0)
        return !bad(req, "table is one of orgs, services, outcomes, reasons, days, waiting");
    if (!c->table[0])
        snprintf(c->table, sizeof(c->table), "orgs");
    bool known = false;
    for (int i = 0; tables[i]; i++)
        known = known || strcmp(c->table, tables[i]) == 0;
    if (!known)
        return !bad(req, "table is one of orgs, services, outcomes, reasons, days, waiting");
    const config_t *cfg = &req->conn->node->cfg;
    c->rule.threshold = (long long)cfg->viewer_small_number_threshold;
    c->rule.rounding = (long long)cfg->viewer_rounding;
    return true;
}

void view_pathways(req_t *req)
{
    static const char *const allowed[] = {"from", "to", "from_org", "to_org", "table", NULL};
    if (viewer_bad_query(req, allowed))
        return;
    pw_ctx_t *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    if (!parse(req, c)) {
        free(c);
        return;
    }
    /* The same figures again while nothing was stored: no query. */
    node_t *node = req->conn->node;
    snprintf(c->key, sizeof(c->key), "pathways|%s|%s|%s|%s", c->from, c->to, c->from_org,
             c->to_org);
    snprintf(c->named_key, sizeof(c->named_key), "%s|named", c->key);
    c->generation = node->data_generation;
    c->sums_generation = node->pathway_generation;
    /* The same reply again, rendered: no query and no drawing. */
    char key[sizeof(c->key) + 32];
    reply_key(c, key, sizeof(key));
    size_t len;
    const char *sent = view_cache_get_len(key, c->generation, uv_now(node->loop), &len);
    if (sent && c->csv) {
        strbuf_t out = {0};
        strbuf_add(&out, sent, len);
        csv_send(req, c, &out);
        free(c);
        return;
    }
    if (sent) {
        page_send(req, sent, len);
        free(c);
        return;
    }
    /* The sums kept; the names too while nothing at all was stored. */
    const char *sums = view_cache_get(c->key, c->sums_generation, uv_now(node->loop));
    const char *names = view_cache_get(c->named_key, c->generation, uv_now(node->loop));
    if (sums && names) {
        respond(req, c, sums, names);
        free(c);
        return;
    }
    /* Only other kinds stored since (a directory record, feedback): the
     * sums stand, the names are asked for again. */
    if (sums) {
        c->sums = strdup(sums);
        if (!c->sums)
            abort();
        const char *params[1] = {c->sums};
        int rc = req_query(req, NAMES_SQL, 1, params, on_named, c, ctx_free);
        if (rc != 0)
            response_error(req, rc, NULL);
        return;
    }
    const char *params[4] = {c->from, c->to, c->from_org[0] ? c->from_org : NULL,
                             c->to_org[0] ? c->to_org : NULL};
    int rc = req_query(req, PATHWAYS_SQL, 4, params, on_rows, c, ctx_free);
    if (rc != 0)
        response_error(req, rc, NULL);
}
