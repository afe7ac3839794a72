/* Logs: one JSON object a line on stderr (journald-friendly), one event a line.
 * Never a request body, key material, SQL parameters or personal data: client
 * bytes go through log_client_str, which escapes and truncates them. */
#ifndef TRELLIS_LOG_H
#define TRELLIS_LOG_H

#include <jansson.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

void log_set_level(log_level_t level);
/* Every line after this carries "worker": worker (one of [node] workers); 0: none. */
void log_set_worker(unsigned worker);
int log_level_parse(const char *s, log_level_t *out);
int log_enabled(log_level_t level);

/* Emit {"ts","level","event",...fields}. fields is stolen (may be NULL). */
void log_event(log_level_t level, const char *event, json_t *fields);

/* A JSON string of untrusted bytes: non-printable and non-ASCII bytes become
 * '?', at most 96 characters kept. Never NULL (aborts on out of memory). */
json_t *log_client_str(const char *bytes, size_t len);

#endif
