/* [sharing]: who this organisation shares its own records with, per kind.
 * The decision is the origin's: the node signs it into every record it
 * accepts from its agents (the envelope's audience), and every node that
 * holds the record honours it (docs/federation.md). */
#ifndef TRELLIS_CONFIG_SHARING_H
#define TRELLIS_CONFIG_SHARING_H

#include "config.h"
#include "tr_record.h"

#include <jansson.h>

/* After the whole file: each value is consortium, peers, none or a list of
 * organisation ids. 0, or -1 with one line in err. */
int config_sharing_check(const config_t *cfg, char *err, size_t err_len, const char *path);

/* The audience of kind for records of own_org, as signed into them: the
 * string "consortium", or the sorted, distinct organisation ids (possibly
 * none), never own_org itself. A new reference. */
json_t *config_audience(const config_t *cfg, const char *own_org, tr_kind_t kind);

#endif
