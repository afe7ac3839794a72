/* The Open Referral UK lists that are derived from the directory's services:
 * taxonomies and their terms (those the services use), and organizations
 * (one per Trellis member that publishes services: a service's organization
 * is its origin's, docs/directory.md). */
#include "api.h"
#include "api_oruk_int.h"
#include "dir_query.h"
#include "query.h"
#include "tr_oruk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *render_as_is(const json_t *v, bool pv)
{
    (void)pv;
    return json_deep_copy(v);
}

/* A term as served: a term that names its taxonomy without an id gets the
 * taxonomy's derived UUID (trellis_taxonomy_id, sql/007). */
#define TERM_SQL(a)                                                                                \
    "CASE WHEN " a "->'taxonomy_term' ? 'taxonomy_id' OR NOT " a "->'taxonomy_term' ? "            \
    "'taxonomy' THEN " a "->'taxonomy_term' ELSE jsonb_set(" a "->'taxonomy_term', "               \
    "'{taxonomy_id}', to_jsonb(trellis_taxonomy_id(" a "->'taxonomy_term'))) END"

/* The taxonomy_id filter, with its parameter checked by dir_query's rules. */
static bool taxonomy_param(req_t *req, char out[37])
{
    dir_filter_t f;
    char err[160];
    if (dir_filter_parse(req->http->query, NULL, &f, err, sizeof(err)) != 0) {
        oruk_problem(req, 400, "bad-parameter", err);
        return false;
    }
    memcpy(out, f.taxonomy_id, 37);
    return true;
}

static void paging_params(const oruk_paging_t *pg, char limit[24], char offset[24])
{
    snprintf(limit, 24, "%lld", (long long)pg->per_page);
    snprintf(offset, 24, "%lld", (long long)((pg->page - 1) * pg->per_page));
}

static const char *node_org(const req_t *req)
{
    return req->conn->node->org[0] ? req->conn->node->org : NULL;
}

void api_oruk_taxonomy_terms(req_t *req)
{
    static const char *const extra[] = {"taxonomy_id", NULL};
    oruk_paging_t pg;
    char taxonomy[37], limit[24], offset[24];
    if (!oruk_parse_paging(req, extra, &pg) || !taxonomy_param(req, taxonomy))
        return;
    paging_params(&pg, limit, offset);
    const char *params[4] = {node_org(req), taxonomy[0] ? taxonomy : NULL, limit, offset};
    oruk_run_list(
        req, &pg, render_as_is,
        "WITH f AS (SELECT DISTINCT ON (a->'taxonomy_term'->>'id') " TERM_SQL(
            "a") " AS t, a->'taxonomy_term'->>'id' AS tid FROM directory_services s, "
                 "jsonb_array_elements(coalesce(s.doc->'body'->'attributes', '[]')) a "
                 "WHERE " ORUK_VISIBLE(
                     "s",
                     "1") " AND a->'taxonomy_term'->>'id' IS NOT NULL "
                          "AND ($2::text IS NULL OR (s.taxonomy_ids @> ARRAY[$2::text] AND "
                          "trellis_taxonomy_id(a->'taxonomy_term') = $2)) "
                          "ORDER BY a->'taxonomy_term'->>'id', s.seq DESC) "
                          "SELECT (SELECT count(*) FROM f), coalesce((SELECT json_agg(p.t) FROM "
                          "(SELECT t FROM f ORDER BY tid LIMIT $3::int OFFSET $4::bigint) p), "
                          "'[]')",
        4, params);
}

void api_oruk_taxonomy_term(req_t *req)
{
    oruk_get_one(req, "/oruk/taxonomy_terms/",
                 "SELECT " TERM_SQL(
                     "a") " FROM directory_services s, "
                          "jsonb_array_elements(coalesce(s.doc->'body'->'attributes', '[]')) a "
                          "WHERE s.taxonomy_terms @> ARRAY[$1::text] AND "
                          "a->'taxonomy_term'->>'id' = $1 AND " ORUK_VISIBLE(
                              "s", "2") " ORDER BY s.seq DESC LIMIT 1",
                 NULL);
}

/* A taxonomy is known by the terms that name it (taxonomy_id, taxonomy). */
#define TAXONOMY_SQL(a, k)                                                                         \
    "json_build_object('id', " k ", 'name', coalesce(" a "->'taxonomy_term'->>'taxonomy', " k      \
    "), 'description', coalesce(" a "->'taxonomy_term'->>'taxonomy', 'taxonomy'))"

void api_oruk_taxonomy(req_t *req)
{
    oruk_get_one(
        req, "/oruk/taxonomies/",
        "SELECT " TAXONOMY_SQL(
            "a", "$1::text") " FROM directory_services s, "
                             "jsonb_array_elements(coalesce(s.doc->'body'->'attributes', '[]')) a "
                             "WHERE s.taxonomy_ids @> ARRAY[$1::text] AND "
                             "trellis_taxonomy_id(a->'taxonomy_term') = $1 AND " ORUK_VISIBLE(
                                 "s", "2") " ORDER BY s.seq DESC LIMIT 1",
        NULL);
}

/* A list without filters of its own: paging only, and sql takes $1 = the
 * node's organisation (ORUK_VISIBLE), $2 = LIMIT, $3 = OFFSET. */
static void paged_list(req_t *req, oruk_render_fn render, const char *sql)
{
    oruk_paging_t pg;
    char limit[24], offset[24];
    if (!oruk_parse_paging(req, NULL, &pg))
        return;
    paging_params(&pg, limit, offset);
    const char *params[3] = {node_org(req), limit, offset};
    oruk_run_list(req, &pg, render, sql, 3, params);
}

void api_oruk_taxonomies(req_t *req)
{
    paged_list(
        req, render_as_is,
        "WITH f AS (SELECT DISTINCT ON (x.k) " TAXONOMY_SQL(
            "a",
            "x.k") " AS t, x.k FROM directory_services s, "
                   "jsonb_array_elements(coalesce(s.doc->'body'->'attributes', '[]')) a, "
                   "LATERAL (SELECT trellis_taxonomy_id(a->'taxonomy_term') AS k) x "
                   "WHERE " ORUK_VISIBLE(
                       "s",
                       "1") " AND x.k IS NOT NULL "
                            "ORDER BY x.k, s.seq DESC) "
                            "SELECT (SELECT count(*) FROM f), coalesce((SELECT json_agg(p.t) FROM "
                            "(SELECT t FROM f ORDER BY k LIMIT $2::int OFFSET $3::bigint) p), "
                            "'[]')");
}

/* ---- organizations: one per publishing member, from its latest service ---- */

/* A row: {"origin", "member_id", "organization", "services"?}. */
static json_t *render_org(const json_t *row, bool pv)
{
    json_t *out = tr_oruk_organization(json_object_get(row, "organization"),
                                       json_string_value(json_object_get(row, "origin")),
                                       json_string_value(json_object_get(row, "member_id")));
    json_t *services = json_object_get(row, "services");
    if (out && json_is_array(services)) {
        json_t *list = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(services, i, v)
            json_array_append_new(list, tr_oruk_service_summary(v, pv));
        json_object_set_new(out, "services", list);
    }
    return out;
}

#define ORG_ROW(s)                                                                                 \
    "json_build_object('origin', " s ".origin, 'member_id', md5('trellis-member:' || " s           \
    ".origin)::uuid, 'organization', " s ".doc->'body'->'organization')"

void api_oruk_organizations(req_t *req)
{
    paged_list(
        req, render_org,
        "WITH f AS (SELECT DISTINCT ON (s.origin) " ORG_ROW(
            "s") " AS o, s.doc->'body'->'organization'->>'name' AS name, s.origin "
                 "FROM directory_services s WHERE " ORUK_VISIBLE(
                     "s",
                     "1") " ORDER BY s.origin, s.seq DESC) "
                          "SELECT (SELECT count(*) FROM f), coalesce((SELECT json_agg(p.o) FROM "
                          "(SELECT o FROM f ORDER BY name, origin LIMIT $2::int OFFSET $3::bigint) "
                          "p), "
                          "'[]')");
}

/* One organization, with its services (as list items). */
void api_oruk_organization(req_t *req)
{
    oruk_get_one(
        req, "/oruk/organizations/",
        "SELECT (" ORG_ROW(
            "s") "::jsonb || jsonb_build_object('services', "
                 "(SELECT jsonb_agg(t.doc->'body' ORDER BY t.name, t.id) FROM directory_services "
                 "t WHERE t.organization_id = $1::uuid AND t.origin = s.origin AND " ORUK_VISIBLE(
                     "t", "2") ")))::json FROM directory_services s "
                               "WHERE s.organization_id = $1::uuid AND " ORUK_VISIBLE(
                                   "s", "2") " ORDER BY s.seq DESC LIMIT 1",
        render_org);
}
