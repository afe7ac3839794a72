/* The coordinator's coverage view: GET /viewer/coverage, which needs have no
 * service taking referrals in which districts. The districts are those the
 * directory's services name (postcode districts and local authorities, the
 * directory layer's districts column); the needs are the code list every
 * service and referral spells alike. One row per district, and its CSV. */
#include "html.h"
#include "query.h"
#include "req_query.h"
#include "response.h"
#include "tr_error.h"
#include "tr_record.h"
#include "view_form.h"
#include "view_pages.h"
#include "viewer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NEEDS 64

typedef struct {
    bool csv;
    char need[32]; /* only this need, or "" for every one */
} cov_ctx_t;

/* Rows (district, need, services taking referrals for the need there,
 * services taking referrals there at all) for every pair that has a service,
 * sorted by district: a need with no row, or with 0, is a gap. */
static const char COVERAGE_SQL[] =
    "WITH v AS (SELECT s.taking_referrals, s.needs, s.districts FROM directory_services s "
    "  WHERE NOT s.shadowed AND ($1::text IS NULL OR s.origin = $1 "
    "  OR s.audience && ARRAY[$1, '*'] OR s.audience IS NULL)), "
    "p AS (SELECT d, n, count(*) FILTER (WHERE v.taking_referrals) AS c "
    "  FROM v, unnest(v.districts) d, unnest(v.needs) n GROUP BY 1, 2), "
    "t AS (SELECT d, count(*) FILTER (WHERE v.taking_referrals) AS c "
    "  FROM v, unnest(v.districts) d GROUP BY 1) "
    "SELECT p.d, p.n, p.c, t.c FROM p JOIN t ON t.d = p.d ORDER BY 1, 2";

static void district_row(req_t *req, html_table_t *t, const char *district,
                         const char *const *needs, const bool *covered, size_t n_needs,
                         long long taking)
{
    strbuf_t gaps = {0}, cov = {0};
    char lab[96];
    for (size_t i = 0; i < n_needs; i++) {
        strbuf_t *b = covered[i] ? &cov : &gaps;
        strbuf_puts(b, b->len ? ", " : "");
        strbuf_puts(b, view_label(needs[i], lab, sizeof(lab)));
    }
    html_table_cell(t, district);
    html_table_cell(t, gaps.len ? gaps.buf : "None");
    html_table_cell(t, cov.len ? cov.buf : "None");
    char n[TR_SMALLNUM_TEXT_MAX];
    html_table_count(t, viewer_count_text(req, taking, n, sizeof(n)));
    strbuf_free(&gaps);
    strbuf_free(&cov);
}

static void on_rows(req_t *req, const PGresult *res, const char *err, void *ud)
{
    const cov_ctx_t *c = ud;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        response_error(req, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, NULL);
        return;
    }
    const char *const *all = tr_pathway_codes("needs");
    const char *needs[MAX_NEEDS];
    size_t n_needs = 0;
    for (size_t i = 0; all && all[i] && n_needs < MAX_NEEDS; i++)
        if (!c->need[0] || strcmp(all[i], c->need) == 0)
            needs[n_needs++] = all[i];
    static const char *const cols[] = {"District or area", "Needs with no service taking referrals",
                                       "Needs with a service taking referrals",
                                       "Services taking referrals"};
    strbuf_t out = {0};
    if (!c->csv) {
        viewer_page_begin(req, &out, "Coverage", "coverage", false);
        strbuf_puts(&out, "<p>Where the consortium's offer has gaps: for each district or local "
                          "authority that a service in the directory names as its area, the "
                          "needs that no service there is taking referrals for now. Counts "
                          "follow the consortium's small-number rule.</p>\n");
        view_form_begin(&out, "/viewer/coverage", "Choose a need");
        view_select(&out, "need", "Need", all, c->need);
        view_form_end(&out, "Show");
    }
    html_table_t t;
    html_table_begin(&t, &out, c->csv, "Gaps by district", cols, 4);
    bool covered[MAX_NEEDS] = {false};
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        const char *district = PQgetvalue(res, r, 0);
        const char *need = PQgetvalue(res, r, 1);
        for (size_t i = 0; i < n_needs; i++)
            if (strcmp(needs[i], need) == 0 && strtoll(PQgetvalue(res, r, 2), NULL, 10) > 0)
                covered[i] = true;
        /* The last row of this district: write it out. */
        if (r + 1 == rows || strcmp(PQgetvalue(res, r + 1, 0), district) != 0) {
            district_row(req, &t, district, needs, covered, n_needs,
                         strtoll(PQgetvalue(res, r, 3), NULL, 10));
            memset(covered, 0, sizeof(covered));
        }
    }
    html_table_end(&t, "No service in the directory names a district or local authority yet.");
    if (c->csv) {
        viewer_send_csv(req, "coverage.csv", &out);
        return;
    }
    html_csv_link(&out, req->http->query);
    strbuf_puts(&out, "<p>A district appears here once a service names it in its area "
                      "(docs/directory.md). Search the <a href=\"/viewer/directory\">directory</a> "
                      "for the services themselves.</p>\n");
    html_page_end(&out);
    viewer_send_html(req, 200, &out);
}

void view_coverage(req_t *req)
{
    static const char *const allowed[] = {"need", NULL};
    if (viewer_bad_query(req, allowed))
        return;
    cov_ctx_t *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->csv = viewer_wants_csv(req);
    if (query_get(req->http->query, "need", c->need, sizeof(c->need)) < 0 ||
        !view_code_ok(tr_pathway_codes("needs"), c->need)) {
        free(c);
        response_problem(req, 400, "bad-parameter",
                         "need must be one of the need codes (docs/records.md)");
        return;
    }
    const char *params[1] = {conn_visibility(req->conn)};
    int rc = req_query(req, COVERAGE_SQL, 1, params, on_rows, c, free);
    if (rc != 0)
        response_error(req, rc, NULL);
}
