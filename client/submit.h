/* What caseworker commands share: records a person typed are checked with
 * the node's own validator (errors in plain words, naming the option),
 * spooled, and sent at once, so that a record made while the node is down
 * is not lost (`trellis sync` or the running agent sends it later). Also
 * the GETs of the node's views, and the calendar helpers. */
#ifndef SUBMIT_H
#define SUBMIT_H

#include "agent_config.h"
#include "anonymise.h"

#include <jansson.h>
#include <stdbool.h>

/* A random (version 4) UUID into out (37 bytes). */
void submit_uuid(char out[37]);

/* This week, as an ISO week. */
void submit_this_week(char out[9]);

/* Whole days from the Monday of an ISO week to today (0 if in the future);
 * -1 if week is not one. */
long submit_days_since_week(const char *week);

/* Validate, spool and send records (borrowed). Returns the exit status:
 * 0 all stored, 2 a value is wrong (each error printed, naming the flag
 * through names: pairs of JSON member and option, NULL-terminated), 3 the
 * node refused one (its errors printed), 4 queued but the node unreachable,
 * 5 local. */
int submit_records(const agent_config_t *c, json_t *records, const char *const *names);

/* GET path and parse the JSON reply into *out. An exit status. */
int submit_get(const agent_config_t *c, const char *path, json_t **out);

/* A list typed on the command line, "a,b;c" -> ["a","b","c"] (items
 * trimmed, empty ones left out): a new array. */
json_t *submit_list(const char *s);

/* The organisation of this agent's certificate into org (64 bytes); exit status. */
int submit_origin(const agent_config_t *c, char *org);

#endif
