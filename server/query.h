/* Query-string parameters: percent-decoded, bounded, with typed getters that
 * say which parameter is wrong. */
#ifndef TRELLIS_QUERY_H
#define TRELLIS_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value of name in query ("a=1&b=x%20y") decoded into out. 1 if found, 0 if
 * absent, -1 if malformed (bad escape, NUL, longer than out). A repeated
 * parameter gives its first value, for every parameter of every endpoint. */
int query_get(const char *query, const char *name, char *out, size_t out_len);

/* Integer parameter in [min, max]; def when absent. 0, or -1 if malformed or
 * out of range. */
int query_int(const char *query, const char *name, int64_t min, int64_t max, int64_t def,
              int64_t *out);

/* True if every parameter name of query is in allowed (NULL-terminated). *bad
 * points at the first unknown one (not NUL-terminated: use bad_len). */
bool query_only(const char *query, const char *const *allowed, const char **bad, size_t *bad_len);

#endif
