/* Loading the ONS Postcode Directory: libcsv reads the file, the columns
 * are found by the header's names, and the rows go to PostgreSQL by COPY
 * into a temporary table, then replace the lookup in one transaction (a
 * node answering meanwhile sees the old lookup or the new, never half). */
#include "postcode_load.h"

#include "tr_error.h"
#include "tr_pii.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FIELD_MAX 64 /* longer fields are none of the ones read */

enum { COL_PC, COL_PCD, COL_LAT, COL_LNG, COL_LAD, COL_TERM, N_COLS };

typedef struct {
    PGconn *pg;
    int col[N_COLS]; /* column index of each, -1 if absent */
    int field;       /* index of the field being read in this row */
    bool header_done;
    char val[N_COLS][FIELD_MAX + 1];
    long long rows, kept;
    bool failed;
    char copy_err[200];
} load_t;

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

static void on_field(void *s, size_t len, void *ud)
{
    load_t *L = ud;
    int i = L->field++;
    if (!L->header_done) {
        static const char *const names[][3] = {
            [COL_PC] = {"pcds", NULL, NULL},     [COL_PCD] = {"pcd", "pcd2", NULL},
            [COL_LAT] = {"lat", NULL, NULL},     [COL_LNG] = {"long", "lng", NULL},
            [COL_LAD] = {"oslaud", "lad", NULL}, [COL_TERM] = {"doterm", NULL, NULL},
        };
        for (int c = 0; c < N_COLS; c++)
            for (int k = 0; k < 3 && names[c][k]; k++)
                if (L->col[c] < 0 && strlen(names[c][k]) == len &&
                    strncasecmp(s, names[c][k], len) == 0)
                    L->col[c] = i;
        return;
    }
    for (int c = 0; c < N_COLS; c++) {
        if (L->col[c] == i) {
            size_t n = len > FIELD_MAX ? 0 : len; /* too long: treated as empty */
            memcpy(L->val[c], s, n);
            L->val[c][n] = '\0';
        }
    }
}

/* A postcode as the lookup keeps it: capitals, no space; "" if not one. */
static void norm(const char *in, char *out, size_t out_len)
{
    size_t n = 0;
    for (; *in && n + 1 < out_len; in++)
        if (isalnum((unsigned char)*in))
            out[n++] = (char)toupper((unsigned char)*in);
        else if (*in != ' ')
            break;
    out[n] = '\0';
    if (*in || !tr_pii_is_full_postcode(out))
        out[0] = '\0';
}

static bool number(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || errno || *end || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static void on_row(int c, void *ud)
{
    (void)c;
    load_t *L = ud;
    L->field = 0;
    if (!L->header_done) {
        L->header_done = true;
        return;
    }
    L->rows++;
    char pc[16];
    double lat, lng;
    norm(L->val[COL_PC][0] ? L->val[COL_PC] : L->val[COL_PCD], pc, sizeof(pc));
    /* ONSPD gives 99.999999 for a postcode without a grid reference. */
    bool ok = pc[0] && !L->val[COL_TERM][0] && number(L->val[COL_LAT], 49, 61, &lat) &&
              number(L->val[COL_LNG], -9, 3, &lng);
    char lad[16] = "";
    for (size_t i = 0; L->val[COL_LAD][i] && i + 1 < sizeof(lad); i++) {
        if (!isalnum((unsigned char)L->val[COL_LAD][i])) {
            lad[0] = '\0';
            break;
        }
        lad[i] = L->val[COL_LAD][i];
        lad[i + 1] = '\0';
    }
    memset(L->val, 0, sizeof(L->val));
    if (!ok || L->failed)
        return;
    char line[96];
    int n = snprintf(line, sizeof(line), "%s,%.6f,%.6f,%.*s,%s\n", pc, lat, lng,
                     (int)strlen(pc) - 3, pc, lad);
    if (PQputCopyData(L->pg, line, n) != 1) {
        L->failed = true;
        snprintf(L->copy_err, sizeof(L->copy_err), "%s", PQerrorMessage(L->pg));
        return;
    }
    L->kept++;
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

static int read_file(load_t *L, FILE *f, char *err, size_t err_len)
{
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL) != 0)
        return fail(err, err_len, "libcsv could not start");
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
        if (csv_parse(&p, buf, n, on_field, on_row, L) != n) {
            rc = fail(err, err_len, "the file is not CSV: %s (row %lld)",
                      csv_strerror(csv_error(&p)), L->rows + 1);
            break;
        }
        if (!L->header_done)
            continue;
        if (L->col[COL_PC] < 0 && L->col[COL_PCD] < 0) {
            rc = fail(err, err_len, "no pcds or pcd column: is this the ONS Postcode Directory?");
            break;
        }
        if (L->col[COL_LAT] < 0 || L->col[COL_LNG] < 0) {
            rc = fail(err, err_len, "no lat and long columns: is this the ONS Postcode Directory?");
            break;
        }
        if (L->failed)
            break;
    }
    if (rc == 0 && ferror(f))
        rc = fail(err, err_len, "reading the file: %s", strerror(errno));
    if (rc == 0)
        csv_fini(&p, on_field, on_row, L);
    csv_free(&p);
    if (rc == 0 && L->failed)
        rc = fail(err, err_len, "database: %s", L->copy_err);
    if (rc == 0 && !L->header_done)
        rc = fail(err, err_len, "the file is empty");
    return rc;
}

int postcode_load(const char *db_url, const char *path, FILE *out, char *err, size_t err_len)
{
    if (tr_pii_init() != 0)
        return fail(err, err_len, "the postcode pattern could not be compiled");
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, err_len, "%s: %s", path, strerror(errno));
    load_t *L = calloc(1, sizeof(*L));
    if (!L)
        abort();
    for (int c = 0; c < N_COLS; c++)
        L->col[c] = -1;
    int rc = 0;
    L->pg = PQconnectdb(db_url);
    if (PQstatus(L->pg) != CONNECTION_OK) {
        rc = fail(err, err_len, "database: %s", PQerrorMessage(L->pg));
        goto done;
    }
    if (!exec_ok(L->pg, "BEGIN", err, err_len) ||
        !exec_ok(L->pg, "SELECT 1 FROM postcodes LIMIT 0", err, err_len) ||
        !exec_ok(L->pg,
                 "CREATE TEMP TABLE postcode_load (postcode text, lat float8, lng float8, "
                 "district text, lad text) ON COMMIT DROP",
                 err, err_len)) {
        rc = TR_E_DB;
        goto done;
    }
    PGresult *r = PQexec(L->pg, "COPY postcode_load FROM STDIN (FORMAT csv)");
    bool copying = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!copying) {
        rc = fail(err, err_len, "database: %s", PQerrorMessage(L->pg));
        goto done;
    }
    rc = read_file(L, f, err, err_len);
    if (PQputCopyEnd(L->pg, rc == 0 ? NULL : "refused") != 1) {
        if (rc == 0)
            rc = fail(err, err_len, "database: %s", PQerrorMessage(L->pg));
    }
    while ((r = PQgetResult(L->pg)) != NULL) {
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = fail(err, err_len, "database: %s", PQresultErrorMessage(r));
        PQclear(r);
    }
    if (rc != 0)
        goto done;
    if (L->kept == 0) {
        rc = fail(err, err_len, "no live postcode with coordinates in %lld rows", L->rows);
        goto done;
    }
    /* Replace the lookup, the areas' centres, then place every service again. */
    if (!exec_ok(L->pg, "DELETE FROM postcodes", err, err_len) ||
        !exec_ok(L->pg,
                 "INSERT INTO postcodes (postcode, geo, district, lad) SELECT DISTINCT ON "
                 "(postcode) postcode, point(lng, lat), district, nullif(lad, '') "
                 "FROM postcode_load ORDER BY postcode",
                 err, err_len) ||
        !exec_ok(L->pg, "DELETE FROM postcode_areas", err, err_len) ||
        !exec_ok(L->pg,
                 "INSERT INTO postcode_areas (code, geo) SELECT district, "
                 "point(avg(geo[0]), avg(geo[1])) FROM postcodes GROUP BY district "
                 "UNION ALL SELECT lad, point(avg(geo[0]), avg(geo[1])) FROM postcodes "
                 "WHERE lad IS NOT NULL GROUP BY lad",
                 err, err_len) ||
        !exec_ok(L->pg, "UPDATE directory_services SET doc = doc", err, err_len) ||
        /* Services are placed anew: a running node forgets the directory
         * replies it keeps (view_cache.h), as after any store. */
        !exec_ok(L->pg, "SELECT pg_notify('trellis_changes', '')", err, err_len) ||
        !exec_ok(L->pg, "COMMIT", err, err_len)) {
        rc = TR_E_DB;
        goto done;
    }
    fprintf(out, "trellisd: loaded %lld postcodes (of %lld rows) from %s\n", L->kept, L->rows,
            path);
done:
    fclose(f);
    PQfinish(L->pg);
    free(L);
    return rc;
}
