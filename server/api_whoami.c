/* GET /v1/whoami: the identity this node reads from the caller's certificate,
 * so an IT lead can check a certificate before using it for real. */
#include "api.h"
#include "response.h"

void api_whoami(req_t *req)
{
    const tr_identity_t *id = conn_identity(req->conn);
    response_json(req, 200,
                  json_pack("{s:s, s:s, s:s, s:s}", "org", id->org, "role", tr_role_name(id->role),
                            "name", id->name, "fingerprint", id->fingerprint));
}
