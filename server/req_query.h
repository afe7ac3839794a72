/* A request's database query: one place that owns req->ctx, req->on_abort
 * and req->dbq while the query runs, instead of each handler setting and
 * clearing them by hand (a chance, each time, to leak or free twice). */
#ifndef TRELLIS_REQ_QUERY_H
#define TRELLIS_REQ_QUERY_H

#include "conn.h"
#include "db.h"

/* Called once with the result (res NULL on a connection failure, err then
 * says why) and the context given to req_query, which stays the caller's
 * to read but is freed by req_query after the callback returns. The
 * callback must reply (a response_* call, after which req is gone). */
typedef void (*req_query_cb)(req_t *req, const PGresult *res, const char *err, void *ctx);

/* Run sql with params on the node's pool for req. ctx (may be NULL) is
 * taken: freed with free_ctx after cb, or when the request goes first (the
 * connection closed: the query is cancelled and cb never runs). 0, or a
 * code after which ctx is freed, nothing runs, and the caller replies. */
int req_query(req_t *req, const char *sql, int nparams, const char *const *params, req_query_cb cb,
              void *ctx, void (*free_ctx)(void *));

#endif
