/* The viewer listener's requests: who is asking (the signed-in user, taken
 * only from a trusted proxy), the stylesheet, the index page, and what a
 * page module replies with. Pages are in view_<page>.c and build their HTML
 * with html.h; their routes are in router.c, served on the viewer listener
 * only (and nothing of the API is served there).
 *
 * The viewer reads as the node's own organisation (conn_visibility is NULL):
 * exactly what that organisation's agents may read through /v1/changes. */
#ifndef TRELLIS_VIEWER_H
#define TRELLIS_VIEWER_H

#include "conn.h"
#include "strbuf.h"
#include "tr_smallnum.h"

#include <stdbool.h>

#define VIEWER_USER_MAX 256 /* bytes of a user name from the proxy */

/* router.c calls this before routing any request of the viewer listener.
 * From a trusted proxy it takes the user from [viewer] user_header into
 * req->viewer_user, and refuses the request (403) when the proxy sent none;
 * from anyone else the header is ignored. false if it replied. */
bool viewer_admit(req_t *req);

/* 400 and true when the query has a parameter not in allowed (NULL-ended;
 * "format" is always allowed) or format is neither html nor csv. */
bool viewer_bad_query(req_t *req, const char *const *allowed);
/* format=csv was asked for. */
bool viewer_wants_csv(const req_t *req);

/* The small-number rule of [viewer] small_number_threshold and rounding,
 * which every count a page or CSV publishes passes (tr_smallnum.h). */
void viewer_rule(const req_t *req, tr_smallnum_rule_t *rule);
/* One count published alone (no total beside it) as text: "fewer than 8",
 * "15"; into buf, returned. */
const char *viewer_count_text(const req_t *req, long long n, char *buf, size_t len);

/* html_page_begin with this request's user and the node's organisation. */
void viewer_page_begin(req_t *req, strbuf_t *out, const char *title, const char *nav,
                       bool easy_read);

/* Send a page (text/html) or a table (text/csv, as a download named
 * filename). Both free out's buffer; req is gone once they return. */
void viewer_send_html(req_t *req, int status, strbuf_t *out);
void viewer_send_csv(req_t *req, const char *filename, strbuf_t *out);

/* Handlers (router.c). */
void viewer_root(req_t *req);   /* "/" on the viewer listener: to /viewer/ */
void viewer_index(req_t *req);  /* /viewer/: what there is to see */
void viewer_static(req_t *req); /* /viewer/static/trellis.HASH.css */

#endif
