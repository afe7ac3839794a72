/* Routing by exact path segments; a '*' segment matches any one segment. */
#include "router.h"
#include "api.h"
#include "response.h"
#include "view_pages.h"
#include "viewer.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name; /* metrics label */
    llhttp_method_t method;
    const char *pattern;
    route_handler_t fn;
    unsigned listeners; /* ON_* bits: the listeners that serve it */
} route_t;

/* The API is served on the mutual-TLS listener, /oruk/ also on the public
 * one, and the viewer's pages only on the viewer listener (plain HTTP). */
enum { ON_API = 1, ON_PUBLIC = 2, ON_VIEWER = 4, ON_TLS = ON_API | ON_PUBLIC };

static const route_t routes[] = {
    {"healthz", HTTP_GET, "/healthz", api_healthz, ON_TLS | ON_VIEWER},
    {"readyz", HTTP_GET, "/readyz", api_readyz, ON_API},
    {"metrics", HTTP_GET, "/metrics", api_metrics, ON_API},
    {"whoami", HTTP_GET, "/v1/whoami", api_whoami, ON_API},
    {"records_post", HTTP_POST, "/v1/records", api_records_post, ON_API},
    {"records_get", HTTP_GET, "/v1/records/*/*", api_records_get, ON_API},
    {"changes", HTTP_GET, "/v1/changes", api_changes, ON_API},
    {"referrals", HTTP_GET, "/v1/referrals", api_referrals, ON_API},
    {"feedback", HTTP_GET, "/v1/feedback", api_feedback, ON_API},
    {"fed_changes", HTTP_GET, "/v1/fed/changes", api_fed_changes, ON_API},
    {"fed_certs", HTTP_GET, "/v1/fed/certs/*", api_fed_certs, ON_API},
    {"fed_status", HTTP_GET, "/v1/fed/status", api_fed_status, ON_API},
    {"oruk_root", HTTP_GET, "/oruk/", api_oruk_root, ON_TLS},
    {"oruk_index", HTTP_GET, "/oruk", api_oruk_root, ON_TLS},
    {"oruk_services", HTTP_GET, "/oruk/services", api_oruk_services, ON_TLS},
    {"oruk_service", HTTP_GET, "/oruk/services/*", api_oruk_service, ON_TLS},
    {"oruk_taxonomies", HTTP_GET, "/oruk/taxonomies", api_oruk_taxonomies, ON_TLS},
    {"oruk_taxonomy", HTTP_GET, "/oruk/taxonomies/*", api_oruk_taxonomy, ON_TLS},
    {"oruk_terms", HTTP_GET, "/oruk/taxonomy_terms", api_oruk_taxonomy_terms, ON_TLS},
    {"oruk_term", HTTP_GET, "/oruk/taxonomy_terms/*", api_oruk_taxonomy_term, ON_TLS},
    {"oruk_sals", HTTP_GET, "/oruk/service_at_locations", api_oruk_service_at_locations, ON_TLS},
    {"oruk_sal", HTTP_GET, "/oruk/service_at_locations/*", api_oruk_service_at_location, ON_TLS},
    {"oruk_orgs", HTTP_GET, "/oruk/organizations", api_oruk_organizations, ON_TLS},
    {"oruk_org", HTTP_GET, "/oruk/organizations/*", api_oruk_organization, ON_TLS},
    {"oruk_openapi", HTTP_GET, "/oruk/openapi.json", api_oruk_openapi, ON_TLS},
    {"viewer_root", HTTP_GET, "/", viewer_root, ON_VIEWER},
    {"viewer_index", HTTP_GET, "/viewer/", viewer_index, ON_VIEWER},
    {"viewer_index_bare", HTTP_GET, "/viewer", viewer_index, ON_VIEWER},
    {"viewer_static", HTTP_GET, "/viewer/static/*", viewer_static, ON_VIEWER},
    {"viewer_directory", HTTP_GET, "/viewer/directory", view_directory, ON_VIEWER},
    {"viewer_coverage", HTTP_GET, "/viewer/coverage", view_coverage, ON_VIEWER},
    {"viewer_service", HTTP_GET, "/viewer/directory/services/*", view_service, ON_VIEWER},
    {"viewer_pathways", HTTP_GET, "/viewer/pathways", view_pathways, ON_VIEWER},
    {"viewer_feedback", HTTP_GET, "/viewer/feedback", view_feedback, ON_VIEWER},
    {"viewer_easy_read", HTTP_GET, "/viewer/feedback/easy-read", view_feedback_easy, ON_VIEWER},
};

#define N_ROUTES ((int)(sizeof(routes) / sizeof(routes[0])))

int router_count(void)
{
    return N_ROUTES;
}

const char *router_name(int index)
{
    return index >= 0 && index < N_ROUTES ? routes[index].name : "none";
}

static bool path_matches(const char *pattern, const char *path)
{
    while (*pattern && *path) {
        if (pattern[0] == '*' && (pattern[1] == '/' || pattern[1] == '\0')) {
            const char *seg_end = strchr(path, '/');
            if (!seg_end)
                seg_end = path + strlen(path);
            if (seg_end == path)
                return false; /* an empty segment matches nothing */
            path = seg_end;
            pattern++;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

void router_dispatch(req_t *req)
{
    const char *path = req->http->path;
    char allow[128] = "";
    size_t alen = 0;
    unsigned on = req->conn->is_viewer ? ON_VIEWER : req->conn->is_public ? ON_PUBLIC : ON_API;
    if (on == ON_VIEWER && !viewer_admit(req))
        return;
    for (int i = 0; i < N_ROUTES; i++) {
        if (!(routes[i].listeners & on) || !path_matches(routes[i].pattern, path))
            continue;
        /* The Open Referral API is read from browsers on other origins: a CORS
         * preflight of any of its paths is answered (api_oruk.c). */
        if (req->http->method == HTTP_OPTIONS && strncmp(routes[i].pattern, "/oruk", 5) == 0) {
            req->route = i;
            api_oruk_options(req);
            return;
        }
        /* RFC 9110 9.1: HEAD is GET without the body (response.c leaves it out). */
        if ((int)routes[i].method == req->http->method ||
            (routes[i].method == HTTP_GET && req->http->method == HTTP_HEAD)) {
            req->route = i;
            routes[i].fn(req);
            return;
        }
        const char *m =
            routes[i].method == HTTP_GET ? "GET, HEAD" : llhttp_method_name(routes[i].method);
        if (!strstr(allow, m))
            alen +=
                (size_t)snprintf(allow + alen, sizeof(allow) - alen, "%s%s", alen ? ", " : "", m);
    }
    if (alen) {
        char hdr[160];
        snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
        response_problem_h(req, 405, "method-not-allowed", "this path does not take that method",
                           hdr);
        return;
    }
    response_problem(req, 404, "not-found", "no such path");
}
