/* The Open Referral UK read API of the shared directory, under /oruk/:
 * the profile's GET endpoints, its page format, CORS open to every origin.
 * Served on the mutual-TLS listener and, when configured, on the public one,
 * where confidential services show their area only (tr_oruk.c). Services
 * and service-at-locations are listed through dir_query.c. */
#include "api.h"
#include "api_oruk_int.h"
#include "dir_index_load.h"
#include "dir_query.h"
#include "node.h"
#include "query.h"
#include "req_query.h"
#include "response.h"
#include "strbuf.h"
#include "tr_check.h"
#include "tr_error.h"
#include "tr_oruk.h"
#include "view_cache.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void oruk_json(req_t *req, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        abort();
    response_send(req, 200, "application/json", ORUK_CORS, text, strlen(text));
    free(text);
}

void oruk_problem(req_t *req, int status, const char *slug, const char *detail)
{
    response_problem_h(req, status, slug, detail, ORUK_CORS);
}

void oruk_db_error(req_t *req, const PGresult *res)
{
    if (!res)
        response_problem_h(req, 503, "database-unavailable",
                           "the directory is not reachable; try again shortly",
                           ORUK_CORS "Retry-After: 5\r\n");
    else
        oruk_problem(req, 500, "internal", "the directory could not be read");
}

bool oruk_public_view(const req_t *req)
{
    return req->conn->is_public;
}

/* ---- the API's description ---- */

/* openapi_url: this node's own description of the API as it serves it
 * (oruk_openapi.c), at the host the client asked for (Host was checked by
 * http.c to be a valid host[:port]); both listeners are TLS. */
void api_oruk_root(req_t *req)
{
    const char *host = NULL;
    for (unsigned i = 0; i < req->http->n_headers; i++)
        if (strcmp(req->http->headers[i].name, "host") == 0)
            host = req->http->headers[i].value;
    char url[320];
    snprintf(url, sizeof(url), "https://%s/oruk/openapi.json",
             host && strlen(host) < 256 ? host : "localhost");
    oruk_json(req, json_pack("{s:s, s:s, s:s}", "version", "3.0", "profile",
                             "https://openreferral.org/uk/profile", "openapi_url", url));
}

void api_oruk_openapi(req_t *req)
{
    size_t len;
    const char *doc = oruk_openapi_json(&len);
    response_send(req, 200, "application/json", ORUK_CORS, doc, len);
}

/* CORS preflight: every /oruk/ path is a read, open to every origin and
 * without credentials, so any request header may come. */
void api_oruk_options(req_t *req)
{
    response_send(req, 200, "text/plain",
                  ORUK_CORS "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
                            "Access-Control-Allow-Headers: *\r\n"
                            "Access-Control-Max-Age: 86400\r\n"
                            "Allow: GET, HEAD, OPTIONS\r\n",
                  "", 0);
}

/* ---- paging ---- */

bool oruk_parse_paging(req_t *req, const char *const *extra, oruk_paging_t *pg)
{
    const char *q = req->http->query;
    static const char *const paging[] = {"page", "per_page", NULL};
    const char *bad;
    size_t bad_len;
    /* Only paging and the caller's own: a filter this list cannot honour is refused. */
    const char *names[16];
    size_t n = 0;
    for (const char *const *p = paging; *p; p++)
        names[n++] = *p;
    for (const char *const *p = extra; p && *p && n + 1 < 16; p++)
        names[n++] = *p;
    names[n] = NULL;
    if (!query_only(q, names, &bad, &bad_len)) {
        char d[120], name[40];
        size_t k = bad_len < sizeof(name) - 1 ? bad_len : sizeof(name) - 1;
        for (size_t i = 0; i < k; i++)
            name[i] = isalnum((unsigned char)bad[i]) || bad[i] == '_' ? bad[i] : '?';
        name[k] = '\0';
        snprintf(d, sizeof(d), "unknown parameter %s: this list cannot honour it", name);
        oruk_problem(req, 400, "unknown-parameter", d);
        return false;
    }
    /* The same rules as dir_query's: first value wins, per_page clamped. */
    dir_filter_t f;
    char err[160];
    if (dir_filter_parse(q, NULL, &f, err, sizeof(err)) != 0) {
        oruk_problem(req, 400, "bad-parameter", err);
        return false;
    }
    pg->page = f.page;
    pg->per_page = f.per_page;
    pg->clamped = f.per_page_clamped;
    return true;
}

json_t *oruk_page(const oruk_paging_t *pg, int64_t total, json_t *contents)
{
    int64_t pages = total ? (total + pg->per_page - 1) / pg->per_page : 0;
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:b, s:o}", "total_items",
                     (json_int_t)total, "total_pages", (json_int_t)pages, "page_number",
                     (json_int_t)pg->page, "size", (json_int_t)json_array_size(contents),
                     "per_page", (json_int_t)pg->per_page, "first_page", pg->page == 1, "last_page",
                     pg->page >= pages, "empty", json_array_size(contents) == 0, "contents",
                     contents);
}

typedef struct {
    oruk_paging_t pg;
    oruk_render_fn render;
    char key[VIEW_CACHE_KEY_MAX + 1]; /* "" when the reply is not to be kept */
    uint64_t generation;              /* node->data_generation when the query was sent */
} list_ctx_t;

/* The reply cache's key for a list: everything the reply depends on. The
 * node's organisation is the view (dir_query's, ORUK_VISIBLE's), never the
 * client's, so the path, the query as sent and the listener's view name it.
 * false when too long to keep. */
static bool list_key(const req_t *req, char *key, size_t len)
{
    int n = snprintf(key, len, "oruk|%s|%s?%s", oruk_public_view(req) ? "public" : "members",
                     req->http->path, req->http->query ? req->http->query : "");
    return n > 0 && (size_t)n < len;
}

/* oruk_page's object as json_dumps(JSON_COMPACT) writes it (members in
 * that order, jansson's integer format), around contents: the JSON array
 * text of n items, already rendered. */
static void page_text(strbuf_t *out, const oruk_paging_t *pg, int64_t total, const char *contents,
                      size_t len, size_t n)
{
    int64_t pages = total ? (total + pg->per_page - 1) / pg->per_page : 0;
    strbuf_printf(out,
                  "{\"total_items\":%" JSON_INTEGER_FORMAT ",\"total_pages\":%" JSON_INTEGER_FORMAT
                  ",\"page_number\":%" JSON_INTEGER_FORMAT ",\"size\":%" JSON_INTEGER_FORMAT
                  ",\"per_page\":%" JSON_INTEGER_FORMAT
                  ",\"first_page\":%s,\"last_page\":%s,\"empty\":%s,\"contents\":",
                  (json_int_t)total, (json_int_t)pages, (json_int_t)pg->page, (json_int_t)n,
                  (json_int_t)pg->per_page, pg->page == 1 ? "true" : "false",
                  pg->page >= pages ? "true" : "false", n == 0 ? "true" : "false");
    strbuf_add(out, contents, len);
    strbuf_add(out, "}", 1);
}

static json_t *render_service(const json_t *item, bool pv);

/* The page's reply from its rows: total, the items' JSON array (len
 * bytes), and the postcode lookup's status (NULL: no postcode asked); for
 * the services' list, the items already rendered when the index keeps
 * them (sums: a JSON array of n_sums, sums_len bytes; NULL: render). */
static void list_reply(req_t *req, const list_ctx_t *c, int64_t total, const char *items,
                       size_t len, const char *lookup, const char *sums, size_t sums_len,
                       size_t n_sums)
{
    if (lookup && strcmp(lookup, "not_loaded") == 0) {
        oruk_problem(req, 400, "postcode-lookup-not-loaded",
                     "the postcode filter cannot be honoured: this node's postcode lookup "
                     "is not loaded (trellisd --load-postcodes)");
        return;
    }
    if (lookup && strcmp(lookup, "unknown_postcode") == 0) {
        oruk_problem(req, 400, "unknown-postcode", "postcode is not in the postcode lookup");
        return;
    }
    char *text;
    size_t text_len;
    if (sums && c->render == render_service) {
        /* The same bytes as below, with no parse, build or dump per item:
         * test_oruk_index compares them with the SQL path's. */
        strbuf_t out = {0};
        page_text(&out, &c->pg, total, sums, sums_len, n_sums);
        text = strbuf_take(&out, &text_len);
    } else {
        json_t *rows = json_loadb(items, len, 0, NULL);
        json_t *contents = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(rows, i, v)
        {
            json_t *item = c->render(v, oruk_public_view(req));
            if (item)
                json_array_append_new(contents, item);
        }
        json_decref(rows);
        json_t *page = oruk_page(&c->pg, total, contents);
        text = json_dumps(page, JSON_COMPACT);
        json_decref(page);
        if (!text)
            abort();
        text_len = strlen(text);
    }
    if (c->key[0]) {
        node_t *node = req->conn->node;
        view_cache_put_len(c->key, c->generation, uv_now(node->loop), text, text_len);
    }
    response_send(req, 200, "application/json", ORUK_CORS, text, text_len);
    free(text);
}

/* A list of oruk_run_list's query: (total, items[, lookup]). */
static void on_list(req_t *req, const PGresult *res, const char *err, void *ud)
{
    (void)err;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        oruk_db_error(req, res);
        return;
    }
    list_reply(req, ud, strtoll(PQgetvalue(res, 0, 0), NULL, 10), PQgetvalue(res, 0, 1),
               (size_t)PQgetlength(res, 0, 1), PQnfields(res) > 2 ? PQgetvalue(res, 0, 2) : NULL,
               NULL, 0, 0);
}

/* A directory listing, from the index or by the SQL path alike. */
static void on_rows(req_t *req, const dir_rows_t *rows, int rc, void *ud)
{
    if (!rows) {
        if (rc == TR_E_DB_UNAVAILABLE)
            oruk_db_error(req, NULL);
        else
            oruk_problem(req, 500, "internal", "the directory could not be read");
        return;
    }
    list_reply(req, ud, rows->total, rows->items_json, rows->len, rows->lookup, rows->summaries,
               rows->summaries_len, rows->n_items);
}

/* The context of a list to run, or NULL when the same list was kept and
 * has been answered (view_cache.h): the same reply, no query and no
 * rendering while nothing was stored. */
static list_ctx_t *list_start(req_t *req, const oruk_paging_t *pg, oruk_render_fn render)
{
    node_t *node = req->conn->node;
    char key[VIEW_CACHE_KEY_MAX + 1];
    bool keep = list_key(req, key, sizeof(key));
    size_t len;
    const char *hit =
        keep ? view_cache_get_len(key, node->data_generation, uv_now(node->loop), &len) : NULL;
    if (hit) {
        response_send(req, 200, "application/json", ORUK_CORS, hit, len);
        return NULL;
    }
    list_ctx_t *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        abort();
    ctx->pg = *pg;
    ctx->render = render;
    if (keep)
        memcpy(ctx->key, key, sizeof(key));
    ctx->generation = node->data_generation;
    return ctx;
}

void oruk_run_list(req_t *req, const oruk_paging_t *pg, oruk_render_fn render, const char *sql,
                   int nparams, const char **params)
{
    list_ctx_t *ctx = list_start(req, pg, render);
    if (ctx && req_query(req, sql, nparams, params, on_list, ctx, free) != 0)
        oruk_db_error(req, NULL);
}

/* ---- /services and /service_at_locations: the directory query ---- */

static json_t *render_service(const json_t *item, bool pv)
{
    return tr_oruk_service_summary(json_object_get(item, "body"), pv);
}

/* minimal: the id and when this node received the version listed, the time
 * modified_after compares. */
static json_t *render_minimal(const json_t *item, bool pv)
{
    (void)pv;
    return json_pack("{s:O, s:O}", "id", json_object_get(json_object_get(item, "body"), "id"),
                     "last_modified", json_object_get(item, "received_at"));
}

static json_t *render_sal(const json_t *item, bool pv)
{
    const json_t *body = json_object_get(item, "body");
    json_t *out = tr_oruk_sal(json_object_get(item, "sal"), body, pv);
    if (out)
        json_object_set_new(out, "service", tr_oruk_service_summary(body, pv));
    return out;
}

static void list_directory(req_t *req, dir_list_t what)
{
    dir_filter_t f;
    char err[160];
    if (dir_filter_parse(req->http->query, NULL, &f, err, sizeof(err)) != 0) {
        oruk_problem(req, 400, "bad-parameter", err);
        return;
    }
    if (f.minimal && what != DIR_LIST_SERVICES) {
        oruk_problem(req, 400, "bad-parameter", "minimal is for /services only");
        return;
    }
    oruk_paging_t pg = {f.page, f.per_page, f.per_page_clamped};
    oruk_render_fn render = what == DIR_LIST_SALS ? render_sal
                            : f.minimal           ? render_minimal
                                                  : render_service;
    dir_view_t view = {.org = req->conn->node->org,
                       .public_view = oruk_public_view(req),
                       .oruk_items = render == render_service};
    list_ctx_t *ctx = list_start(req, &pg, render);
    if (!ctx)
        return;
    /* From the directory index, or by dir_query_build's SQL: the same row. */
    int rc = dir_index_list(req, &f, what, &view, on_rows, ctx, free);
    if (rc == TR_E_INVAL)
        oruk_problem(req, 400, "bad-parameter", "this list cannot take these filters");
    else if (rc != 0)
        oruk_db_error(req, NULL);
}

void api_oruk_services(req_t *req)
{
    list_directory(req, DIR_LIST_SERVICES);
}

void api_oruk_service_at_locations(req_t *req)
{
    list_directory(req, DIR_LIST_SALS);
}

/* ---- one item ---- */

typedef struct {
    oruk_render_fn render;
} one_ctx_t;

static void on_one(req_t *req, const PGresult *res, const char *err, void *ud)
{
    const one_ctx_t *c = ud;
    (void)err;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        oruk_db_error(req, res);
        return;
    }
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        oruk_problem(req, 404, "not-found", "no such item in the directory");
        return;
    }
    if (!c->render) {
        response_send(req, 200, "application/json", ORUK_CORS, PQgetvalue(res, 0, 0),
                      (size_t)PQgetlength(res, 0, 0));
        return;
    }
    json_t *row = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    json_t *out = row ? c->render(row, oruk_public_view(req)) : NULL;
    json_decref(row);
    if (!out) {
        oruk_problem(req, 500, "internal", "the directory could not be read");
        return;
    }
    oruk_json(req, out);
}

void oruk_get_one(req_t *req, const char *prefix, const char *sql, oruk_render_fn render)
{
    char id[40];
    const char *p = req->http->path + strlen(prefix);
    if (strlen(p) >= sizeof(id)) {
        oruk_problem(req, 404, "not-found", "ids are UUIDs");
        return;
    }
    snprintf(id, sizeof(id), "%s", p);
    for (char *c = id; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (!tr_is_uuid(id)) {
        oruk_problem(req, 404, "not-found", "ids are UUIDs");
        return;
    }
    one_ctx_t *ctx = malloc(sizeof(*ctx));
    if (!ctx)
        abort();
    ctx->render = render;
    const char *org = req->conn->node->org[0] ? req->conn->node->org : NULL;
    const char *params[2] = {id, org};
    if (req_query(req, sql, 2, params, on_one, ctx, free) != 0)
        oruk_db_error(req, NULL);
}

static json_t *render_full(const json_t *row, bool pv)
{
    return tr_oruk_service(row, pv);
}

/* A service says who published it: its organization's identifiers gain the
 * Trellis member that wrote the record (its origin, whose derived id the
 * organization's id is: docs/directory.md), so a finder can tell. */
void api_oruk_service(req_t *req)
{
    oruk_get_one(req, "/oruk/services/",
                 "SELECT jsonb_set(doc->'body', '{organization,organization_identifiers}', "
                 "coalesce(doc->'body'->'organization'->'organization_identifiers', '[]'::jsonb) "
                 "|| jsonb_build_array(jsonb_build_object('id', md5('trellis-member:' || "
                 "origin)::uuid, 'organization_id', doc->'body'->'organization'->>'id', "
                 "'identifier_scheme', 'trellis', 'identifier_type', 'Trellis consortium "
                 "member', 'identifier', origin))) FROM directory_services s "
                 "WHERE id = $1::uuid AND " ORUK_VISIBLE("s", "2"),
                 render_full);
}

static json_t *render_one_sal(const json_t *row, bool pv)
{
    const json_t *body = json_object_get(row, "body");
    json_t *out = tr_oruk_sal(json_object_get(row, "sal"), body, pv);
    if (out)
        json_object_set_new(out, "service", tr_oruk_service(body, pv));
    return out;
}

/* The service-at-location asked for, with its whole service. */
void api_oruk_service_at_location(req_t *req)
{
    oruk_get_one(req, "/oruk/service_at_locations/",
                 "SELECT json_build_object('sal', sal, 'body', s.doc->'body') "
                 "FROM directory_places l JOIN directory_services s ON s.id = l.service_id AND "
                 "s.origin = l.origin, jsonb_array_elements(s.doc->'body'->"
                 "'service_at_locations') sal WHERE l.sal_id = $1 AND NOT l.by_area AND "
                 "sal->>'id' = $1 AND " ORUK_VISIBLE("s", "2") " LIMIT 1",
                 render_one_sal);
}
