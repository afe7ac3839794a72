/* The directory's filter fields in memory, one process's copy: the filter,
 * the count, the order and the page of a directory listing computed by a
 * linear scan of a compact array instead of a PostgreSQL query evaluating
 * every match (docs/directory.md, "How answers are computed"). The
 * semantics are those of add_filters() in dir_query.c, which stays the
 * reference; this file holds the data and the matching only (no libpq, no
 * loop), dir_index_load.c keeps it current and answers requests. */
#ifndef TRELLIS_DIR_INDEX_H
#define TRELLIS_DIR_INDEX_H

#include "dir_fts.h"
#include "dir_geo.h"
#include "dir_query.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIR_INDEX_MAX_ENTRIES 200000 /* services; past it the node uses the SQL path */
#define DIR_INDEX_MAX_MB_DEFAULT 512 /* [directory] index_max_mb: memory counted, MiB */

typedef struct dir_index dir_index_t;

/* The string lists of a service, each interned to small integers. */
typedef enum {
    DIR_L_AUDIENCE,
    DIR_L_NEEDS,
    DIR_L_TERMS,
    DIR_L_TAX_IDS,
    DIR_L_RISKS,
    DIR_L_ACCESS,
    DIR_L_DISTRICTS,
    DIR_L_GENDERS,
    DIR_L_COUNT_
} dir_list_kind_t;

typedef struct {
    const char *const *v; /* borrowed */
    int n;
} dir_strs_t;

/* One schedule row of directory_schedules: day 0 (MO) .. 6 (SU), -1 for
 * none or another value (it never matches a day asked for); times in
 * microseconds since midnight, -1 for NULL. */
typedef struct {
    int day;
    int64_t opens_us, closes_us;
} dir_sched_t;

/* One row of directory_places: a service-at-location (sal_id, by_area
 * false) or an area (by_area true, sal_id NULL). has_geo false: not placed. */
typedef struct {
    const char *sal_id; /* borrowed; NULL for an area */
    bool by_area, has_geo;
    double lng, lat;
} dir_place_t;

/* A visible (not shadowed) service as stored, everything borrowed. The
 * kept text (received_at, body, the ORUK list item) is what a listing's items are made of
 * (dir_doc.h): copied into one allocation owned by the entry, replaced
 * with it and freed when it is dropped. */
typedef struct {
    const char *id; /* lower-case UUID text */
    const char *origin, *name;
    int64_t seq;
    bool audience_null; /* audience IS NULL: signed before audiences */
    dir_strs_t lists[DIR_L_COUNT_];
    int min_age, max_age;                /* -1 NULL */
    int taking_referrals, self_referral; /* 1, 0, -1 NULL */
    const char *organization_id;         /* NULL when none */
    int64_t stored_us;                   /* stored_at, microseconds since 1970 */
    const dir_sched_t *scheds;
    int n_scheds;
    const dir_place_t *places; /* in sal_id order (the database's, see dir_index_put) */
    int n_places;
    const char *received_at; /* stored_at as the SQL path writes it (RFC 3339, microseconds) */
    const char *body;        /* the stored body's JSON text, as PostgreSQL wrote it */
    size_t body_len;
    const char *search;  /* directory_services.search as text: its lexemes (dir_fts.h); NULL none */
    const char *summary; /* its ORUK list item as sent (api_oruk.c's JSON text); NULL none */
    size_t summary_len;
} dir_row_t;

/* At most max_entries services and max_bytes of memory counted (the
 * entries, their codes, places and kept text, with a word of allocator
 * overhead each). */
dir_index_t *dir_index_new(size_t max_entries, size_t max_bytes);
void dir_index_free(dir_index_t *ix);

/* Add a service, or replace the one with the same id and origin (row is
 * copied; the old entry's kept text freed). Places must come in the order
 * the listing sorts service-at-locations of one service by (sal_id, as the
 * database orders it). 0, or TR_E_LIMIT past max_entries or max_bytes
 * (the index is then unchanged). */
int dir_index_put(dir_index_t *ix, const dir_row_t *row);
/* Forget the service id/origin (it became invisible: shadowed, deleted),
 * freeing its kept text and filter fields; nothing if unknown. */
void dir_index_drop(dir_index_t *ix, const char *id, const char *origin);

/* Services held (gauge trellis_dir_index_entries), and the highest seq put. */
size_t dir_index_count(const dir_index_t *ix);
int64_t dir_index_last_seq(const dir_index_t *ix);
/* Memory counted against max_bytes (gauge trellis_dir_index_bytes). */
size_t dir_index_bytes(const dir_index_t *ix);
/* false when the lexemes of some service could not be read: its searches
 * must be the database's (search_seqs), not tsq's. */
bool dir_index_fts_ok(const dir_index_t *ix);
/* true when a put was refused for max_bytes rather than max_entries. */
bool dir_index_over_bytes(const dir_index_t *ix);

/* How names compare. The database's order is the reference: with byte
 * order (collation C or POSIX, as every test cluster and the benchmarks
 * run), the index sorts itself with strcmp (PostgreSQL's C collation is
 * memcmp order) and takes changes one by one; with any other collation
 * the caller puts the rows in the database's ORDER BY name, id and sets
 * db_order, and the index keeps that order as given (a change then means
 * a full reload, dir_index_load.c). */
void dir_index_set_db_order(dir_index_t *ix, bool db_order);
bool dir_index_db_order(const dir_index_t *ix);

/* What one listing asks, beyond the filter: the values the database
 * worked out for it. */
typedef struct {
    const dir_filter_t *f;
    dir_list_t what;
    const dir_view_t *view;
    bool has_centre; /* a point, or the postcode's centre */
    double lng, lat;
    bool search; /* f->search given: only the seqs in search_seqs match ... */
    const int64_t *search_seqs;
    size_t n_search;
    const dir_tsq_t *tsq;    /* ... or, when set, those its tsquery matches (dir_fts.h) */
    bool has_modified_after; /* f->modified_after as microseconds */
    int64_t modified_after_us;
} dir_ask_t;

/* One row of a page, pointers borrowed from the index until it changes. */
typedef struct {
    const char *id, *origin;
    const char *sal_id; /* DIR_LIST_SALS only */
    bool has_dist;
    double dist;             /* metres, unrounded */
    const char *received_at; /* the kept text (dir_row_t) */
    const char *body;        /* body_len bytes, not NUL-terminated there */
    size_t body_len;
    const char *sal; /* DIR_LIST_SALS: its object within body; NULL when the body has none */
    size_t sal_len;
    const char *summary; /* the kept ORUK list item (dir_row_t), NULL when none */
    size_t summary_len;
} dir_hit_t;

typedef struct {
    int64_t total;
    dir_hit_t *hits; /* in page order, malloc'd: dir_page_free */
    size_t n;
} dir_page_t;

/* The page f->page of f->per_page rows of the listing, and the total. 0. */
int dir_index_page(dir_index_t *ix, const dir_ask_t *ask, dir_page_t *out);
void dir_page_free(dir_page_t *p);

#endif
