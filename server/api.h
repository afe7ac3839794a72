/* Endpoint handlers, one api_<resource>.c per group. Each takes a request,
 * and replies through response.h now or later (asynchronously). */
#ifndef TRELLIS_API_H
#define TRELLIS_API_H

#include "conn.h"

void api_healthz(req_t *req);
void api_readyz(req_t *req);
void api_metrics(req_t *req);
void api_whoami(req_t *req);

#endif
