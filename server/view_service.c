/* One directory service for a caseworker: GET /viewer/directory/services/{id}
 * (?origin=ORG when several members hold the id). Who it is for, what it
 * offers, how to refer and whom to contact, and where it is -- for a
 * confidential service its area only: its locations are never drawn, even
 * if a record somehow carried one. Every value is from another member's
 * record and escaped. */
#include "html.h"
#include "query.h"
#include "req_query.h"
#include "response.h"
#include "tr_error.h"
#include "tr_check.h"
#include "view_form.h"
#include "view_pages.h"
#include "viewer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/viewer/directory/services/"

/* "a, b, c" of a JSON array of codes, as labels. */
static void codes_line(strbuf_t *out, json_t *arr)
{
    size_t i;
    json_t *v;
    char lab[96];
    json_array_foreach(arr, i, v)
    {
        if (i)
            strbuf_puts(out, ", ");
        html_text(out, view_label(json_string_value(v), lab, sizeof(lab)));
    }
}

static void fact_begin(strbuf_t *out, const char *term)
{
    strbuf_puts(out, "<dt>");
    html_text(out, term);
    strbuf_puts(out, "</dt><dd>");
}

static void fact_text(strbuf_t *out, const char *term, const char *value)
{
    if (!value || !value[0])
        return;
    fact_begin(out, term);
    html_text(out, value);
    strbuf_puts(out, "</dd>\n");
}

static void fact_codes(strbuf_t *out, const char *term, json_t *arr)
{
    if (json_array_size(arr) == 0)
        return;
    fact_begin(out, term);
    codes_line(out, arr);
    strbuf_puts(out, "</dd>\n");
}

static void fact_bool(strbuf_t *out, const char *term, json_t *v, const char *yes, const char *no)
{
    if (!json_is_boolean(v))
        return;
    fact_text(out, term, json_is_true(v) ? yes : no);
}

/* A link only for a web address (http or https): any other scheme, such as
 * javascript:, shows as text. */
static void web_link(strbuf_t *out, const char *url)
{
    if (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0) {
        strbuf_puts(out, "<a href=\"");
        html_attr(out, url);
        strbuf_puts(out, "\">");
        html_text(out, url);
        strbuf_puts(out, "</a>");
    } else {
        html_text(out, url);
    }
}

static void phones(strbuf_t *out, json_t *arr)
{
    size_t i;
    json_t *p;
    char lab[64];
    json_array_foreach(arr, i, p)
    {
        const char *num = json_string_value(json_object_get(p, "number"));
        if (!num)
            continue;
        strbuf_puts(out, "<li>");
        html_text(out, num);
        const char *type = json_string_value(json_object_get(p, "type"));
        if (type) {
            strbuf_puts(out, " (");
            html_text(out, view_label(type, lab, sizeof(lab)));
            strbuf_puts(out, ")");
        }
        const char *desc = json_string_value(json_object_get(p, "description"));
        if (desc) {
            strbuf_puts(out, ": ");
            html_text(out, desc);
        }
        strbuf_puts(out, "</li>\n");
    }
}

static void email_item(strbuf_t *out, const char *email)
{
    if (!email)
        return;
    strbuf_puts(out, "<li>Email: <a href=\"mailto:");
    html_attr(out, email);
    strbuf_puts(out, "\">");
    html_text(out, email);
    strbuf_puts(out, "</a></li>\n");
}

/* How to refer: what the service takes, then every published contact. */
static void how_to_refer(strbuf_t *out, json_t *body, json_t *tr)
{
    strbuf_puts(out, "<h2>How to refer</h2>\n");
    json_t *taking = json_object_get(tr, "taking_referrals");
    if (json_is_false(taking))
        strbuf_puts(out, "<p class=\"note\">This service is <strong>not taking referrals "
                         "now</strong>.</p>\n");
    else if (json_is_true(taking))
        strbuf_puts(out, "<p>This service is taking referrals now.</p>\n");
    json_t *self = json_object_get(tr, "self_referral");
    if (json_is_true(self))
        strbuf_puts(out, "<p>People can refer themselves, or a professional can refer "
                         "them.</p>\n");
    else if (json_is_false(self))
        strbuf_puts(out, "<p>Referrals come from professionals only: people cannot refer "
                         "themselves.</p>\n");
    json_t *risks = json_object_get(tr, "risk_levels");
    if (json_array_size(risks)) {
        strbuf_puts(out, "<p>It takes referrals at these risk levels: ");
        codes_line(out, risks);
        strbuf_puts(out, ".</p>\n");
    }
    strbuf_puts(out, "<h2>Whom to contact</h2>\n<ul>\n");
    phones(out, json_object_get(body, "phones"));
    email_item(out, json_string_value(json_object_get(body, "email")));
    const char *url = json_string_value(json_object_get(body, "url"));
    if (url) {
        strbuf_puts(out, "<li>Website: ");
        web_link(out, url);
        strbuf_puts(out, "</li>\n");
    }
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(body, "contacts"), i, c)
    {
        strbuf_puts(out, "<li>");
        const char *parts[] = {"name", "title", "department"};
        bool any = false;
        for (int k = 0; k < 3; k++) {
            const char *v = json_string_value(json_object_get(c, parts[k]));
            if (v) {
                if (any)
                    strbuf_puts(out, ", ");
                html_text(out, v);
                any = true;
            }
        }
        strbuf_puts(out, any ? "\n<ul>\n" : "Contact\n<ul>\n");
        phones(out, json_object_get(c, "phones"));
        email_item(out, json_string_value(json_object_get(c, "email")));
        strbuf_puts(out, "</ul></li>\n");
    }
    strbuf_puts(out, "</ul>\n");
}

/* Where: the areas always; addresses only of a service that is not confidential. */
static void where(strbuf_t *out, json_t *body, bool confidential)
{
    strbuf_puts(out, "<h2>Where</h2>\n");
    size_t i;
    json_t *a;
    json_t *areas = json_object_get(body, "service_areas");
    if (json_array_size(areas)) {
        strbuf_puts(out, "<p>Area served:</p>\n<ul>\n");
        json_array_foreach(areas, i, a)
        {
            const char *name = json_string_value(json_object_get(a, "name"));
            if (!name || !name[0])
                name = json_string_value(json_object_get(a, "service_area"));
            strbuf_puts(out, "<li>");
            html_text(out, name ? name : "An area (unnamed)");
            strbuf_puts(out, "</li>\n");
        }
        strbuf_puts(out, "</ul>\n");
    }
    if (confidential) {
        strbuf_puts(out, "<p class=\"note\">The location of this service is confidential. "
                         "Trellis holds its area only; contact the service to refer.</p>\n");
        return;
    }
    json_t *sals = json_object_get(body, "service_at_locations");
    if (!json_array_size(sals))
        return;
    strbuf_puts(out, "<p>Places:</p>\n<ul>\n");
    json_array_foreach(sals, i, a)
    {
        json_t *loc = json_object_get(a, "location");
        strbuf_puts(out, "<li>");
        html_text(out, json_string_value(json_object_get(loc, "name")));
        size_t j;
        json_t *ad;
        json_array_foreach(json_object_get(loc, "addresses"), j, ad)
        {
            static const char *const lines[] = {"address_1", "address_2", "city", "postal_code",
                                                NULL};
            strbuf_puts(out, j || json_object_get(loc, "name") ? "<br>" : "");
            bool any = false;
            for (int k = 0; lines[k]; k++) {
                const char *v = json_string_value(json_object_get(ad, lines[k]));
                if (v && v[0]) {
                    if (any)
                        strbuf_puts(out, ", ");
                    html_text(out, v);
                    any = true;
                }
            }
        }
        strbuf_puts(out, "</li>\n");
    }
    strbuf_puts(out, "</ul>\n");
}

static void render(req_t *req, strbuf_t *out, const char *origin, json_t *body)
{
    json_t *tr = json_object_get(body, "trellis");
    bool confidential = json_is_true(json_object_get(tr, "location_confidential"));
    const char *name = json_string_value(json_object_get(body, "name"));
    viewer_page_begin(req, out, name ? name : "A service", "directory", false);
    json_t *org = json_object_get(body, "organization");
    strbuf_puts(out, "<p>Run by ");
    html_text(out, json_string_value(json_object_get(org, "name")));
    strbuf_puts(out, " (member <code>");
    html_text(out, origin);
    strbuf_puts(out, "</code>).</p>\n");
    const char *alert = json_string_value(json_object_get(body, "alert"));
    if (alert) {
        strbuf_puts(out, "<p class=\"note\">");
        html_text(out, alert);
        strbuf_puts(out, "</p>\n");
    }
    const char *desc = json_string_value(json_object_get(body, "description"));
    if (desc) {
        strbuf_puts(out, "<p>");
        html_text(out, desc);
        strbuf_puts(out, "</p>\n");
    }
    strbuf_puts(out, "<h2>Who it is for</h2>\n<dl class=\"facts\">\n");
    fact_codes(out, "For", json_object_get(tr, "for_genders"));
    json_t *lo = json_object_get(body, "minimum_age"), *hi = json_object_get(body, "maximum_age");
    if (json_is_integer(lo) || json_is_integer(hi)) {
        char ages[64];
        snprintf(ages, sizeof(ages), "%lld to %lld",
                 json_is_integer(lo) ? (long long)json_integer_value(lo) : 0LL,
                 json_is_integer(hi) ? (long long)json_integer_value(hi) : 130LL);
        fact_text(out, "Ages", ages);
    }
    fact_codes(out, "Needs it meets", json_object_get(tr, "needs"));
    fact_codes(out, "Accessibility", json_object_get(tr, "accessibility"));
    strbuf_t langs = {0};
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(body, "languages"), i, l)
    {
        const char *n = json_string_value(json_object_get(l, "name"));
        if (!n)
            n = json_string_value(json_object_get(l, "code"));
        if (n) {
            strbuf_puts(&langs, langs.len ? ", " : "");
            strbuf_puts(&langs, n);
        }
    }
    fact_text(out, "Languages", langs.buf);
    strbuf_free(&langs);
    fact_bool(out, "Taking referrals now", json_object_get(tr, "taking_referrals"), "Yes", "No");
    fact_bool(out, "Self-referral", json_object_get(tr, "self_referral"), "Yes", "No");
    fact_text(out, "Fees", json_string_value(json_object_get(body, "fees")));
    strbuf_puts(out, "</dl>\n");
    how_to_refer(out, body, tr);
    where(out, body, confidential);
    strbuf_puts(out, "<p><a href=\"/viewer/directory\">Back to the directory</a></p>\n");
    html_page_end(out);
}

static void on_service(req_t *req, const PGresult *res, const char *err, void *ud)
{
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        response_error(req, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, NULL);
        return;
    }
    if (PQntuples(res) == 0) {
        response_problem(req, 404, "not-found", "no service with this id is visible here");
        return;
    }
    json_t *body = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    if (!body) {
        response_error(req, TR_E_DB, "a stored service could not be read");
        return;
    }
    strbuf_t out = {0};
    render(req, &out, PQgetvalue(res, 0, 0), body);
    json_decref(body);
    viewer_send_html(req, 200, &out);
}

void view_service(req_t *req)
{
    static const char *const allowed[] = {"origin", NULL};
    if (viewer_bad_query(req, allowed))
        return;
    const char *id = req->http->path + strlen(PREFIX);
    char origin[80] = "";
    if (!tr_is_uuid(id)) {
        response_problem(req, 404, "not-found", "a service id is a UUID");
        return;
    }
    if (query_get(req->http->query, "origin", origin, sizeof(origin)) < 0) {
        response_problem(req, 400, "bad-parameter", "origin must be an organisation id");
        return;
    }
    const char *params[3] = {id, origin[0] ? origin : NULL, conn_visibility(req->conn)};
    /* What the organisation may see through /v1/changes (feed.c's rule);
     * without origin, the first holder, as the directory lists it. */
    int rc = req_query(req,
                       "SELECT origin, doc->'body' FROM directory_services "
                       "WHERE id = $1::uuid AND ($2::text IS NULL OR origin = $2) "
                       "AND ($3::text IS NULL OR origin = $3 OR audience && ARRAY[$3, '*'] "
                       "OR audience IS NULL) "
                       "ORDER BY shadowed, origin LIMIT 1",
                       3, params, on_service, NULL, NULL);
    if (rc != 0)
        response_error(req, rc, NULL);
}
