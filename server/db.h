/* Asynchronous PostgreSQL pool on the event loop: non-blocking libpq
 * (PQconnectStart/PQconnectPoll, PQsendQueryParams, PQconsumeInput), one
 * uv_poll_t per connection socket. Nothing here ever blocks the loop.
 *
 * The pool connects in the background and reconnects with back-off when the
 * database is down; queries submitted meanwhile wait in a bounded queue (or
 * fail at once when no connection has come up for a while, so callers can
 * answer 503). On the first connection it applies the migrations of sql/
 * under an advisory lock (migrate.h). */
#ifndef TRELLIS_DB_H
#define TRELLIS_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct db_pool db_pool_t;
typedef struct db_query db_query_t;

/* Result of one query. res is borrowed: valid only during the call, NULL when
 * the query could not run, in which case err says why in one line (never
 * containing parameters). A query that ran but failed in the server gives a
 * res with PQresultStatus PGRES_FATAL_ERROR. */
typedef void (*db_result_cb)(void *ud, const PGresult *res, const char *err);

typedef struct {
    const char *conninfo;       /* libpq connection string or URL (copied) */
    unsigned size;              /* connections, >= 1 */
    unsigned max_queue;         /* queued queries before db_query refuses, >= 1 */
    const char *migrations_dir; /* folder of NNN_name.sql files (read at db_pool_new) */
    /* Called once if the database's schema is newer than this node knows or a
     * migration fails: the node must stop. msg is one line. */
    void (*on_fatal)(void *ud, const char *msg);
    /* HOOK (LISTEN/NOTIFY, later issues): optional, called for every
     * notification that arrives on any pooled connection. channel and payload
     * are borrowed. A LISTEN lives on one connection: whoever uses this must
     * re-issue it after that connection is lost and replaced. */
    void (*on_notify)(void *ud, const char *channel, const char *payload);
    void *ud;
    /* Optional: when db_pool_new fails, a one-line reason is written here. */
    char *err;
    size_t err_len;
} db_config_t;

typedef struct {
    unsigned size, connected, busy, queued;
    /* queries: results received; errors: queries that failed (server error,
     * connection lost, too long in the queue); reconnects: connection attempts
     * after the first one of each connection. */
    uint64_t queries, errors, reconnects;
    int schema_version;   /* highest applied migration, -1 until known */
    bool migrations_done; /* the schema is current */
} db_stats_t;

/* Reads the migrations and starts connecting (in the background: the loop
 * must run). Returns 0, TR_E_INVAL (bad config or connection string), or the
 * code of migration_set_load; the reason goes to cfg->err if given. */
int db_pool_new(uv_loop_t *loop, const db_config_t *cfg, db_pool_t **out);

/* Queue a parameterised query (text parameters, text results). values are
 * copied (a NULL value is SQL NULL). On success *handle (if non-NULL) can
 * cancel it: the callback is then never called. The handle is valid until the
 * callback has run. The callback never runs inside db_query itself. Returns 0,
 * TR_E_DB_UNAVAILABLE (queue full, database down for long, pool closing),
 * TR_E_SCHEMA (the schema is not usable: on_fatal was called), TR_E_INVAL, or
 * TR_E_NOMEM (not in practice: out of memory aborts). */
int db_query(db_pool_t *pool, const char *sql, int nparams, const char *const *values,
             db_result_cb cb, void *ud, db_query_t **handle);
/* The same with per-parameter formats: formats[i] 1 sends values[i] in
 * PostgreSQL's binary format, lengths[i] bytes long (record_arrays.h builds
 * such values); 0 sends it as text, as db_query does. */
int db_query_params(db_pool_t *pool, const char *sql, int nparams, const char *const *values,
                    const int *lengths, const int *formats, db_result_cb cb, void *ud,
                    db_query_t **handle);
void db_query_cancel(db_query_t *q);

/* Migrations current and at least one connection up now. */
bool db_pool_ready(const db_pool_t *pool);
void db_pool_stats(const db_pool_t *pool, db_stats_t *out);

/* Stop connecting, fail queued queries with "shutting down", close every
 * handle; on_closed runs once everything is closed and freed. */
void db_pool_close(db_pool_t *pool, void (*on_closed)(void *ud), void *ud);

/* One pooled connection. Only the migration runner (migrate.c) addresses a
 * connection directly; everything else goes through db_query. */
typedef struct db_conn db_conn_t;

/* Run sql on c, which must be up and idle: 0, or TR_E_DB_UNAVAILABLE. With
 * nparams < 0 sql may hold several statements and has no parameters
 * (PQsendQuery): for our own migration files only. The callback always runs
 * later, with the first error result or else the last result, or with NULL
 * res when the connection is lost or the pool closes. */
int db_conn_send(db_conn_t *c, const char *sql, int nparams, const char *const *values,
                 db_result_cb cb, void *ud);

#endif
