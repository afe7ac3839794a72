/* Building replies. Only this module turns an outcome into an HTTP status
 * and body, and decides whether the connection closes after it. Each call
 * completes the request: the reply is serialised and handed to the
 * connection, which sends replies in request order. Once a response_* call
 * returns, req may be gone: the caller must not touch it again. */
#ifndef TRELLIS_RESPONSE_H
#define TRELLIS_RESPONSE_H

#include "conn.h"

#include <jansson.h>

/* Extra header lines for a reply, e.g. "Allow: GET\r\n" (copied); may be NULL. */
void response_send(req_t *req, int status, const char *content_type, const char *extra_headers,
                   const char *body, size_t body_len);

/* As response_send with a Cache-Control value of the caller's (response_send
 * says no-store), for the viewer's versioned static files. On the viewer
 * listener every reply also carries its Content-Security-Policy,
 * Referrer-Policy and frame denial. */
void response_send_cached(req_t *req, int status, const char *content_type,
                          const char *cache_control, const char *extra_headers, const char *body,
                          size_t body_len);

/* JSON reply; body is stolen. */
void response_json(req_t *req, int status, json_t *body);

/* RFC 9457 problem+json. Statuses that leave the stream in doubt (400, 408,
 * 413, 414, 431) close the connection after the reply. */
void response_problem(req_t *req, int status, const char *slug, const char *detail);

/* As response_problem, with extra header lines (Allow, Retry-After). */
void response_problem_h(req_t *req, int status, const char *slug, const char *detail,
                        const char *extra_headers);

/* Map a Trellis error code to a problem reply (TR_E_DB_UNAVAILABLE: 503 with
 * Retry-After, TR_E_NOT_FOUND: 404, otherwise 500). */
void response_error(req_t *req, int code, const char *detail);

#endif
