/* Routing by exact path segments; a '*' segment matches any one segment. */
#include "router.h"
#include "api.h"
#include "response.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name; /* metrics label */
    llhttp_method_t method;
    const char *pattern;
    route_handler_t fn;
    bool public_ok; /* also served on the public listener */
} route_t;

static const route_t routes[] = {
    {"healthz", HTTP_GET, "/healthz", api_healthz, true},
    {"readyz", HTTP_GET, "/readyz", api_readyz, false},
    {"metrics", HTTP_GET, "/metrics", api_metrics, false},
    {"whoami", HTTP_GET, "/v1/whoami", api_whoami, false},
    {"records_post", HTTP_POST, "/v1/records", api_records_post, false},
    {"records_get", HTTP_GET, "/v1/records/*/*", api_records_get, false},
    {"changes", HTTP_GET, "/v1/changes", api_changes, false},
    {"referrals", HTTP_GET, "/v1/referrals", api_referrals, false},
    {"feedback", HTTP_GET, "/v1/feedback", api_feedback, false},
    {"fed_changes", HTTP_GET, "/v1/fed/changes", api_fed_changes, false},
    {"fed_certs", HTTP_GET, "/v1/fed/certs/*", api_fed_certs, false},
    {"fed_status", HTTP_GET, "/v1/fed/status", api_fed_status, false},
    {"oruk_root", HTTP_GET, "/oruk/", api_oruk_root, true},
    {"oruk_index", HTTP_GET, "/oruk", api_oruk_root, true},
    {"oruk_services", HTTP_GET, "/oruk/services", api_oruk_services, true},
    {"oruk_service", HTTP_GET, "/oruk/services/*", api_oruk_service, true},
    {"oruk_taxonomies", HTTP_GET, "/oruk/taxonomies", api_oruk_taxonomies, true},
    {"oruk_taxonomy", HTTP_GET, "/oruk/taxonomies/*", api_oruk_taxonomy, true},
    {"oruk_terms", HTTP_GET, "/oruk/taxonomy_terms", api_oruk_taxonomy_terms, true},
    {"oruk_term", HTTP_GET, "/oruk/taxonomy_terms/*", api_oruk_taxonomy_term, true},
    {"oruk_sals", HTTP_GET, "/oruk/service_at_locations", api_oruk_service_at_locations, true},
    {"oruk_sal", HTTP_GET, "/oruk/service_at_locations/*", api_oruk_service_at_location, true},
    {"oruk_orgs", HTTP_GET, "/oruk/organizations", api_oruk_organizations, true},
    {"oruk_org", HTTP_GET, "/oruk/organizations/*", api_oruk_organization, true},
    {"oruk_openapi", HTTP_GET, "/oruk/openapi.json", api_oruk_openapi, true},
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
    bool is_public = req->conn->is_public;
    for (int i = 0; i < N_ROUTES; i++) {
        if ((is_public && !routes[i].public_ok) || !path_matches(routes[i].pattern, path))
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
