/* A services spreadsheet's row as a directory.service body (anonymise.c
 * calls it for a directory mapping): the flat, dotted members a mapping
 * fills ("trellis.needs", "addresses.city") become Open Referral UK's nested
 * objects with stable ids; the organisation is always the origin's own; a
 * confidential service keeps its area only, and a row that gives one a
 * street address is refused here, before anything is spooled or sent. */
#ifndef ANONYMISE_DIRECTORY_H
#define ANONYMISE_DIRECTORY_H

#include "agent_secret.h"
#include "anonymise.h"
#include "mapping.h"

#include <jansson.h>

/* flat (borrowed): the row's members by their mapping names, empty cells
 * left out. ref: the row's service reference (nested ids derive from it by
 * HMAC under secret, so the same row gives the same body). id: the
 * service's id. 0 with *body a new object, or -1 with the column and the
 * reason in out (never a value). */
int anon_directory_body(const mapping_t *m, const uint8_t secret[AGENT_SECRET_LEN],
                        const char *origin, const char *ref, const char *id, json_t *flat,
                        json_t **body, anon_out_t *out);

#endif
