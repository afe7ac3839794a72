/* req_query: the query's context hangs on the request until the query ends
 * or the request is aborted, whichever comes first, and is freed once. */
#include "req_query.h"

#include <stdlib.h>

typedef struct {
    req_query_cb cb;
    void *ctx;
    void (*free_ctx)(void *);
} pending_t;

static void pending_free(pending_t *p)
{
    if (p->free_ctx && p->ctx)
        p->free_ctx(p->ctx);
    free(p);
}

/* The request went first: conn.c has cancelled req->dbq. */
static void on_abort(req_t *req)
{
    pending_free(req->ctx);
    req->ctx = NULL;
}

static void on_result(void *ud, const PGresult *res, const char *err)
{
    req_t *req = ud;
    pending_t *p = req->ctx;
    req->dbq = NULL;
    req->on_abort = NULL;
    req->ctx = NULL;
    p->cb(req, res, err, p->ctx); /* replies: req is gone after this */
    pending_free(p);
}

int req_query(req_t *req, const char *sql, int nparams, const char *const *params, req_query_cb cb,
              void *ctx, void (*free_ctx)(void *))
{
    pending_t *p = malloc(sizeof(*p));
    if (!p)
        abort();
    *p = (pending_t){cb, ctx, free_ctx};
    req->ctx = p;
    req->on_abort = on_abort;
    int rc = db_query(req->conn->node->db, sql, nparams, params, on_result, req, &req->dbq);
    if (rc != 0) {
        req->ctx = NULL;
        req->on_abort = NULL;
        pending_free(p);
    }
    return rc;
}
