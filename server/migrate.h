/* Schema migrations: numbered files sql/NNN_name.sql, read once at start-up,
 * applied in order on one pooled connection under an advisory lock, each in a
 * transaction and recorded in trellis_schema_migrations. A database whose
 * recorded version is higher than the newest file is refused. */
#ifndef TRELLIS_MIGRATE_H
#define TRELLIS_MIGRATE_H

#include "db.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int version;
    char *name; /* "001_init.sql" */
    char *sql;
} migration_t;

typedef struct {
    migration_t *items; /* sorted by version, versions unique */
    size_t n;
    char *functions; /* the .sql files of functions/, or NULL: applied after the migrations */
} migration_set_t;

/* Read every NNN_*.sql of dir, and the .sql files of dir/functions. Returns 0, or a negative code
 * with a one-line reason in err (a duplicate version, an unreadable file, a bad name). */
int migration_set_load(const char *dir, migration_set_t *set, char *err, size_t err_len);
void migration_set_free(migration_set_t *set);
/* Highest version in the set, 0 when it is empty. */
int migration_set_latest(const migration_set_t *set);

/* The runner: db.c starts it on the first connection that comes up and hears
 * the outcome through done: rc 0 (schema current), TR_E_SCHEMA (the database
 * is newer than the set), TR_E_DB (a migration or the bookkeeping failed;
 * rolled back) or TR_E_DB_UNAVAILABLE (connection lost or pool closing:
 * nothing half-applied, another connection may try again). msg is one line. */
typedef void (*migration_done_cb)(void *ud, int rc, const char *msg);

typedef struct {
    const migration_set_t *set; /* borrowed */
    db_conn_t *conn;            /* borrowed; reserved for the runner while it runs */
    int step;
    size_t current; /* index in set of the migration being applied */
    bool *todo;     /* per migration of set: not yet recorded in the database */
    int db_version; /* highest version recorded; -1 until read; kept across runs */
    int rc;         /* outcome to report once the lock is released */
    char msg[512];
    migration_done_cb done;
    void *ud;
} migration_run_t;

void migration_run_init(migration_run_t *run);
/* c must be up and idle. done runs exactly once, later. */
void migration_run_start(migration_run_t *run, db_conn_t *c, const migration_set_t *set,
                         migration_done_cb done, void *ud);

#endif
