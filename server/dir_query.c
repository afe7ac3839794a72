/* The directory's query layer: query-string filters, checked and
 * normalised, and the listing SQL built from them with every value a
 * parameter. Which index serves which filter: sql/007_directory_query.sql. */
#include "dir_query.h"
#include "query.h"
#include "strbuf.h"
#include "tr_anon.h"
#include "tr_check.h"
#include "tr_error.h"
#include "tr_format.h"
#include "tr_pii.h"
#include "tr_record.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every parameter this layer reads; anything else is refused unless the
 * caller named it as its own. */
static const char *const known[] = {"page",
                                    "per_page",
                                    "search",
                                    "taxonomy_id",
                                    "taxonomy_term_id",
                                    "organization_id",
                                    "need",
                                    "for_gender",
                                    "risk_level",
                                    "accessibility",
                                    "district",
                                    "minimum_age",
                                    "maximum_age",
                                    "taking_referrals",
                                    "self_referral",
                                    "modified_after",
                                    "day",
                                    "start_time",
                                    "end_time",
                                    "lat",
                                    "lng",
                                    "postcode",
                                    "proximity",
                                    "minimal",
                                    "format",
                                    NULL};

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return TR_E_INVAL;
}

static bool in_list(const char *s, const char *const *list)
{
    for (; list && *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* A text parameter into buf; "" when absent or empty. -1 when malformed or
 * longer than buf. */
static int get_text(const char *q, const char *name, char *buf, size_t len)
{
    buf[0] = '\0';
    return query_get(q, name, buf, len) < 0 ? -1 : 0;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* true/false (any case); -1 absent, 0, 1, or -2 for anything else. */
static int get_bool(const char *q, const char *name)
{
    char buf[8];
    if (get_text(q, name, buf, sizeof(buf)) != 0)
        return -2;
    lower(buf);
    if (!buf[0])
        return -1;
    if (strcmp(buf, "true") == 0)
        return 1;
    if (strcmp(buf, "false") == 0)
        return 0;
    return -2;
}

/* An integer parameter in [min, max]; def when absent or empty. */
static int get_int(const char *q, const char *name, int64_t min, int64_t max, int64_t def,
                   int64_t *out)
{
    char buf[24];
    if (get_text(q, name, buf, sizeof(buf)) != 0)
        return -1;
    if (!buf[0]) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end || !(isdigit((unsigned char)buf[0]) || buf[0] == '-') || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int get_double(const char *q, const char *name, double min, double max, bool *found,
                      double *out)
{
    char buf[32];
    *found = false;
    if (get_text(q, name, buf, sizeof(buf)) != 0)
        return -1;
    if (!buf[0])
        return 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max ||
        !(isdigit((unsigned char)buf[0]) || buf[0] == '-' || buf[0] == '+' || buf[0] == '.'))
        return -1;
    *found = true;
    *out = v;
    return 0;
}

static const char *const day_codes[] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU", NULL};
static const char *const day_names[] = {"monday", "tuesday",  "wednesday", "thursday",
                                        "friday", "saturday", "sunday",    NULL};

static bool norm_day(const char *in, char *out)
{
    char buf[16];
    snprintf(buf, sizeof(buf), "%s", in);
    lower(buf);
    for (int i = 0; day_codes[i]; i++) {
        char code[3] = {(char)tolower((unsigned char)day_codes[i][0]),
                        (char)tolower((unsigned char)day_codes[i][1]), 0};
        if (strcmp(buf, code) == 0 || strcmp(buf, day_names[i]) == 0) {
            memcpy(out, day_codes[i], 3);
            return true;
        }
    }
    return false;
}

/* HH:MM or HH:MM:SS (a fraction dropped) as HH:MM:SS. */
static bool norm_time(const char *in, char *out, size_t out_len)
{
    if (!tr_is_time(in) || out_len < 9)
        return false;
    snprintf(out, out_len, "%.2s:%.2s:%.2s", in, in + 3, strlen(in) >= 8 ? in + 6 : "00");
    return true;
}

/* A date, a date-time with an offset, or one without (taken as UTC). */
static bool norm_timestamp(const char *in, char *out, size_t out_len)
{
    char buf[48];
    if (strlen(in) > 35)
        return false;
    if (tr_is_datetime(in)) {
        snprintf(out, out_len, "%s", in);
        return true;
    }
    snprintf(buf, sizeof(buf), "%sZ", in);
    if (strchr(in, 'T') && tr_is_datetime(buf)) {
        snprintf(out, out_len, "%s", buf);
        return true;
    }
    if (tr_is_date(in)) {
        snprintf(out, out_len, "%sT00:00:00Z", in);
        return true;
    }
    return false;
}

static int parse_codes(const char *q, dir_filter_t *f, char *err, size_t err_len)
{
    struct {
        const char *name, *list;
        char *buf;
        size_t len;
    } codes[] = {
        {"need", "needs", f->need, sizeof(f->need)},
        {"for_gender", "for_genders", f->for_gender, sizeof(f->for_gender)},
        {"risk_level", "risk_levels", f->risk_level, sizeof(f->risk_level)},
        {"accessibility", "accessibility", f->accessibility, sizeof(f->accessibility)},
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (get_text(q, codes[i].name, codes[i].buf, codes[i].len) != 0 ||
            (codes[i].buf[0] && !in_list(codes[i].buf, tr_directory_codes(codes[i].list))))
            return fail(err, err_len, "%s must be one of the codes of docs/directory.md",
                        codes[i].name);
    }
    char buf[24];
    if (get_text(q, "district", buf, sizeof(buf)) != 0 ||
        (buf[0] && tr_anon_district(buf, f->district, sizeof(f->district)) != 0))
        return fail(err, err_len,
                    "district must be a postcode district (LS7) or a local authority code "
                    "(E08000035)");
    return 0;
}

static int parse_uuids(const char *q, dir_filter_t *f, char *err, size_t err_len)
{
    struct {
        const char *name;
        char *buf;
    } ids[] = {{"taxonomy_id", f->taxonomy_id},
               {"taxonomy_term_id", f->taxonomy_term_id},
               {"organization_id", f->organization_id}};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        if (get_text(q, ids[i].name, ids[i].buf, 37) != 0)
            return fail(err, err_len, "%s must be a UUID", ids[i].name);
        lower(ids[i].buf);
        if (ids[i].buf[0] && !tr_is_uuid(ids[i].buf))
            return fail(err, err_len, "%s must be a UUID", ids[i].name);
    }
    return 0;
}

static int parse_who(const char *q, dir_filter_t *f, char *err, size_t err_len)
{
    int64_t lo, hi;
    if (get_int(q, "minimum_age", 0, 130, -1, &lo) != 0)
        return fail(err, err_len, "minimum_age must be a whole number from 0 to 130");
    if (get_int(q, "maximum_age", 0, 130, -1, &hi) != 0)
        return fail(err, err_len, "maximum_age must be a whole number from 0 to 130");
    if (lo >= 0 && hi >= 0 && lo > hi)
        return fail(err, err_len, "maximum_age must not be below minimum_age");
    f->minimum_age = (int)lo;
    f->maximum_age = (int)hi;
    if ((f->taking_referrals = get_bool(q, "taking_referrals")) == -2)
        return fail(err, err_len, "taking_referrals must be true or false");
    if ((f->self_referral = get_bool(q, "self_referral")) == -2)
        return fail(err, err_len, "self_referral must be true or false");
    int minimal = get_bool(q, "minimal");
    if (minimal == -2)
        return fail(err, err_len, "minimal must be true or false");
    f->minimal = minimal == 1;
    return 0;
}

static int parse_when(const char *q, dir_filter_t *f, char *err, size_t err_len)
{
    char buf[48];
    if (get_text(q, "modified_after", buf, sizeof(buf)) != 0 ||
        (buf[0] && !norm_timestamp(buf, f->modified_after, sizeof(f->modified_after))))
        return fail(err, err_len,
                    "modified_after must be an RFC 3339 date or date-time (2025-11-20T09:30:00Z)");
    if (get_text(q, "day", buf, sizeof(buf)) != 0 || (buf[0] && !norm_day(buf, f->day)))
        return fail(err, err_len, "day must be a day of the week: MO to SU, or Monday to Sunday");
    if (get_text(q, "start_time", buf, sizeof(buf)) != 0 ||
        (buf[0] && !norm_time(buf, f->start_time, sizeof(f->start_time))))
        return fail(err, err_len, "start_time must be a time of day, HH:MM or HH:MM:SS");
    if (get_text(q, "end_time", buf, sizeof(buf)) != 0 ||
        (buf[0] && !norm_time(buf, f->end_time, sizeof(f->end_time))))
        return fail(err, err_len, "end_time must be a time of day, HH:MM or HH:MM:SS");
    return 0;
}

static int parse_where(const char *q, dir_filter_t *f, char *err, size_t err_len)
{
    bool has_lat, has_lng;
    if (get_double(q, "lat", -90, 90, &has_lat, &f->lat) != 0)
        return fail(err, err_len, "lat must be a latitude in degrees, -90 to 90");
    if (get_double(q, "lng", -180, 180, &has_lng, &f->lng) != 0)
        return fail(err, err_len, "lng must be a longitude in degrees, -180 to 180");
    if (has_lat != has_lng)
        return fail(err, err_len, "lat and lng go together");
    f->has_point = has_lat;
    char buf[24];
    if (get_text(q, "postcode", buf, sizeof(buf)) != 0 ||
        (buf[0] && !tr_pii_postcode_key(buf, f->postcode, sizeof(f->postcode))))
        return fail(err, err_len, "postcode must be a full UK postcode (LS6 1AA)");
    if (f->postcode[0] && f->has_point)
        return fail(err, err_len, "give either postcode or lat and lng, not both");
    if (get_int(q, "proximity", 1, DIR_PROXIMITY_MAX, 0, &f->proximity) != 0)
        return fail(err, err_len, "proximity must be whole metres from 1 to %d", DIR_PROXIMITY_MAX);
    if (f->proximity && !f->has_point && !f->postcode[0])
        return fail(err, err_len, "proximity needs a postcode, or lat and lng");
    return 0;
}

int dir_filter_parse(const char *query, const char *const *extra, dir_filter_t *f, char *err,
                     size_t err_len)
{
    const char *q = query ? query : "";
    memset(f, 0, sizeof(*f));
    /* Unknown names first: a filter this node does not know is never ignored. */
    for (const char *p = q; *p;) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        char name[48];
        if (klen >= sizeof(name))
            return fail(err, err_len, "unknown parameter (a name of %zu bytes)", klen);
        memcpy(name, p, klen);
        name[klen] = '\0';
        if (klen && !in_list(name, known) && !in_list(name, extra)) {
            for (char *c = name; *c; c++)
                if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
                    *c = '?';
            return fail(err, err_len, "unknown parameter %s: this directory cannot honour it",
                        name);
        }
        p += plen + (amp ? 1 : 0);
    }
    if (get_int(q, "page", 1, DIR_PAGE_MAX, 1, &f->page) != 0)
        return fail(err, err_len, "page must be a whole number from 1 to %d", DIR_PAGE_MAX);
    if (get_int(q, "per_page", 1, INT64_MAX, DIR_PER_PAGE_DEFAULT, &f->per_page) != 0)
        return fail(err, err_len, "per_page must be a whole number from 1");
    if (f->per_page > DIR_PER_PAGE_MAX) {
        f->per_page = DIR_PER_PAGE_MAX;
        f->per_page_clamped = true;
    }
    if (get_text(q, "search", f->search, sizeof(f->search)) != 0)
        return fail(err, err_len, "search must be at most %d bytes of text", DIR_SEARCH_MAX);
    char fmt[8];
    if (get_text(q, "format", fmt, sizeof(fmt)) != 0 || (fmt[0] && strcmp(fmt, "json") != 0))
        return fail(err, err_len, "format: only json is served");
    int rc;
    if ((rc = parse_uuids(q, f, err, err_len)) != 0 || (rc = parse_codes(q, f, err, err_len)) ||
        (rc = parse_who(q, f, err, err_len)) || (rc = parse_when(q, f, err, err_len)) ||
        (rc = parse_where(q, f, err, err_len)))
        return rc;
    return 0;
}

/* ---- the SQL ---- */

/* Add a parameter (copied; NULL for SQL NULL) and return its number. */
static int param(dir_sql_t *q, const char *value)
{
    if (q->nparams >= DIR_MAX_PARAMS)
        abort(); /* a programming error: the builder adds a bounded number */
    char *copy = value ? strdup(value) : NULL;
    if (value && !copy)
        abort();
    q->params[q->nparams++] = copy;
    return q->nparams;
}

static int param_int(dir_sql_t *q, int64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return param(q, buf);
}

static int param_double(dir_sql_t *q, double v)
{
    char buf[40];
    snprintf(buf, sizeof(buf), "%.9g", v);
    return param(q, buf);
}

/* The WHERE conditions on directory_services s, each served by an index. */
static void add_filters(strbuf_t *b, dir_sql_t *q, const dir_filter_t *f, const dir_view_t *v)
{
    strbuf_puts(b, "NOT s.shadowed");
    if (v->org && v->org[0]) {
        int n = param(q, v->org);
        /* The audience rule of feed.c's agent feed, for the directory. */
        strbuf_printf(b,
                      " AND (s.origin = $%d OR s.audience && ARRAY[$%d::text, '*'] "
                      "OR s.audience IS NULL)",
                      n, n);
    }
    if (f->search[0])
        strbuf_printf(b, " AND s.search @@ websearch_to_tsquery('english', $%d)",
                      param(q, f->search));
    struct {
        const char *value, *before, *after;
    } conds[] = {
        {f->taxonomy_term_id, " AND s.taxonomy_terms @> ARRAY[", "::text]"},
        {f->taxonomy_id, " AND s.taxonomy_ids @> ARRAY[", "::text]"},
        {f->need, " AND s.needs @> ARRAY[", "::text]"},
        {f->risk_level, " AND s.risk_levels @> ARRAY[", "::text]"},
        {f->accessibility, " AND s.accessibility @> ARRAY[", "::text]"},
        {f->district, " AND s.districts @> ARRAY[", "::text]"},
        {f->organization_id, " AND s.organization_id = ", "::uuid"},
        {f->modified_after, " AND s.stored_at >= ", "::timestamptz"},
    };
    for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++)
        if (conds[i].value[0])
            strbuf_printf(b, "%s$%d%s", conds[i].before, param(q, conds[i].value), conds[i].after);
    if (f->for_gender[0]) /* a service for everyone is for each gender too */
        strbuf_printf(b, " AND s.for_genders && ARRAY[$%d::text, 'all']", param(q, f->for_gender));
    if (f->minimum_age >= 0 || f->maximum_age >= 0) {
        /* The services whose age range [min, max] overlaps the one asked
         * for [lo, hi]: min <= hi and lo <= max. Written as two comparisons,
         * not as int4range(...) && int4range(...): building a range for
         * every candidate row was about a quarter of a filtered query's CPU, and
         * an age matches most of the directory, so its GiST index never
         * narrowed a search much (docs/benchmarks.md, "The directory"). */
        int lo = param_int(q, f->minimum_age >= 0 ? f->minimum_age : 0);
        int hi = param_int(q, f->maximum_age >= 0 ? f->maximum_age : 130);
        strbuf_printf(b,
                      " AND coalesce(s.minimum_age, 0) <= $%d::int AND coalesce(s.maximum_age, "
                      "130) >= $%d::int",
                      hi, lo);
    }
    if (f->taking_referrals >= 0)
        strbuf_printf(b, " AND s.taking_referrals = $%d::boolean",
                      param(q, f->taking_referrals ? "true" : "false"));
    if (f->self_referral >= 0)
        strbuf_printf(b, " AND s.self_referral = $%d::boolean",
                      param(q, f->self_referral ? "true" : "false"));
    if (f->day[0] || f->start_time[0] || f->end_time[0]) {
        /* One schedule must meet all three. */
        strbuf_puts(b, " AND EXISTS (SELECT 1 FROM directory_schedules d WHERE "
                       "d.service_id = s.id AND d.origin = s.origin");
        if (f->day[0])
            strbuf_printf(b, " AND d.day = $%d", param(q, f->day));
        if (f->start_time[0])
            strbuf_printf(b, " AND d.opens_at >= $%d::time", param(q, f->start_time));
        if (f->end_time[0])
            strbuf_printf(b, " AND d.closes_at <= $%d::time", param(q, f->end_time));
        strbuf_puts(b, ")");
    }
}

/* The search's centre as the CTE o(pt): a point, or a postcode's centre. */
static void add_origin(strbuf_t *b, dir_sql_t *q, const dir_filter_t *f)
{
    if (f->has_point) {
        int lng = param_double(q, f->lng), lat = param_double(q, f->lat);
        strbuf_printf(b, "o AS (SELECT point($%d::float8, $%d::float8) AS pt), ", lng, lat);
    } else {
        strbuf_printf(b, "o AS (SELECT geo AS pt FROM postcodes WHERE postcode = $%d), ",
                      param(q, f->postcode));
    }
}

int dir_query_build(const dir_filter_t *f, dir_list_t what, const dir_view_t *view, dir_sql_t *out)
{
    memset(out, 0, sizeof(*out));
    if (what != DIR_LIST_SERVICES && what != DIR_LIST_SALS)
        return TR_E_INVAL;
    bool near = f->has_point || f->postcode[0];
    int radius = 0;
    strbuf_t b = {0};
    strbuf_puts(&b, "WITH ");
    if (near) {
        add_origin(&b, out, f);
        /* Each place's distance; with a radius only those in its box (the
         * GiST index), then the exact distance decides. */
        strbuf_puts(&b, "pl AS (SELECT p.service_id, p.origin, p.sal_id, p.by_area, "
                        "trellis_distance_m(p.geo, o.pt) AS dist FROM o, directory_places p "
                        "WHERE p.geo IS NOT NULL");
        if (f->proximity) {
            radius = param_int(out, f->proximity);
            strbuf_printf(&b, " AND p.geo <@ trellis_near_box(o.pt, $%d::float8)", radius);
        }
        strbuf_puts(&b, "), ");
    }
    if (what == DIR_LIST_SERVICES) {
        strbuf_puts(&b, "f AS (SELECT s.id, s.origin, s.name, NULL::text AS sal_id");
        if (near) /* with a radius, from the places near (an inner join) */
            strbuf_printf(&b,
                          ", n.dist FROM directory_services s %s JOIN (SELECT service_id, "
                          "origin, min(dist) AS dist FROM pl GROUP BY 1, 2) n "
                          "ON n.service_id = s.id AND n.origin = s.origin",
                          f->proximity ? "" : "LEFT");
        else
            strbuf_puts(&b, " FROM directory_services s");
    } else {
        /* A location placed by its own point is as far as that point; one
         * without (a confidential service's, or one with no address) takes
         * its service's nearest area. */
        strbuf_puts(&b, "f AS (SELECT s.id, s.origin, s.name, l.sal_id");
        if (near)
            strbuf_puts(&b, ", CASE WHEN l.geo IS NOT NULL THEN (SELECT min(x.dist) FROM pl x "
                            "WHERE x.service_id = s.id AND x.origin = s.origin AND x.sal_id = "
                            "l.sal_id) ELSE (SELECT min(x.dist) FROM pl x WHERE x.service_id = "
                            "s.id AND x.origin = s.origin AND x.by_area) END AS dist");
        strbuf_puts(&b, " FROM directory_services s JOIN directory_places l ON l.service_id = "
                        "s.id AND l.origin = s.origin AND NOT l.by_area");
    }
    strbuf_puts(&b, " WHERE ");
    add_filters(&b, out, f, view);
    strbuf_puts(&b, ")");
    if (radius) /* only what lies within the radius */
        strbuf_printf(&b, ", g AS (SELECT * FROM f WHERE dist <= $%d::float8)", radius);
    const char *src = radius ? "g" : "f";
    int limit = param_int(out, f->per_page);
    int offset = param_int(out, (f->page - 1) * f->per_page);
    strbuf_printf(&b,
                  " SELECT (SELECT count(*) FROM %s), coalesce((SELECT json_agg("
                  "json_build_object('origin', s.origin, 'received_at', to_char(s.stored_at "
                  "AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'body', "
                  "s.doc->'body'",
                  src);
    if (what == DIR_LIST_SALS)
        strbuf_puts(&b, ", 'sal', (SELECT x FROM jsonb_array_elements(s.doc->'body'->"
                        "'service_at_locations') x WHERE x->>'id' = pg.sal_id LIMIT 1)");
    if (near)
        strbuf_puts(&b, ", 'distance', round(pg.dist)");
    /* The page's rows straight from an ORDER BY ... LIMIT (a top-N sort,
     * which keeps only the page's rows) rather than numbering every match
     * with row_number() first (a full sort of thousands of matches for a
     * wide proximity search), then their documents. */
    const char *order = near ? "dist NULLS LAST, name, id, sal_id" : "name, id, sal_id";
    strbuf_printf(&b,
                  ") ORDER BY %s%s) FROM (SELECT id, origin, sal_id, name%s FROM %s ORDER BY %s "
                  "LIMIT $%d::int OFFSET $%d::bigint) pg JOIN directory_services s ON s.id = "
                  "pg.id AND s.origin = pg.origin), '[]'::json), ",
                  near ? "pg.dist NULLS LAST, " : "", "pg.name, pg.id, pg.sal_id",
                  near ? ", dist" : "", src, order, limit, offset);
    if (f->postcode[0])
        strbuf_puts(&b, "CASE WHEN NOT EXISTS (SELECT 1 FROM postcodes) THEN 'not_loaded' "
                        "WHEN NOT EXISTS (SELECT 1 FROM o) THEN 'unknown_postcode' "
                        "ELSE 'ok' END");
    else
        strbuf_puts(&b, "'ok'");
    out->sql = strbuf_take(&b, NULL);
    return 0;
}

void dir_sql_free(dir_sql_t *q)
{
    free(q->sql);
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    memset(q, 0, sizeof(*q));
}
