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
} route_t;

static const route_t routes[] = {
    {"healthz", HTTP_GET, "/healthz", api_healthz},
    {"readyz", HTTP_GET, "/readyz", api_readyz},
    {"metrics", HTTP_GET, "/metrics", api_metrics},
    {"whoami", HTTP_GET, "/v1/whoami", api_whoami},
    {"records_post", HTTP_POST, "/v1/records", api_records_post},
    {"records_get", HTTP_GET, "/v1/records/*/*", api_records_get},
    {"changes", HTTP_GET, "/v1/changes", api_changes},
    {"referrals", HTTP_GET, "/v1/referrals", api_referrals},
    {"feedback", HTTP_GET, "/v1/feedback", api_feedback},
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
    for (int i = 0; i < N_ROUTES; i++) {
        if (!path_matches(routes[i].pattern, path))
            continue;
        if ((int)routes[i].method == req->http->method) {
            req->route = i;
            routes[i].fn(req);
            return;
        }
        const char *m = llhttp_method_name(routes[i].method);
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
