/* What peer nodes call: GET /v1/fed/changes (the change feed, limited to what
 * this node shares with the calling peer) and GET /v1/fed/certs/{fingerprint}
 * (the certificates that signed records, so relayed records can be checked).
 * The caller is known only from its certificate: a node of a configured
 * peer's organisation. */
#include "api.h"
#include "feed.h"
#include "response.h"
#include "sync_pull.h"
#include "tr_error.h"
#include "tr_protocol.h"

#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The configured peer the caller is, or NULL after replying 403. */
static const peer_cfg_t *calling_peer(req_t *req)
{
    const tr_identity_t *id = conn_identity(req->conn);
    const peer_cfg_t *peer = config_peer_by_org(&req->conn->node->cfg, id->org);
    if (id->role != TR_ROLE_NODE || !peer) {
        response_problem(req, 403, "not-a-peer",
                         "only the nodes of organisations configured as [peer] may sync");
        return NULL;
    }
    return peer;
}

/* Does the calling node speak a protocol version this node can answer in?
 * Its Trellis-Protocol header (none: version 1, the version before the
 * header). Else 400 protocol-version naming both, and false. */
static bool protocol_ok(req_t *req)
{
    int v = tr_protocol_parse(http_request_header(req->http, TR_PROTOCOL_HEADER));
    if (tr_protocol_supported(v))
        return true;
    char detail[160], theirs[32] = "an unreadable version";
    if (v >= 0)
        snprintf(theirs, sizeof(theirs), "protocol %d", v);
    snprintf(detail, sizeof(detail),
             "this node speaks Trellis protocol %d to %d; the request announced %s",
             TR_PROTOCOL_MIN, TR_PROTOCOL_VERSION, theirs);
    response_problem(req, 400, "protocol-version", detail);
    return false;
}

void api_fed_changes(req_t *req)
{
    const peer_cfg_t *peer = calling_peer(req);
    if (!peer || !protocol_ok(req))
        return;
    feed_filter_t f = {0};
    f.kinds = peer->share;
    f.max_limit = 5000; /* peers bootstrap in large batches: fewer round trips */
    snprintf(f.peer_org, sizeof(f.peer_org), "%s", peer->org);
    f.peer_name = peer->name;
    /* share = none goes through the feed too: an empty page that is held
     * for wait= like any other (answering at once made the peer ask again
     * at once, hundreds of times a second), with the real head and cursor. */
    feed_serve(req, &f);
}

static void on_cert(void *ud, const PGresult *res, const char *err)
{
    req_t *req = ud;
    req->dbq = NULL;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        response_error(req, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, NULL);
        return;
    }
    if (PQntuples(res) == 0) {
        response_problem(req, 404, "not-found", "no certificate with that fingerprint here");
        return;
    }
    response_send(req, 200, "application/pem-certificate-chain", NULL, PQgetvalue(res, 0, 0),
                  (size_t)PQgetlength(res, 0, 0));
}

void api_fed_certs(req_t *req)
{
    if (!calling_peer(req) || !protocol_ok(req))
        return;
    const char *fp = req->http->path + strlen("/v1/fed/certs/");
    bool hex = strlen(fp) == 64 && strspn(fp, "0123456789abcdef") == 64;
    if (!hex) {
        response_problem(req, 404, "not-found", "a fingerprint is 64 lowercase hex digits");
        return;
    }
    const char *params[1] = {fp};
    int rc = db_query(req->conn->node->db, "SELECT pem FROM signer_certs WHERE fingerprint = $1", 1,
                      params, on_cert, req, &req->dbq);
    if (rc != 0)
        response_error(req, rc, NULL);
}

/* GET /v1/fed/status: for this organisation's IT leads, per peer: the last
 * successful pull, the cursor, the lag in records and seconds, the last error. */
void api_fed_status(req_t *req)
{
    if (conn_visibility(req->conn)) { /* another organisation */
        response_problem(req, 403, "not-your-node",
                         "only this node's own organisation may read its sync status");
        return;
    }
    response_json(req, 200, sync_status(req->conn->node));
}
