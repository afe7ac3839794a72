/* Reading one postcode file with libcsv. The bytes go to the parser a line
 * at a time, so a refusal names the line, and a row's length is bounded
 * before libcsv has buffered it. The first row tells the format: the
 * ONSPD's header, or a Code-Point Open row (a postcode, ten fields). */
#include "postcode_read.h"

#include "osgb.h"
#include "tr_error.h"
#include "tr_pii.h"

#include <csv.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FIELD_MAX 64  /* longer fields are none of the ones read */
#define CPO_FIELDS 10 /* Code-Point Open's columns (Doc/Code-Point_Open_Column_Headers.csv) */

/* The fields a row is kept by; each format reads some of them. */
enum { S_PC, S_PCD, S_LAT, S_LNG, S_LAD, S_TERM, S_QUALITY, S_EAST, S_NORTH, N_SLOTS };

/* Code-Point Open's columns by position: Postcode, Positional_quality_indicator,
 * Eastings, Northings, Country_code, NHS_regional_HA_code, NHS_HA_code,
 * Admin_county_code, Admin_district_code, Admin_ward_code. */
static const int cpo_col[N_SLOTS] = {
    [S_PC] = 0,    [S_PCD] = -1,    [S_LAT] = -1, [S_LNG] = -1,  [S_LAD] = 8,
    [S_TERM] = -1, [S_QUALITY] = 1, [S_EAST] = 2, [S_NORTH] = 3,
};

typedef struct {
    const char *name;
    postcode_format_t expect, format; /* format: POSTCODE_ANY until the first row ends */
    int col[N_SLOTS];                 /* column of each slot, -1 if not read */
    int field;                        /* index of the field being read in this row */
    char val[N_SLOTS][FIELD_MAX + 1];
    bool too_long;                         /* a field read in this row passed FIELD_MAX */
    char first[CPO_FIELDS][FIELD_MAX + 1]; /* the first row's, until its format is known */
    long long line;                        /* the line being parsed, from 1 */
    size_t row_bytes;                      /* of the row being parsed, so far */
    postcode_row_cb cb;
    void *ud;
    postcode_counts_t *counts;
    int rc; /* the first refusal: nothing more is read */
    char *err;
    size_t err_len;
} reader_t;

static void refuse(reader_t *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Refuse the file with "name line N: reason" (the first reason only). */
static void refuse(reader_t *R, const char *fmt, ...)
{
    if (R->rc)
        return;
    R->rc = TR_E_IO;
    int n = snprintf(R->err, R->err_len, "%s line %lld: ", R->name, R->line);
    if (n < 0 || (size_t)n >= R->err_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(R->err + n, R->err_len - (size_t)n, fmt, ap);
    va_end(ap);
}

static void keep(char *dst, const void *s, size_t len, bool *too_long)
{
    if (len > FIELD_MAX) {
        if (too_long)
            *too_long = true;
        len = 0;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* The ONSPD header's names for the slots it has (any case). */
static void match_header(reader_t *R, const char *s, size_t len, int i)
{
    static const char *const names[N_SLOTS][3] = {
        [S_PC] = {"pcds", NULL, NULL},     [S_PCD] = {"pcd", "pcd2", NULL},
        [S_LAT] = {"lat", NULL, NULL},     [S_LNG] = {"long", "lng", NULL},
        [S_LAD] = {"oslaud", "lad", NULL}, [S_TERM] = {"doterm", NULL, NULL},
    };
    for (int c = 0; c < N_SLOTS; c++)
        for (int k = 0; k < 3 && names[c][k]; k++)
            if (R->col[c] < 0 && strlen(names[c][k]) == len &&
                strncasecmp(s, names[c][k], len) == 0)
                R->col[c] = i;
}

static void on_field(void *s, size_t len, void *ud)
{
    reader_t *R = ud;
    int i = R->field++;
    if (R->rc)
        return;
    if (R->format == POSTCODE_ANY) {
        if (i < CPO_FIELDS)
            keep(R->first[i], s, len, &R->too_long); /* judged once the format is known */
        match_header(R, s, len, i);
        return;
    }
    for (int c = 0; c < N_SLOTS; c++)
        if (R->col[c] == i)
            keep(R->val[c], s, len, &R->too_long);
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

/* Hand a kept postcode (normalised) to the callback. */
static void emit(reader_t *R, const char *pc, double lat, double lng)
{
    char lad[16] = "";
    const char *in = R->val[S_LAD];
    for (size_t i = 0; in[i] && i + 1 < sizeof(lad); i++) {
        if (!isalnum((unsigned char)in[i])) { /* not a GSS code: none */
            lad[0] = '\0';
            break;
        }
        lad[i] = in[i];
        lad[i + 1] = '\0';
    }
    char district[16];
    snprintf(district, sizeof(district), "%.*s", (int)strlen(pc) - 3, pc);
    postcode_row_t row = {.postcode = pc, .district = district, .lad = lad, .lat = lat, .lng = lng};
    int rc = R->cb(&row, R->ud, R->err, R->err_len);
    if (rc != 0) {
        R->rc = rc;
        return;
    }
    R->counts->kept++;
}

static void onspd_row(reader_t *R)
{
    char pc[16];
    double lat, lng;
    tr_pii_postcode_key(R->val[S_PC][0] ? R->val[S_PC] : R->val[S_PCD], pc, sizeof(pc));
    /* ONSPD gives 99.999999 for a postcode without a grid reference. */
    if (pc[0] && !R->val[S_TERM][0] && number(R->val[S_LAT], 49, 61, &lat) &&
        number(R->val[S_LNG], -9, 3, &lng))
        emit(R, pc, lat, lng);
}

static void codepoint_row(reader_t *R, int fields)
{
    double quality, e, n;
    if (fields != CPO_FIELDS) {
        refuse(R, "%d fields, where a Code-Point Open row has %d", fields, CPO_FIELDS);
        return;
    }
    if (R->too_long) {
        refuse(R, "a field longer than %d bytes", FIELD_MAX);
        return;
    }
    if (!number(R->val[S_QUALITY], 0, 99, &quality)) {
        refuse(R, "the positional quality indicator is not a number from 0 to 99");
        return;
    }
    if (!number(R->val[S_EAST], 0, 700000, &e) || !number(R->val[S_NORTH], 0, 1300000, &n)) {
        refuse(R, "the eastings and northings are not National Grid metres "
                  "(0 to 700000, 0 to 1300000)");
        return;
    }
    /* Quality 90: the postcode has no grid reference, and 0, 0 stands in. */
    if (quality == 90 || (e == 0 && n == 0))
        return;
    char pc[16];
    tr_pii_postcode_key(R->val[S_PC], pc, sizeof(pc));
    if (!pc[0]) /* not a postcode the API would take: never asked for */
        return;
    double lat, lng;
    osgb_grid_to_wgs84(e, n, &lat, &lng);
    emit(R, pc, lat, lng);
}

/* The first row ended: Code-Point Open's first postcode, or the ONSPD's header. */
static void first_row(reader_t *R, int fields)
{
    char pc[16];
    tr_pii_postcode_key(R->first[0], pc, sizeof(pc));
    if (!pc[0] && R->expect == POSTCODE_CODEPOINT) {
        refuse(R, "not a Code-Point Open row: its first field is not a postcode");
        return;
    }
    if (pc[0]) {
        if (fields != CPO_FIELDS) {
            refuse(R,
                   "a postcode and %d fields: neither the ONSPD's header nor a Code-Point "
                   "Open row (%d fields)",
                   fields, CPO_FIELDS);
            return;
        }
        R->format = POSTCODE_CODEPOINT;
        memcpy(R->col, cpo_col, sizeof(R->col));
        for (int c = 0; c < N_SLOTS; c++)
            if (R->col[c] >= 0)
                memcpy(R->val[c], R->first[R->col[c]], FIELD_MAX + 1);
        R->counts->rows++;
        codepoint_row(R, fields);
        return;
    }
    R->format = POSTCODE_ONSPD;
    if (R->col[S_PC] < 0 && R->col[S_PCD] < 0)
        refuse(R, "no pcds or pcd column: is this the ONS Postcode Directory?");
    else if (R->col[S_LAT] < 0 || R->col[S_LNG] < 0)
        refuse(R, "no lat and long columns: is this the ONS Postcode Directory?");
}

static void on_row(int c, void *ud)
{
    (void)c;
    reader_t *R = ud;
    int fields = R->field;
    R->field = 0;
    R->row_bytes = 0;
    if (R->rc)
        return;
    if (R->format == POSTCODE_ANY)
        first_row(R, fields);
    else {
        R->counts->rows++;
        if (R->format == POSTCODE_CODEPOINT)
            codepoint_row(R, fields);
        else
            onspd_row(R);
    }
    memset(R->val, 0, sizeof(R->val));
    R->too_long = false;
}

/* Parse one chunk of the file, a line at a time. */
static void parse_chunk(reader_t *R, struct csv_parser *p, const char *buf, size_t n)
{
    for (size_t at = 0; at < n && !R->rc;) {
        const char *nl = memchr(buf + at, '\n', n - at);
        size_t seg = nl ? (size_t)(nl - (buf + at)) + 1 : n - at;
        R->row_bytes += seg;
        if (R->row_bytes > POSTCODE_ROW_MAX) {
            refuse(R, "a row longer than %d bytes", POSTCODE_ROW_MAX);
            return;
        }
        if (csv_parse(p, buf + at, seg, on_field, on_row, R) != seg) {
            refuse(R, "not CSV: %s", csv_strerror(csv_error(p)));
            return;
        }
        at += seg;
        if (nl)
            R->line++;
    }
}

int postcode_read(FILE *f, const char *name, postcode_format_t expect, postcode_format_t *format,
                  postcode_row_cb cb, void *ud, postcode_counts_t *counts, char *err,
                  size_t err_len)
{
    reader_t *R = calloc(1, sizeof(*R));
    if (!R)
        abort();
    *R = (reader_t){.name = name,
                    .expect = expect,
                    .line = 1,
                    .cb = cb,
                    .ud = ud,
                    .counts = counts,
                    .err = err,
                    .err_len = err_len};
    for (int c = 0; c < N_SLOTS; c++)
        R->col[c] = -1;
    struct csv_parser p;
    if (csv_init(&p, CSV_APPEND_NULL) != 0)
        abort(); /* its only failure is an allocation's */
    size_t n, buf_len = 65536;
    char *buf = malloc(buf_len);
    if (!buf)
        abort();
    while (!R->rc && (n = fread(buf, 1, buf_len, f)) > 0)
        parse_chunk(R, &p, buf, n);
    if (!R->rc && ferror(f)) {
        R->rc = TR_E_IO;
        snprintf(err, err_len, "%s: %s", name, strerror(errno));
    }
    if (!R->rc)
        csv_fini(&p, on_field, on_row, R); /* a last row without its newline */
    csv_free(&p);
    free(buf);
    if (!R->rc && R->format == POSTCODE_ANY) {
        R->rc = TR_E_IO;
        snprintf(err, err_len, "%s: the file is empty", name);
    }
    *format = R->format;
    int rc = R->rc;
    free(R);
    return rc;
}
