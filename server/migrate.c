/* Schema migrations: reading the numbered files of the migrations folder at
 * start-up (blocking reads, before the loop runs), and the runner that applies
 * the missing ones on one pooled connection under an advisory lock. */
#include "migrate.h"
#include "tr_error.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILE_BYTES (16u << 20)
#define MAX_VERSION_DIGITS 9 /* fits an int and PostgreSQL's int column */

/* pg_advisory_lock key every trellisd takes on a database before migrating:
 * the bytes "trellis\1" read as a big-endian int64. Fixed forever. */
#define LOCK_KEY "8390880572094378753"

enum {
    STEP_LOCK,
    STEP_CREATE,
    STEP_READ,
    STEP_BEGIN,
    STEP_APPLY,
    STEP_RECORD,
    STEP_COMMIT,
    STEP_FUNCTIONS,
    STEP_ROLLBACK,
    STEP_UNLOCK,
};

static const char *const lock_params[] = {LOCK_KEY};

/* The one out-of-memory exit of this file. */
static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        abort();
    return p;
}

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || !err_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* "NNN_name.sql": 1 to 9 digits, a version >= 1, an underscore, a name. */
static int parse_name(const char *name, int *version)
{
    size_t len = strlen(name), i = 0;
    long v = 0;
    while (i < MAX_VERSION_DIGITS && isdigit((unsigned char)name[i]))
        v = v * 10 + (name[i++] - '0');
    if (i == 0 || name[i] != '_' || len < i + 1 + 1 + 4 || strcmp(name + len - 4, ".sql") != 0 ||
        v < 1)
        return -1;
    *version = (int)v;
    return 0;
}

static int read_file(const char *dir, const char *name, char **out, char *err, size_t err_len)
{
    char path[4096];
    char *buf = NULL;
    struct stat st;
    int rc = TR_E_IO;
    FILE *f = NULL;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
        set_err(err, err_len, "migration path too long: %s", name);
        goto fail;
    }
    f = fopen(path, "rb");
    if (!f || fstat(fileno(f), &st) != 0) {
        set_err(err, err_len, "cannot read migration %s: %s", name, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (off_t)MAX_FILE_BYTES) {
        set_err(err, err_len, "migration %s is not a regular file of at most %u bytes", name,
                MAX_FILE_BYTES);
        goto fail;
    }
    size_t size = (size_t)st.st_size;
    buf = xrealloc(NULL, size + 1);
    if (fread(buf, 1, size, f) != size || ferror(f)) {
        set_err(err, err_len, "cannot read migration %s", name);
        goto fail;
    }
    buf[size] = '\0';
    /* The body goes to the server as one C string: a NUL would cut it short. */
    if (memchr(buf, '\0', size)) {
        rc = TR_E_INVAL;
        set_err(err, err_len, "migration %s contains a NUL byte", name);
        goto fail;
    }
    fclose(f);
    *out = buf;
    return 0;
fail:
    if (f)
        fclose(f);
    free(buf);
    return rc;
}

static int by_version(const void *a, const void *b)
{
    const migration_t *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .sql files of dir/functions in name order, one text: the current definition of
 * each SQL function (CREATE OR REPLACE), applied after the migrations at
 * every start. A folder that is absent holds none. */
static int load_functions(const char *dir, migration_set_t *set, char *err, size_t err_len)
{
    char fdir[4096];
    if ((size_t)snprintf(fdir, sizeof fdir, "%s/functions", dir) >= sizeof fdir) {
        set_err(err, err_len, "migrations folder path too long");
        return TR_E_INVAL;
    }
    DIR *d = opendir(fdir);
    if (!d && errno == ENOENT)
        return 0;
    if (!d) {
        set_err(err, err_len, "cannot open %s: %s", fdir, strerror(errno));
        return TR_E_IO;
    }
    char **names = NULL;
    size_t n = 0, total = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0)
            continue;
        names = xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = strdup(e->d_name);
        if (!names[n - 1])
            abort();
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *text = NULL;
        rc = read_file(fdir, names[i], &text, err, err_len);
        if (rc == 0) {
            size_t len = strlen(text);
            set->functions = xrealloc(set->functions, total + len + 2);
            memcpy(set->functions + total, text, len);
            total += len;
            set->functions[total++] = '\n';
            set->functions[total] = '\0';
            free(text);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int migration_set_load(const char *dir, migration_set_t *set, char *err, size_t err_len)
{
    size_t cap = 0;
    int rc = TR_E_INVAL;
    DIR *d = NULL;
    struct dirent *e;

    memset(set, 0, sizeof *set);
    if (!dir) {
        set_err(err, err_len, "no migrations folder given");
        goto fail;
    }
    d = opendir(dir);
    if (!d) {
        rc = TR_E_IO;
        set_err(err, err_len, "cannot open migrations folder %s: %s", dir, strerror(errno));
        goto fail;
    }
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        size_t len = strlen(name);
        int version;
        /* Only names that start with a digit are migrations; others (a README,
         * editor files, hidden files) are not ours to judge. */
        if (!isdigit((unsigned char)name[0]))
            continue;
        if (len < 4 || strcmp(name + len - 4, ".sql") != 0)
            continue;
        if (parse_name(name, &version) < 0) {
            rc = TR_E_INVAL;
            set_err(err, err_len, "bad migration file name %s (want NNN_name.sql)", name);
            goto fail;
        }
        if (set->n == cap) {
            cap = cap ? cap * 2 : 8;
            set->items = xrealloc(set->items, cap * sizeof *set->items);
        }
        migration_t *m = &set->items[set->n];
        memset(m, 0, sizeof *m);
        rc = read_file(dir, name, &m->sql, err, err_len);
        if (rc < 0)
            goto fail;
        m->version = version;
        m->name = xrealloc(NULL, len + 1);
        memcpy(m->name, name, len + 1);
        set->n++;
    }
    closedir(d);
    d = NULL;
    if (set->n)
        qsort(set->items, set->n, sizeof *set->items, by_version);
    for (size_t i = 1; i < set->n; i++) {
        if (set->items[i].version == set->items[i - 1].version) {
            rc = TR_E_INVAL;
            set_err(err, err_len, "duplicate migration version %d (%s, %s)", set->items[i].version,
                    set->items[i - 1].name, set->items[i].name);
            goto fail;
        }
    }
    rc = load_functions(dir, set, err, err_len);
    if (rc < 0)
        goto fail;
    return 0;
fail:
    if (d)
        closedir(d);
    migration_set_free(set);
    return rc;
}

void migration_set_free(migration_set_t *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->items[i].name);
        free(set->items[i].sql);
    }
    free(set->items);
    free(set->functions);
    set->items = NULL;
    set->functions = NULL;
    set->n = 0;
}

int migration_set_latest(const migration_set_t *set)
{
    return set->n ? set->items[set->n - 1].version : 0;
}

/* ---- the runner ---- */

static void on_step(void *ud, const PGresult *res, const char *err);

static void finish(migration_run_t *run, int rc, const char *msg)
{
    free(run->todo);
    run->todo = NULL;
    run->conn = NULL;
    run->done(run->ud, rc, msg); /* last: done may start another run */
}

static void send_step(migration_run_t *run, int step, const char *sql, int nparams,
                      const char *const *values)
{
    run->step = step;
    if (db_conn_send(run->conn, sql, nparams, values, on_step, run) != 0)
        finish(run, TR_E_DB_UNAVAILABLE, "connection lost");
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

/* Remember why we stop, in one line, with PostgreSQL's primary message. */
static void fail_with(migration_run_t *run, const char *what, const PGresult *res)
{
    const char *pg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    if (!pg || !*pg)
        pg = PQresStatus(PQresultStatus(res));
    run->rc = TR_E_DB;
    snprintf(run->msg, sizeof run->msg, "%s: %s", what, pg);
    for (char *p = run->msg; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
}

static void fail_migration(migration_run_t *run, const PGresult *res)
{
    char what[320];
    snprintf(what, sizeof what, "migration %s failed", run->set->items[run->current].name);
    fail_with(run, what, res);
}

static void unlock(migration_run_t *run)
{
    send_step(run, STEP_UNLOCK, "SELECT pg_advisory_unlock($1)", 1, lock_params);
}

static void apply_next(migration_run_t *run)
{
    for (size_t i = 0; i < run->set->n; i++) {
        if (run->todo[i]) {
            run->current = i;
            send_step(run, STEP_BEGIN, "BEGIN", 0, NULL);
            return;
        }
    }
    if (run->set->functions && run->step != STEP_FUNCTIONS) {
        /* Several statements in one simple query: one implicit transaction. */
        send_step(run, STEP_FUNCTIONS, run->set->functions, -1, NULL);
        return;
    }
    run->rc = 0;
    snprintf(run->msg, sizeof run->msg, "schema current");
    unlock(run);
}

/* Which files the database has not recorded yet, and its highest version. */
static void read_versions(migration_run_t *run, const PGresult *res)
{
    int max = 0;
    for (int r = 0; r < PQntuples(res); r++) {
        int v = atoi(PQgetvalue(res, r, 0));
        if (v > max)
            max = v;
        for (size_t i = 0; i < run->set->n; i++)
            if (run->set->items[i].version == v)
                run->todo[i] = false;
    }
    run->db_version = max;
}

static void on_step(void *ud, const PGresult *res, const char *err)
{
    migration_run_t *run = ud;
    char version[16];
    const char *values[2];

    /* Connection lost: the server ends the session, which releases the lock
     * and rolls back an open transaction, so nothing is left half-done. */
    if (!res) {
        finish(run, TR_E_DB_UNAVAILABLE, err ? err : "connection lost");
        return;
    }
    bool ok = result_ok(res);
    const migration_t *m = run->set->n ? &run->set->items[run->current] : NULL;
    switch (run->step) {
    case STEP_LOCK:
        if (!ok) {
            fail_with(run, "schema migrations: cannot take the advisory lock", res);
            finish(run, run->rc, run->msg);
            return;
        }
        send_step(run, STEP_CREATE,
                  "CREATE TABLE IF NOT EXISTS trellis_schema_migrations ("
                  "version int PRIMARY KEY, name text NOT NULL, "
                  "applied_at timestamptz NOT NULL DEFAULT now())",
                  0, NULL);
        return;
    case STEP_CREATE:
        if (!ok) {
            fail_with(run, "schema migrations: cannot create trellis_schema_migrations", res);
            unlock(run);
            return;
        }
        send_step(run, STEP_READ, "SELECT version FROM trellis_schema_migrations ORDER BY version",
                  0, NULL);
        return;
    case STEP_READ:
        if (!ok) {
            fail_with(run, "schema migrations: cannot read trellis_schema_migrations", res);
            unlock(run);
            return;
        }
        read_versions(run, res);
        if (run->db_version > migration_set_latest(run->set)) {
            run->rc = TR_E_SCHEMA;
            snprintf(run->msg, sizeof run->msg,
                     "database schema version %d is newer than this node knows (%d)",
                     run->db_version, migration_set_latest(run->set));
            unlock(run);
            return;
        }
        apply_next(run);
        return;
    case STEP_BEGIN:
        if (!ok) {
            fail_migration(run, res);
            unlock(run);
            return;
        }
        /* Our own trusted file, possibly several statements: no parameters. */
        send_step(run, STEP_APPLY, m->sql, -1, NULL);
        return;
    case STEP_APPLY:
    case STEP_RECORD:
        if (!ok) {
            fail_migration(run, res);
            send_step(run, STEP_ROLLBACK, "ROLLBACK", 0, NULL);
            return;
        }
        if (run->step == STEP_RECORD) {
            send_step(run, STEP_COMMIT, "COMMIT", 0, NULL);
            return;
        }
        snprintf(version, sizeof version, "%d", m->version);
        values[0] = version;
        values[1] = m->name;
        send_step(run, STEP_RECORD,
                  "INSERT INTO trellis_schema_migrations (version, name) VALUES ($1, $2)", 2,
                  values);
        return;
    case STEP_COMMIT:
        if (!ok) {
            fail_migration(run, res); /* a failed COMMIT has ended the transaction */
            unlock(run);
            return;
        }
        run->todo[run->current] = false;
        if (m->version > run->db_version)
            run->db_version = m->version;
        apply_next(run);
        return;
    case STEP_FUNCTIONS:
        if (!ok) {
            fail_with(run, "sql/functions could not be applied", res);
            unlock(run);
            return;
        }
        apply_next(run);
        return;
    case STEP_ROLLBACK:
        unlock(run);
        return;
    case STEP_UNLOCK:
    default:
        finish(run, run->rc, run->msg);
        return;
    }
}

void migration_run_init(migration_run_t *run)
{
    memset(run, 0, sizeof *run);
    run->db_version = -1;
}

void migration_run_start(migration_run_t *run, db_conn_t *c, const migration_set_t *set,
                         migration_done_cb done, void *ud)
{
    run->set = set;
    run->conn = c;
    run->done = done;
    run->ud = ud;
    run->rc = 0;
    run->msg[0] = '\0';
    run->current = 0;
    run->todo = xrealloc(NULL, set->n * sizeof *run->todo);
    for (size_t i = 0; i < set->n; i++)
        run->todo[i] = true;
    /* Several nodes may share the database: they take turns here, and the
     * later ones find everything applied. The wait is on the server, not here. */
    send_step(run, STEP_LOCK, "SELECT pg_advisory_lock($1)", 1, lock_params);
}
