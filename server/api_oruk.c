/* The Open Referral UK read API of the shared directory, under /oruk/:
 * the profile's GET endpoints, its page format, CORS open to every origin.
 * Served on the mutual-TLS listener and, when configured, on the public one,
 * where confidential services show their area only (tr_oruk.c). */
#include "api.h"
#include "req_query.h"
#include "query.h"
#include "response.h"
#include "strbuf.h"
#include "tr_check.h"
#include "tr_error.h"
#include "tr_oruk.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORS "Access-Control-Allow-Origin: *\r\n"
#define PER_PAGE_DEFAULT 50
#define PER_PAGE_MAX 200

static void oruk_json(req_t *req, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        abort();
    response_send(req, 200, "application/json", CORS, text, strlen(text));
    free(text);
}

static void oruk_problem(req_t *req, int status, const char *slug, const char *detail)
{
    response_problem_h(req, status, slug, detail, CORS);
}

static void oruk_db_error(req_t *req, const PGresult *res)
{
    if (!res)
        response_problem_h(req, 503, "database-unavailable",
                           "the directory is not reachable; try again shortly",
                           CORS "Retry-After: 5\r\n");
    else
        oruk_problem(req, 500, "internal", "the directory could not be read");
}

static bool public_view(const req_t *req)
{
    return req->conn->is_public;
}

void api_oruk_root(req_t *req)
{
    oruk_json(req, json_pack("{s:s, s:s, s:s}", "version", "3.0", "profile",
                             "https://openreferral.org/uk/profile", "openapi_url",
                             "https://raw.githubusercontent.com/openreferral/uk-profile/main/"
                             "schema/openapi.json"));
}

/* ---- paging ---- */

typedef struct {
    int64_t page, per_page;
    char limit[16], offset[24]; /* as query parameters */
} paging_t;

static bool parse_paging(req_t *req, paging_t *pg)
{
    const char *q = req->http->query;
    if (query_int(q, "page", 1, 1000000, 1, &pg->page) != 0) {
        oruk_problem(req, 400, "bad-parameter", "page must be a whole number from 1");
        return false;
    }
    if (query_int(q, "per_page", 1, PER_PAGE_MAX, PER_PAGE_DEFAULT, &pg->per_page) != 0) {
        oruk_problem(req, 400, "bad-parameter", "per_page must be between 1 and 200");
        return false;
    }
    snprintf(pg->limit, sizeof(pg->limit), "%lld", (long long)pg->per_page);
    snprintf(pg->offset, sizeof(pg->offset), "%lld", (long long)((pg->page - 1) * pg->per_page));
    return true;
}

/* The page object of ../shared/oruk/example-service_list.json; contents stolen. */
static json_t *page_of(const paging_t *pg, int64_t total, json_t *contents)
{
    int64_t pages = total ? (total + pg->per_page - 1) / pg->per_page : 0;
    return json_pack("{s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:o}", "total_items", (json_int_t)total,
                     "total_pages", (json_int_t)pages, "page_number", (json_int_t)pg->page, "size",
                     (json_int_t)json_array_size(contents), "first_page", pg->page == 1,
                     "last_page", pg->page >= pages, "empty", json_array_size(contents) == 0,
                     "contents", contents);
}

/* A page query returns one row: (total, json array of bodies). */
typedef json_t *(*render_fn)(const json_t *body, bool public_view);

typedef struct {
    paging_t pg;
    render_fn render;
} list_ctx_t;

static void on_list(req_t *req, const PGresult *res, const char *err, void *ud)
{
    const list_ctx_t c = *(const list_ctx_t *)ud;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        oruk_db_error(req, res);
        return;
    }
    int64_t total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    json_t *rows = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    json_t *contents = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(rows, i, v) json_array_append_new(contents, c.render(v, public_view(req)));
    json_decref(rows);
    oruk_json(req, page_of(&c.pg, total, contents));
}

static void run_list(req_t *req, const paging_t *pg, render_fn render, const char *sql, int nparams,
                     const char **params)
{
    list_ctx_t *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        abort();
    ctx->pg = *pg;
    ctx->render = render;
    if (req_query(req, sql, nparams, params, on_list, ctx, free) != 0)
        oruk_db_error(req, NULL);
}

/* ---- /services ---- */

static bool is_timestamp(const char *s)
{
    /* YYYY-MM-DD, optionally THH:MM[:SS[.fff]] and Z or ±HH:MM */
    size_t n = strlen(s);
    if (n < 10 || n > 40)
        return false;
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : !isdigit((unsigned char)s[i]))
            return false;
    for (size_t i = 10; i < n; i++)
        if (!strchr("0123456789T:.Z+-", s[i]))
            return false;
    return n == 10 || s[10] == 'T';
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

void api_oruk_services(req_t *req)
{
    const char *q = req->http->query;
    paging_t pg;
    if (!parse_paging(req, &pg))
        return;
    char search[200] = "", term[64] = "", org[64] = "", modified[48] = "", need[32] = "",
         gender[16] = "", risk[16] = "", taking[8] = "", self[8] = "", access[40] = "";
    struct {
        const char *name;
        char *buf;
        size_t len;
    } text[] = {
        {"search", search, sizeof(search)},    {"taxonomy_term_id", term, sizeof(term)},
        {"organization_id", org, sizeof(org)}, {"modified_after", modified, sizeof(modified)},
        {"need", need, sizeof(need)},          {"for_gender", gender, sizeof(gender)},
        {"risk_level", risk, sizeof(risk)},    {"taking_referrals", taking, sizeof(taking)},
        {"self_referral", self, sizeof(self)}, {"accessibility", access, sizeof(access)},
    };
    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        if (query_get(q, text[i].name, text[i].buf, text[i].len) < 0) {
            char d[120];
            snprintf(d, sizeof(d), "%s is malformed or too long", text[i].name);
            oruk_problem(req, 400, "bad-parameter", d);
            return;
        }
    }
    int64_t min_age, max_age;
    if (query_int(q, "minimum_age", 0, 130, -1, &min_age) != 0 ||
        query_int(q, "maximum_age", 0, 130, -1, &max_age) != 0) {
        oruk_problem(req, 400, "bad-parameter", "minimum_age and maximum_age are 0 to 130");
        return;
    }
    lower(term);
    lower(org);
    if ((term[0] && !tr_is_uuid(term)) || (org[0] && !tr_is_uuid(org))) {
        oruk_problem(req, 400, "bad-parameter", "taxonomy_term_id and organization_id are UUIDs");
        return;
    }
    if (modified[0] && !is_timestamp(modified)) {
        oruk_problem(req, 400, "bad-parameter", "modified_after is an RFC 3339 date or time");
        return;
    }
    if ((taking[0] && strcmp(taking, "true") && strcmp(taking, "false")) ||
        (self[0] && strcmp(self, "true") && strcmp(self, "false"))) {
        oruk_problem(req, 400, "bad-parameter", "taking_referrals and self_referral are booleans");
        return;
    }
    char mins[8], maxs[8];
    snprintf(mins, sizeof(mins), "%lld", (long long)min_age);
    snprintf(maxs, sizeof(maxs), "%lld", (long long)max_age);
#define OPT(s) ((s)[0] ? (s) : NULL)
    const char *params[14] = {OPT(search),
                              OPT(term),
                              OPT(org),
                              min_age >= 0 ? mins : NULL,
                              max_age >= 0 ? maxs : NULL,
                              OPT(modified),
                              OPT(need),
                              OPT(gender),
                              OPT(risk),
                              OPT(taking),
                              OPT(self),
                              OPT(access),
                              pg.limit,
                              pg.offset};
#undef OPT
    /* An age filter keeps the services whose age range overlaps the one asked for. */
    run_list(req, &pg, tr_oruk_service_summary,
             "WITH f AS (SELECT doc->'body' AS body, name, id FROM directory_services WHERE "
             "NOT shadowed AND ($1::text IS NULL OR search @@ websearch_to_tsquery('english', $1)) "
             "AND ($2::text IS NULL OR taxonomy_terms @> ARRAY[$2::text]) "
             "AND ($3::uuid IS NULL OR organization_id = $3::uuid) "
             "AND ($4::int IS NULL OR coalesce(maximum_age, 130) >= $4::int) "
             "AND ($5::int IS NULL OR coalesce(minimum_age, 0) <= $5::int) "
             "AND ($6::timestamptz IS NULL OR last_modified > $6::timestamptz) "
             "AND ($7::text IS NULL OR needs @> ARRAY[$7::text]) "
             "AND ($8::text IS NULL OR for_genders && ARRAY[$8::text, 'all']) "
             "AND ($9::text IS NULL OR risk_levels @> ARRAY[$9::text]) "
             "AND ($10::boolean IS NULL OR taking_referrals = $10::boolean) "
             "AND ($11::boolean IS NULL OR self_referral = $11::boolean) "
             "AND ($12::text IS NULL OR accessibility @> ARRAY[$12::text])) "
             "SELECT (SELECT count(*) FROM f), coalesce((SELECT json_agg(p.body) FROM "
             "(SELECT body FROM f ORDER BY name, id LIMIT $13::int OFFSET $14::bigint) p), '[]')",
             14, params);
}

/* ---- one service, one service_at_location ---- */

static void on_one(void *ud, const PGresult *res, const char *err)
{
    req_t *req = ud;
    bool as_service = req->ctx != NULL;
    req->dbq = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        oruk_db_error(req, res);
        return;
    }
    if (PQntuples(res) == 0) {
        oruk_problem(req, 404, "not-found", "no such item in the directory");
        return;
    }
    if (!as_service) {
        response_send(req, 200, "application/json", CORS, PQgetvalue(res, 0, 0),
                      (size_t)PQgetlength(res, 0, 0));
        return;
    }
    json_t *body = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    json_t *out = tr_oruk_service(body, public_view(req));
    json_decref(body);
    oruk_json(req, out);
}

/* as_service: the row is a service body, rendered by tr_oruk_service;
 * otherwise it is served as stored. Ids are UUIDs unless any_id. */
static void get_one(req_t *req, const char *prefix, const char *sql, bool as_service, bool any_id)
{
    char id[80];
    const char *p = req->http->path + strlen(prefix);
    if (strlen(p) >= sizeof(id)) {
        oruk_problem(req, 404, "not-found", "no such item in the directory");
        return;
    }
    snprintf(id, sizeof(id), "%s", p);
    if (!any_id)
        lower(id);
    if (!any_id && !tr_is_uuid(id)) {
        oruk_problem(req, 404, "not-found", "ids are UUIDs");
        return;
    }
    req->ctx = as_service ? req : NULL;
    const char *params[1] = {id};
    int rc = db_query(req->conn->node->db, sql, 1, params, on_one, req, &req->dbq);
    if (rc != 0)
        oruk_db_error(req, NULL);
}

/* A service says who published it: its organization's identifiers gain the
 * Trellis member that wrote the record (its origin, whose derived id the
 * organization's id is: docs/directory.md), so a finder can tell. */
void api_oruk_service(req_t *req)
{
    get_one(req, "/oruk/services/",
            "SELECT jsonb_set(doc->'body', '{organization,organization_identifiers}', "
            "coalesce(doc->'body'->'organization'->'organization_identifiers', '[]'::jsonb) || "
            "jsonb_build_array(jsonb_build_object('id', md5('trellis-member:' || origin)::uuid, "
            "'organization_id', doc->'body'->'organization'->>'id', 'identifier_scheme', "
            "'trellis', 'identifier_type', 'Trellis consortium member', 'identifier', origin))) "
            "FROM directory_services WHERE id = $1::uuid AND NOT shadowed",
            true, false);
}

/* A service_at_location is served as the whole service it belongs to, as the
 * profile's OpenAPI says (compiled service.json). */
void api_oruk_service_at_location(req_t *req)
{
    get_one(req, "/oruk/service_at_locations/",
            "SELECT doc->'body' FROM directory_services, "
            "jsonb_array_elements(coalesce(doc->'body'->'service_at_locations', '[]')) sal "
            "WHERE sal->>'id' = $1 AND NOT shadowed LIMIT 1",
            true, false);
}

/* List form of a service_at_location: the link with its service's summary. */
static json_t *render_sal(const json_t *row, bool pv)
{
    json_t *service = tr_oruk_service_summary(json_object_get(row, "service"), pv);
    json_t *sal = json_object_get(row, "sal");
    json_t *out = json_pack("{s:O, s:O, s:o}", "id", json_object_get(sal, "id"), "service_id",
                            json_object_get(service, "id"), "service", service);
    json_t *loc = json_object_get(sal, "location");
    if (loc && !pv)
        json_object_set(out, "location_id", json_object_get(loc, "id"));
    return out;
}

void api_oruk_service_at_locations(req_t *req)
{
    paging_t pg;
    if (!parse_paging(req, &pg))
        return;
    char vis[8];
    snprintf(vis, sizeof(vis), "%s", public_view(req) ? "true" : "false");
    const char *params[3] = {pg.limit, pg.offset, vis};
    /* The public view lists no locations of confidential services. */
    run_list(req, &pg, render_sal,
             "WITH f AS (SELECT json_build_object('sal', sal, 'service', s.doc->'body') AS row, "
             "s.name, sal->>'id' AS sid FROM directory_services s, "
             "jsonb_array_elements(coalesce(s.doc->'body'->'service_at_locations', '[]')) sal "
             "WHERE NOT s.shadowed AND NOT ($3::boolean AND s.confidential)) "
             "SELECT (SELECT count(*) FROM f), coalesce((SELECT json_agg(p.row) FROM "
             "(SELECT row FROM f ORDER BY name, sid LIMIT $1::int OFFSET $2::bigint) p), '[]')",
             3, params);
}

/* ---- taxonomies and terms: those the directory's services use ---- */

static json_t *render_as_is(const json_t *v, bool pv)
{
    return json_deep_copy(v);
}

void api_oruk_taxonomy_terms(req_t *req)
{
    paging_t pg;
    if (!parse_paging(req, &pg))
        return;
    const char *params[2] = {pg.limit, pg.offset};
    run_list(
        req, &pg, render_as_is,
        "WITH f AS (SELECT DISTINCT ON (a->'taxonomy_term'->>'id') a->'taxonomy_term' AS t, "
        "a->'taxonomy_term'->>'id' AS tid FROM directory_services, "
        "jsonb_array_elements(coalesce(doc->'body'->'attributes', '[]')) a "
        "WHERE a->'taxonomy_term'->>'id' IS NOT NULL ORDER BY a->'taxonomy_term'->>'id', seq DESC) "
        "SELECT (SELECT count(*) FROM f), coalesce((SELECT json_agg(p.t) FROM "
        "(SELECT t FROM f ORDER BY tid LIMIT $1::int OFFSET $2::bigint) p), '[]')",
        2, params);
}

void api_oruk_taxonomy_term(req_t *req)
{
    get_one(req, "/oruk/taxonomy_terms/",
            "SELECT a->'taxonomy_term' FROM directory_services, "
            "jsonb_array_elements(coalesce(doc->'body'->'attributes', '[]')) a "
            "WHERE a->'taxonomy_term'->>'id' = $1 ORDER BY seq DESC LIMIT 1",
            false, false);
}

void api_oruk_taxonomy(req_t *req)
{
    get_one(req, "/oruk/taxonomies/",
            "SELECT json_build_object('id', $1::text, 'name', "
            "coalesce(a->'taxonomy_term'->>'taxonomy', $1::text), 'description', "
            "coalesce(a->'taxonomy_term'->>'taxonomy', 'taxonomy')) FROM directory_services, "
            "jsonb_array_elements(coalesce(doc->'body'->'attributes', '[]')) a "
            "WHERE coalesce(a->'taxonomy_term'->>'taxonomy_id', a->'taxonomy_term'->>'taxonomy') "
            "= $1 ORDER BY seq DESC LIMIT 1",
            false, true);
}

void api_oruk_taxonomies(req_t *req)
{
    paging_t pg;
    if (!parse_paging(req, &pg))
        return;
    const char *params[2] = {pg.limit, pg.offset};
    /* A taxonomy is known by the terms that name it (taxonomy_id, taxonomy). */
    run_list(
        req, &pg, render_as_is,
        "WITH f AS (SELECT DISTINCT ON (coalesce(a->'taxonomy_term'->>'taxonomy_id', "
        "a->'taxonomy_term'->>'taxonomy')) json_build_object('id', "
        "coalesce(a->'taxonomy_term'->>'taxonomy_id', a->'taxonomy_term'->>'taxonomy'), "
        "'name', coalesce(a->'taxonomy_term'->>'taxonomy', a->'taxonomy_term'->>'taxonomy_id'), "
        "'description', coalesce(a->'taxonomy_term'->>'taxonomy', 'taxonomy')) AS t, "
        "coalesce(a->'taxonomy_term'->>'taxonomy_id', a->'taxonomy_term'->>'taxonomy') AS k "
        "FROM directory_services, "
        "jsonb_array_elements(coalesce(doc->'body'->'attributes', '[]')) a "
        "WHERE coalesce(a->'taxonomy_term'->>'taxonomy_id', a->'taxonomy_term'->>'taxonomy') "
        "IS NOT NULL) "
        "SELECT (SELECT count(*) FROM f), coalesce((SELECT json_agg(p.t) FROM "
        "(SELECT t FROM f ORDER BY k LIMIT $1::int OFFSET $2::bigint) p), '[]')",
        2, params);
}
