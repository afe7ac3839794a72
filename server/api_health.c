/* Operational endpoints: /healthz (process up), /readyz (database reachable,
 * schema current, and not recovering after a restore or a failover),
 * /metrics (Prometheus text). */
#include "api.h"
#include "conn.h"
#include "response.h"
#include "sync_pull.h"
#include "tr_error.h"
#include "tr_protocol.h"

#include <stdlib.h>
#include <string.h>

void api_healthz(req_t *req)
{
    /* The federation protocol this binary speaks, for an operator checking
     * an upgrade (docs/operations.md). */
    response_json(req, 200,
                  json_pack("{s:s, s:i, s:i}", "status", "ok", "protocol", TR_PROTOCOL_VERSION,
                            "protocol_min", TR_PROTOCOL_MIN));
}

static void on_ready_result(void *ud, const PGresult *res, const char *err)
{
    req_t *req = ud;
    req->dbq = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        response_error(req, TR_E_DB_UNAVAILABLE, "the database did not answer");
        return;
    }
    db_stats_t st;
    db_pool_stats(req->conn->node->db, &st);
    char why[200];
    if (!sync_taking_writes(req->conn->node, why, sizeof(why))) {
        response_problem_h(req, 503, "recovering", why, "Retry-After: 5\r\n");
        return;
    }
    response_json(req, 200,
                  json_pack("{s:s, s:i}", "status", "ready", "schema_version", st.schema_version));
}

void api_readyz(req_t *req)
{
    db_pool_t *db = req->conn->node->db;
    if (!db_pool_ready(db)) {
        db_stats_t st;
        db_pool_stats(db, &st);
        response_error(req, TR_E_DB_UNAVAILABLE,
                       st.connected ? "database schema migrations are not done yet"
                                    : "the database is not reachable yet");
        return;
    }
    /* Ask the database itself: a pooled connection can be dead without knowing. */
    int rc = db_query(db, "SELECT 1", 0, NULL, on_ready_result, req, &req->dbq);
    if (rc != 0)
        response_error(req, TR_E_DB_UNAVAILABLE, "the database is not reachable");
}

/* Is org/name listed in "org/name, org/name"? */
static bool listed(const char *list, const char *org, const char *name)
{
    size_t olen = strlen(org), nlen = strlen(name);
    for (const char *p = list; *p;) {
        p += strspn(p, ", \t");
        size_t n = strcspn(p, ", \t");
        if (n == olen + 1 + nlen && !strncmp(p, org, olen) && p[olen] == '/' &&
            !strncmp(p + olen + 1, name, nlen))
            return true;
        p += n;
    }
    return false;
}

void api_metrics(req_t *req)
{
    const tr_identity_t *id = conn_identity(req->conn);
    if (conn_visibility(req->conn) &&
        !listed(req->conn->node->cfg.metrics_scrapers, id->org, id->name)) {
        /* Peers' names, lags and errors are this organisation's business. */
        response_problem(req, 403, "not-your-node",
                         "only this node's own organisation, and the identities in "
                         "[node] metrics_scrapers, may read its metrics");
        return;
    }
    size_t len;
    char *text = metrics_render(req->conn->node, &len);
    response_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, text, len);
    free(text);
}
