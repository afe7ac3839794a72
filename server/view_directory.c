/* The directory search for caseworkers: GET /viewer/directory, words and
 * filters (need, district or local authority, gender, age, risk level,
 * accessibility, self-referral, taking referrals now), a page of services
 * at a time and its CSV. The query is the shared directory layer's
 * (dir_query.h), the same as /oruk/services, read as the node's own
 * organisation; this file only renders it. */
#include "dir_index_load.h"
#include "dir_query.h"
#include "html.h"
#include "node.h"
#include "query.h"
#include "req_query.h"
#include "response.h"
#include "tr_error.h"
#include "tr_record.h"
#include "view_cache.h"
#include "view_form.h"
#include "view_pages.h"
#include "viewer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PER_PAGE 50

typedef struct {
    dir_filter_t f;
    bool csv;
    int age;                          /* -1 when not asked */
    char key[VIEW_CACHE_KEY_MAX + 1]; /* the reply cache's, "" when not kept */
    uint64_t generation;              /* node->data_generation when the query was sent */
} dir_ctx_t;

static void dir_ctx_free(void *p)
{
    free(p);
}

/* The request's query without the viewer's own parameters (format, age),
 * for dir_filter_parse, which refuses what it does not know. */
static void layer_query(const char *q, strbuf_t *out)
{
    strbuf_puts(out, "");
    for (const char *p = q ? q : ""; *p;) {
        size_t n = strcspn(p, "&");
        size_t k = strcspn(p, "=&");
        bool ours =
            (k == 6 && strncmp(p, "format", 6) == 0) || (k == 3 && strncmp(p, "age", 3) == 0);
        if (!ours && n) {
            if (out->len)
                strbuf_puts(out, "&");
            strbuf_add(out, p, n);
        }
        p += n + (p[n] == '&');
    }
}

/* The form's values for the links that keep the filters (paging). */
static void filter_query(strbuf_t *out, const dir_filter_t *f, int age)
{
    struct {
        const char *name, *value;
    } kv[] = {{"search", f->search},         {"need", f->need},
              {"district", f->district},     {"for_gender", f->for_gender},
              {"risk_level", f->risk_level}, {"accessibility", f->accessibility}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (!kv[i].value[0])
            continue;
        strbuf_printf(out, "%s=", kv[i].name);
        html_url_param(out, kv[i].value);
        strbuf_puts(out, "&");
    }
    if (age >= 0)
        strbuf_printf(out, "age=%d&", age);
    if (f->taking_referrals >= 0)
        strbuf_printf(out, "taking_referrals=%s&", f->taking_referrals ? "true" : "false");
    if (f->self_referral >= 0)
        strbuf_printf(out, "self_referral=%s&", f->self_referral ? "true" : "false");
}

static void form(strbuf_t *out, const dir_filter_t *f, int age)
{
    view_form_begin(out, "/viewer/directory", "Search the directory");
    view_input(out, "search", "Words", "search", f->search);
    view_select(out, "need", "Need", tr_directory_codes("needs"), f->need);
    view_input(out, "district", "District or local authority (LS7, E08000035)", "text",
               f->district);
    static const char *const genders[] = {"women", "men", "non_binary", NULL};
    view_select(out, "for_gender", "For", genders, f->for_gender);
    char age_s[8] = "";
    if (age >= 0)
        snprintf(age_s, sizeof(age_s), "%d", age);
    view_input(out, "age", "Age", "number", age_s);
    view_select(out, "risk_level", "Risk level taken", tr_directory_codes("risk_levels"),
                f->risk_level);
    view_select(out, "accessibility", "Accessibility", tr_directory_codes("accessibility"),
                f->accessibility);
    view_select_yesno(out, "self_referral", "Self-referral", f->self_referral);
    view_select_yesno(out, "taking_referrals", "Taking referrals now", f->taking_referrals);
    view_form_end(out, "Search");
}

static void join_codes(json_t *arr, strbuf_t *out)
{
    size_t i;
    json_t *v;
    char lab[96];
    json_array_foreach(arr, i, v)
    {
        strbuf_puts(out, i ? ", " : "");
        strbuf_puts(out, view_label(json_string_value(v), lab, sizeof(lab)));
    }
}

static void row(html_table_t *t, json_t *item)
{
    json_t *body = json_object_get(item, "body");
    json_t *tr = json_object_get(body, "trellis");
    const char *origin = json_string_value(json_object_get(item, "origin"));
    const char *id = json_string_value(json_object_get(body, "id"));
    strbuf_t href = {0}, s = {0};
    strbuf_puts(&href, "/viewer/directory/services/");
    html_url_param(&href, id);
    strbuf_puts(&href, "?origin=");
    html_url_param(&href, origin);
    html_table_link(t, href.buf, json_string_value(json_object_get(body, "name")));
    strbuf_free(&href);
    html_table_cell(
        t, json_string_value(json_object_get(json_object_get(body, "organization"), "name")));
    join_codes(json_object_get(tr, "for_genders"), &s);
    html_table_cell(t, s.buf);
    strbuf_free(&s);
    json_t *lo = json_object_get(body, "minimum_age"), *hi = json_object_get(body, "maximum_age");
    if (json_is_integer(lo) || json_is_integer(hi))
        strbuf_printf(&s, "%lld to %lld",
                      json_is_integer(lo) ? (long long)json_integer_value(lo) : 0LL,
                      json_is_integer(hi) ? (long long)json_integer_value(hi) : 130LL);
    html_table_cell(t, s.buf);
    strbuf_free(&s);
    join_codes(json_object_get(tr, "needs"), &s);
    html_table_cell(t, s.buf);
    strbuf_free(&s);
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(body, "service_areas"), i, a)
    {
        const char *n = json_string_value(json_object_get(a, "name"));
        if (n) {
            strbuf_puts(&s, s.len ? "; " : "");
            strbuf_puts(&s, n);
        }
    }
    html_table_cell(t, s.buf);
    strbuf_free(&s);
    json_t *taking = json_object_get(tr, "taking_referrals");
    json_t *self = json_object_get(tr, "self_referral");
    html_table_cell(t, json_is_boolean(taking) ? (json_is_true(taking) ? "Yes" : "No") : "");
    html_table_cell(t, json_is_boolean(self) ? (json_is_true(self) ? "Yes" : "No") : "");
}

/* Send the page: the viewer's header (it names the signed-in user, so it is
 * never kept) and the page's own part, as rendered or kept. */
static void send_page(req_t *req, const char *body, size_t len)
{
    strbuf_t out = {0};
    viewer_page_begin(req, &out, "Directory", "directory", false);
    strbuf_add(&out, body, len);
    viewer_send_html(req, 200, &out);
}

/* What is kept of a directory page for the same query while nothing is
 * stored (view_cache.h): the CSV, or the page below its header. */
static bool cache_key(const req_t *req, char *key, size_t len)
{
    /* Who is looking is part of what is listed (conn_visibility). */
    const char *who = conn_visibility(req->conn);
    int n = snprintf(key, len, "viewer-directory|%s|%s", who ? who : "*",
                     req->http->query ? req->http->query : "");
    return n > 0 && (size_t)n < len;
}

static void on_list(req_t *req, const dir_rows_t *rows, int rc, void *ud)
{
    const dir_ctx_t *c = ud;
    if (!rows) {
        response_error(req, rc, NULL);
        return;
    }
    const char *lookup = rows->lookup;
    if (strcmp(lookup, "ok") != 0) {
        response_problem(req, 400, "bad-parameter",
                         strcmp(lookup, "not_loaded") == 0
                             ? "postcode: this node has no postcode lookup loaded"
                             : "postcode: not a known postcode");
        return;
    }
    long long total = (long long)rows->total;
    json_t *items = json_loadb(rows->items_json, rows->len, 0, NULL);
    static const char *const cols[] = {
        "Service", "Run by", "For", "Ages", "Needs", "Area", "Taking referrals", "Self-referral"};
    strbuf_t out = {0};
    if (!c->csv) {
        strbuf_puts(&out, "<p>Find a service by words and filters. Every service is shown as its "
                          "organisation published it.</p>\n");
        form(&out, &c->f, c->age);
        char n[TR_SMALLNUM_TEXT_MAX];
        strbuf_printf(&out, "<p>Services found: %s.</p>\n",
                      viewer_count_text(req, total, n, sizeof(n)));
    }
    html_table_t t;
    html_table_begin(&t, &out, c->csv, "Services", cols, (int)(sizeof(cols) / sizeof(cols[0])));
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) row(&t, item);
    json_decref(items);
    html_table_end(&t, "No service matches this search. Try fewer filters.");
    node_t *node = req->conn->node;
    if (c->csv) {
        if (c->key[0])
            view_cache_put_len(c->key, c->generation, uv_now(node->loop), out.buf ? out.buf : "",
                               out.len);
        viewer_send_csv(req, "directory.csv", &out);
        return;
    }
    /* Paging: links, never a count of the pages. */
    strbuf_t q = {0};
    filter_query(&q, &c->f, c->age);
    bool prev = c->f.page > 1, next = c->f.page * c->f.per_page < total;
    if (prev || next) {
        strbuf_puts(&out, "<nav aria-label=\"Pages of results\"><ul>\n");
        if (prev) {
            strbuf_puts(&out, "<li><a href=\"?");
            html_attr(&out, q.buf);
            strbuf_printf(&out, "page=%lld\">Previous page</a></li>\n", (long long)c->f.page - 1);
        }
        if (next) {
            strbuf_puts(&out, "<li><a href=\"?");
            html_attr(&out, q.buf);
            strbuf_printf(&out, "page=%lld\">Next page</a></li>\n", (long long)c->f.page + 1);
        }
        strbuf_puts(&out, "</ul></nav>\n");
    }
    strbuf_free(&q);
    html_csv_link(&out, req->http->query);
    html_page_end(&out);
    if (c->key[0])
        view_cache_put_len(c->key, c->generation, uv_now(node->loop), out.buf, out.len);
    send_page(req, out.buf, out.len);
    strbuf_free(&out);
}

void view_directory(req_t *req)
{
    const char *q = req->http->query;
    /* The same query again while nothing was stored: the kept page (only
     * a page that was answered 200 is kept, so its query was valid). */
    node_t *node = req->conn->node;
    char key[VIEW_CACHE_KEY_MAX + 1];
    bool keep = cache_key(req, key, sizeof(key));
    size_t len;
    const char *hit =
        keep ? view_cache_get_len(key, node->data_generation, uv_now(node->loop), &len) : NULL;
    if (hit && viewer_wants_csv(req)) {
        strbuf_t out = {0};
        strbuf_add(&out, hit, len);
        viewer_send_csv(req, "directory.csv", &out);
        return;
    }
    if (hit) {
        send_page(req, hit, len);
        return;
    }
    char format[8] = "", per_page[24];
    int frc = query_get(q, "format", format, sizeof(format));
    if (frc < 0 || (frc == 1 && strcmp(format, "csv") && strcmp(format, "html"))) {
        response_problem(req, 400, "bad-parameter", "format must be html or csv");
        return;
    }
    /* The form sends age= when it is left empty: that is no age. */
    char age_s[8];
    int64_t age = -1;
    int arc = query_get(q, "age", age_s, sizeof(age_s));
    if (arc < 0 || (arc == 1 && age_s[0] && query_int(q, "age", 0, 130, -1, &age) != 0)) {
        response_problem(req, 400, "bad-parameter", "age must be a whole number from 0 to 130");
        return;
    }
    dir_ctx_t *c = calloc(1, sizeof(*c));
    if (!c)
        abort();
    c->csv = frc == 1 && strcmp(format, "csv") == 0;
    if (keep)
        memcpy(c->key, key, sizeof(key));
    c->generation = node->data_generation;
    c->age = (int)age;
    strbuf_t lq = {0};
    layer_query(q, &lq);
    char err[200];
    int rc = dir_filter_parse(lq.buf, NULL, &c->f, err, sizeof(err));
    bool per_page_given = query_get(lq.buf, "per_page", per_page, sizeof(per_page)) != 0;
    strbuf_free(&lq);
    if (rc != 0) {
        free(c);
        response_problem(req, 400, "bad-parameter", err);
        return;
    }
    if (!per_page_given)
        c->f.per_page = PER_PAGE;
    if (age >= 0)
        c->f.minimum_age = c->f.maximum_age = (int)age;
    dir_view_t view = {.org = conn_visibility(req->conn), .public_view = false};
    /* From the directory index, or by dir_query_build's SQL: the same row. */
    dir_filter_t f = c->f;
    rc = dir_index_list(req, &f, DIR_LIST_SERVICES, &view, on_list, c, dir_ctx_free);
    if (rc == TR_E_INVAL)
        response_problem(req, 400, "bad-parameter", "the directory cannot take this filter");
    else if (rc != 0)
        response_error(req, rc, NULL);
}
