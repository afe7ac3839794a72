/* Loading the postcode lookup: the files are found (the one given, or
 * every .csv of a Code-Point Open folder in name order), postcode_read.c
 * reads their rows, and they go to PostgreSQL by COPY into a temporary
 * table, then replace the lookup in one transaction (a node answering
 * meanwhile sees the old lookup or the new, never half; one bad file and
 * nothing changes). */
#include "postcode_load.h"

#include "postcode_read.h"
#include "tr_error.h"
#include "tr_pii.h"

#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Code-Point Open has some 120 area files; far more is not its folder. */
#define DIR_FILES_MAX 1000

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return TR_E_IO;
}

static bool exec_ok(PGconn *pg, const char *sql, char *err, size_t err_len)
{
    PGresult *r = PQexec(pg, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, err_len, "database: %s", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

/* One postcode into the COPY: its fields are checked by the reader (a
 * postcode of letters and digits, a GSS code of letters and digits or
 * none), so none needs quoting. */
static int on_postcode(const postcode_row_t *row, void *ud, char *err, size_t err_len)
{
    PGconn *pg = ud;
    char line[96];
    int n = snprintf(line, sizeof(line), "%s,%.6f,%.6f,%s,%s\n", row->postcode, row->lat, row->lng,
                     row->district, row->lad);
    if (n < 0 || (size_t)n >= sizeof(line) || PQputCopyData(pg, line, n) != 1)
        return fail(err, err_len, "database: %s", PQerrorMessage(pg));
    return 0;
}

static int csv_name(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 4 && strcasecmp(d->d_name + n - 4, ".csv") == 0;
}

/* Name order by bytes, whatever the locale: ab.csv, al.csv, b.csv, ... */
static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* The files to read: path itself, or every .csv in it if a directory
 * (*is_dir set). A NULL-terminated array of paths, each freed by the caller. */
static int list_files(const char *path, char ***files, bool *is_dir, char *err, size_t err_len)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fail(err, err_len, "%s: %s", path, strerror(errno));
    *is_dir = S_ISDIR(st.st_mode);
    if (!*is_dir) {
        *files = calloc(2, sizeof(char *));
        if (!*files || !((*files)[0] = strdup(path)))
            abort();
        return 0;
    }
    struct dirent **names;
    int n = scandir(path, &names, csv_name, by_name);
    if (n < 0)
        return fail(err, err_len, "%s: %s", path, strerror(errno));
    int rc = 0;
    if (n == 0)
        rc = fail(err, err_len,
                  "%s: no .csv file in the folder (Code-Point Open's are in Data/CSV)", path);
    else if (n > DIR_FILES_MAX)
        rc = fail(err, err_len, "%s: more than %d .csv files: is this Code-Point Open's Data/CSV?",
                  path, DIR_FILES_MAX);
    *files = rc ? NULL : calloc((size_t)n + 1, sizeof(char *));
    if (!rc && !*files)
        abort();
    for (int i = 0; i < n; i++) {
        if (!rc) {
            size_t len = strlen(path) + strlen(names[i]->d_name) + 2;
            if (!((*files)[i] = malloc(len)))
                abort();
            snprintf((*files)[i], len, "%s/%s", path, names[i]->d_name);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static void free_files(char **files)
{
    for (size_t i = 0; files && files[i]; i++)
        free(files[i]);
    free(files);
}

/* Read every file into the COPY under way. */
static int read_files(PGconn *pg, char **files, bool is_dir, postcode_format_t *format,
                      postcode_counts_t *counts, char *err, size_t err_len)
{
    for (size_t i = 0; files[i]; i++) {
        FILE *f = fopen(files[i], "rb");
        if (!f)
            return fail(err, err_len, "%s: %s", files[i], strerror(errno));
        struct stat st;
        int rc = 0;
        if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
            rc = fail(err, err_len, "%s: not a regular file", files[i]);
        else
            rc = postcode_read(f, files[i], is_dir ? POSTCODE_CODEPOINT : POSTCODE_ANY, format,
                               on_postcode, pg, counts, err, err_len);
        fclose(f);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int postcode_load(const char *db_url, const char *path, FILE *out, char *err, size_t err_len)
{
    if (tr_pii_init() != 0)
        return fail(err, err_len, "the postcode pattern could not be compiled");
    char **files = NULL;
    bool is_dir = false;
    int rc = list_files(path, &files, &is_dir, err, err_len);
    if (rc != 0)
        return rc;
    postcode_counts_t counts = {0};
    postcode_format_t format = POSTCODE_ANY;
    PGconn *pg = PQconnectdb(db_url);
    if (PQstatus(pg) != CONNECTION_OK) {
        rc = fail(err, err_len, "database: %s", PQerrorMessage(pg));
        goto done;
    }
    if (!exec_ok(pg, "BEGIN", err, err_len) ||
        !exec_ok(pg, "SELECT 1 FROM postcodes LIMIT 0", err, err_len) ||
        !exec_ok(pg,
                 "CREATE TEMP TABLE postcode_load (postcode text, lat float8, lng float8, "
                 "district text, lad text) ON COMMIT DROP",
                 err, err_len)) {
        rc = TR_E_DB;
        goto done;
    }
    PGresult *r = PQexec(pg, "COPY postcode_load FROM STDIN (FORMAT csv)");
    bool copying = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!copying) {
        rc = fail(err, err_len, "database: %s", PQerrorMessage(pg));
        goto done;
    }
    rc = read_files(pg, files, is_dir, &format, &counts, err, err_len);
    if (PQputCopyEnd(pg, rc == 0 ? NULL : "refused") != 1) {
        if (rc == 0)
            rc = fail(err, err_len, "database: %s", PQerrorMessage(pg));
    }
    while ((r = PQgetResult(pg)) != NULL) {
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = fail(err, err_len, "database: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    if (rc != 0)
        goto done;
    if (counts.kept == 0) {
        rc = fail(err, err_len, "no live postcode with coordinates in %lld rows", counts.rows);
        goto done;
    }
    /* Replace the lookup, the areas' centres, then place every service again. */
    if (!exec_ok(pg, "DELETE FROM postcodes", err, err_len) ||
        !exec_ok(pg,
                 "INSERT INTO postcodes (postcode, geo, district, lad) SELECT DISTINCT ON "
                 "(postcode) postcode, point(lng, lat), district, nullif(lad, '') "
                 "FROM postcode_load ORDER BY postcode",
                 err, err_len) ||
        !exec_ok(pg, "DELETE FROM postcode_areas", err, err_len) ||
        !exec_ok(pg,
                 "INSERT INTO postcode_areas (code, geo) SELECT district, "
                 "point(avg(geo[0]), avg(geo[1])) FROM postcodes GROUP BY district "
                 "UNION ALL SELECT lad, point(avg(geo[0]), avg(geo[1])) FROM postcodes "
                 "WHERE lad IS NOT NULL GROUP BY lad",
                 err, err_len) ||
        !exec_ok(pg, "UPDATE directory_services SET doc = doc", err, err_len) ||
        /* Services are placed anew: a running node forgets the directory
         * replies it keeps (view_cache.h), as after any store. */
        !exec_ok(pg, "SELECT pg_notify('trellis_changes', '')", err, err_len) ||
        !exec_ok(pg, "COMMIT", err, err_len)) {
        rc = TR_E_DB;
        goto done;
    }
    size_t n_files = 0;
    while (files[n_files])
        n_files++;
    if (format == POSTCODE_CODEPOINT)
        fprintf(out,
                "trellisd: loaded %lld postcodes (of %lld rows) from %s (OS Code-Point Open, "
                "%zu file%s)\n",
                counts.kept, counts.rows, path, n_files, n_files == 1 ? "" : "s");
    else
        fprintf(out,
                "trellisd: loaded %lld postcodes (of %lld rows) from %s (ONS Postcode "
                "Directory)\n",
                counts.kept, counts.rows, path);
done:
    PQfinish(pg);
    free_files(files);
    return rc;
}
