/* Open Referral UK views of a directory.service record: the body is an ORUK
 * (HSDS 3.0 UK profile) service plus a "trellis" object; these functions
 * render what the /oruk/ read API serves. */
#ifndef TR_ORUK_H
#define TR_ORUK_H

#include <jansson.h>
#include <stdbool.h>

/* The ORUK service object for a stored body (new reference). With
 * public_view, a location_confidential service shows its area only (no
 * locations, no addresses). The "trellis" extension is kept under the
 * profile's local-property convention. */
json_t *tr_oruk_service(const json_t *body, bool public_view);

/* The short form used in list pages (as ../shared/oruk/example-service_list.json). */
json_t *tr_oruk_service_summary(const json_t *body, bool public_view);

/* The ORUK service_at_location for a stored one (sal, borrowed) of the
 * service body: id, service_id, location_id and location (new reference).
 * With public_view, a confidential service's location is its area only:
 * the location's id and type, named by the service's areas, nothing else. */
json_t *tr_oruk_sal(const json_t *sal, const json_t *body, bool public_view);

/* The ORUK organization of a member: org (a stored service's organization,
 * borrowed) with its identifiers and, among them, the Trellis member that
 * publishes it (origin; member_id the identifier entry's UUID). */
json_t *tr_oruk_organization(const json_t *org, const char *origin, const char *member_id);

#endif
