/* RFC 9457 problem details ("application/problem+json"), built with jansson.
 * Every error a node returns goes through here so they all look alike. */
#ifndef TR_PROBLEM_H
#define TR_PROBLEM_H

#include <stddef.h>

#define TR_PROBLEM_CONTENT_TYPE "application/problem+json"

/* Standard reason phrase of an HTTP status ("Not Found"), "Unknown" if none. */
const char *tr_http_reason(int status);

/* Render a problem document into a newly allocated string (caller frees).
 * type_slug names the problem ("header-too-large"); it becomes
 * "https://trellis.invalid/problems/<slug>". detail may be NULL. Values are
 * copied; a NULL return means out of memory. */
char *tr_problem_render(int status, const char *type_slug, const char *detail, size_t *len_out);

#endif
