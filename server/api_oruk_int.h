/* What the Open Referral UK handlers (api_oruk.c, api_oruk_tax.c) share:
 * replies with CORS, the page object, and running a one-row list query. */
#ifndef TRELLIS_API_ORUK_INT_H
#define TRELLIS_API_ORUK_INT_H

#include "conn.h"
#include "db.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define ORUK_CORS "Access-Control-Allow-Origin: *\r\n"

/* SQL: directory_services row s may be shown to this node's organisation,
 * parameter $n (NULL: to anyone): the audience rule of feed.c's agent feed
 * and dir_query.c, and never a shadowed service. */
#define ORUK_VISIBLE(s, n)                                                                         \
    "NOT " s ".shadowed AND ($" n "::text IS NULL OR " s ".origin = $" n " OR " s                  \
    ".audience && ARRAY[$" n "::text, '*'] OR " s ".audience IS NULL)"

/* The OpenAPI document of the API as this node serves it (static). */
const char *oruk_openapi_json(size_t *len);

/* 200 with body (stolen). */
void oruk_json(req_t *req, json_t *body);
void oruk_problem(req_t *req, int status, const char *slug, const char *detail);
/* res NULL: 503 with Retry-After; otherwise 500. */
void oruk_db_error(req_t *req, const PGresult *res);
bool oruk_public_view(const req_t *req);

/* The paging of a list endpoint. */
typedef struct {
    int64_t page, per_page;
    bool clamped;
} oruk_paging_t;

/* The page object of ../shared/oruk/example-service_list.json, plus
 * per_page: the page size used (after clamping). contents is stolen. */
json_t *oruk_page(const oruk_paging_t *pg, int64_t total, json_t *contents);

/* Parse page and per_page (clamped) and refuse every other parameter but
 * those in extra (NULL-terminated, may be NULL). false: replied 400. */
bool oruk_parse_paging(req_t *req, const char *const *extra, oruk_paging_t *pg);

/* Run a list query whose one row is (total, json array); each element is
 * rendered by render (a new reference, or NULL to leave it out) and the
 * page sent. sql's last two parameters must be LIMIT and OFFSET. */
typedef json_t *(*oruk_render_fn)(const json_t *row, bool public_view);
void oruk_run_list(req_t *req, const oruk_paging_t *pg, oruk_render_fn render, const char *sql,
                   int nparams, const char **params);

/* Fetch one item: sql takes $1 = the id from the path after prefix (a UUID,
 * lower-cased) and returns one row of JSON, rendered by render or sent as
 * is (render NULL). 404 when no row. */
void oruk_get_one(req_t *req, const char *prefix, const char *sql, oruk_render_fn render);

#endif
