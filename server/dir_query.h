/* The one query layer of the shared directory: a filter parsed from a query
 * string, and the parameterised SQL that lists the matching services (or
 * their service-at-locations) with paging and the total. The Open Referral
 * UK API (api_oruk.c) and the viewer's directory search use it alike. */
#ifndef TRELLIS_DIR_QUERY_H
#define TRELLIS_DIR_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIR_PER_PAGE_DEFAULT 50
#define DIR_PER_PAGE_MAX 200      /* a larger per_page is clamped to it, not refused */
#define DIR_PAGE_MAX 1000000      /* page numbers from 1 */
#define DIR_PROXIMITY_MAX 1000000 /* metres */
#define DIR_SEARCH_MAX 200        /* bytes of search words */

/* A filter. Every member is a value, no pointers: the struct can be copied
 * and freed with its owner. Strings are "" when the parameter is absent,
 * numbers as said. Values are checked and normalised by dir_filter_parse;
 * a caller filling one by hand must keep to the same forms. */
typedef struct {
    int64_t page;                    /* from 1 */
    int64_t per_page;                /* 1..DIR_PER_PAGE_MAX after clamping */
    bool per_page_clamped;           /* per_page asked for was above DIR_PER_PAGE_MAX */
    char search[DIR_SEARCH_MAX + 1]; /* words, websearch syntax (english) */
    char taxonomy_id[37];            /* lower-case UUIDs */
    char taxonomy_term_id[37];
    char organization_id[37];
    char need[32];                       /* a need code (docs/records.md) */
    char for_gender[16];                 /* women, men, non_binary: matches "all" services too */
    char risk_level[16];                 /* standard, medium, high */
    char accessibility[40];              /* an accessibility code (docs/directory.md) */
    char district[16];                   /* a postcode district (LS7) or local authority GSS code */
    int minimum_age, maximum_age;        /* 0..130, -1 absent: an age range overlapping */
    int taking_referrals, self_referral; /* 1 true, 0 false, -1 absent */
    char modified_after[41];             /* RFC 3339 date or date-time: received on or after */
    char day[3];                         /* MO TU WE TH FR SA SU */
    char start_time[9], end_time[9];     /* HH:MM:SS: a schedule opening at or after /
                                          * closing at or before */
    bool has_point;                      /* lat and lng given */
    double lat, lng;                     /* degrees, -90..90 and -180..180 */
    char postcode[9];                    /* a full UK postcode, capitals, no space */
    int64_t proximity;                   /* metres, 0 absent */
    bool minimal;                        /* ORUK: ids and modification times only */
} dir_filter_t;

/* Parse a query string ("a=1&b=x%20y", may be NULL) into f. Parameters
 * named in extra (NULL-terminated, may be NULL) are the caller's own and
 * left alone; any other name is refused, so that no filter is silently
 * ignored. A repeated parameter takes its FIRST value (docs/directory.md),
 * the same for every parameter. format=json is accepted (the only format).
 * 0, or TR_E_INVAL with a message naming the parameter in err. */
int dir_filter_parse(const char *query, const char *const *extra, dir_filter_t *f, char *err,
                     size_t err_len);

/* What is listed: services, or one row per service-at-location. */
typedef enum { DIR_LIST_SERVICES, DIR_LIST_SALS } dir_list_t;

/* Who is looking. org is this node's organisation: the listing holds the
 * services it may see through /v1/changes (its own, those whose audience
 * names it or the consortium, and those signed before audiences), never a
 * shadowed one. public_view: a confidential service takes part in a
 * proximity search by its area only (it has no point anyway), and the
 * caller must render it with tr_oruk's public view. */
typedef struct {
    const char *org; /* borrowed; "" or NULL: every organisation's */
    bool public_view;
    /* The caller renders /oruk/services list items only: from the
     * directory index, when it keeps every item of the page, the items'
     * documents are not written (dir_rows_t.items_json ""), only the
     * rendered items. Ignored by the SQL. */
    bool oruk_items;
} dir_view_t;

#define DIR_MAX_PARAMS 40

/* The query: text and parameters, owned by this struct (dir_sql_free). */
typedef struct {
    char *sql;
    int nparams;
    char *params[DIR_MAX_PARAMS]; /* NULL is SQL NULL */
} dir_sql_t;

/* Build the listing query of f for view. The query returns exactly one row:
 *   0 total     bigint: matching items on every page
 *   1 items     json array, in page order, of
 *               {"origin": text, "received_at": RFC 3339 text,
 *                "body": the stored directory.service body,
 *                "sal": the service_at_location (DIR_LIST_SALS only),
 *                "distance": metres (only with a point or postcode)}
 *   2 lookup    text: "ok", or with a postcode "not_loaded" (the postcode
 *               table is empty: answer 400, the lookup is not loaded) or
 *               "unknown_postcode" (not in it: answer 400 too)
 * Bodies are raw: render them for the view (tr_oruk_service_summary, or
 * escape every value for HTML). Order: by distance when there is a point,
 * then name, then id. 0, or TR_E_INVAL (a filter the list cannot take). */
int dir_query_build(const dir_filter_t *f, dir_list_t what, const dir_view_t *view, dir_sql_t *out);
void dir_sql_free(dir_sql_t *q);

#endif
