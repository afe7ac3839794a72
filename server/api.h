/* Endpoint handlers, one api_<resource>.c per group. Each takes a request,
 * and replies through response.h now or later (asynchronously). */
#ifndef TRELLIS_API_H
#define TRELLIS_API_H

#include "conn.h"

void api_healthz(req_t *req);
void api_readyz(req_t *req);
void api_metrics(req_t *req);
void api_whoami(req_t *req);

/* api_records.c */
void api_records_post(req_t *req);
void api_records_get(req_t *req);
void api_changes(req_t *req);

/* api_fed.c: what peers call */
void api_fed_changes(req_t *req);
void api_fed_certs(req_t *req);
void api_fed_status(req_t *req);

/* api_oruk.c: the Open Referral UK read API */
void api_oruk_root(req_t *req);
void api_oruk_services(req_t *req);
void api_oruk_service(req_t *req);
void api_oruk_taxonomies(req_t *req);
void api_oruk_taxonomy(req_t *req);
void api_oruk_taxonomy_terms(req_t *req);
void api_oruk_taxonomy_term(req_t *req);
void api_oruk_service_at_locations(req_t *req);
void api_oruk_service_at_location(req_t *req);
void api_oruk_organizations(req_t *req);
void api_oruk_organization(req_t *req);
void api_oruk_openapi(req_t *req);
/* CORS preflight of any /oruk/ path */
void api_oruk_options(req_t *req);

/* api_views.c */
/* The feedback log's query, shared with the viewer (view_feedback.c): $1
 * status, $2 theme, $3 level, $4 the only origin to show (NULL: every one
 * this node holds), $5 the row limit; each row one JSON object {entry,
 * status, responses}, newest week first. */
extern const char API_FEEDBACK_SQL[];
void api_referrals(req_t *req);
void api_feedback(req_t *req);

#endif
