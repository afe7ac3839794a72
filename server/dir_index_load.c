/* The directory index of one node process, kept current from the database
 * and answering listings: every libpq call through db.c, never blocking the
 * loop. A listing asks, in order: the changes since the index was brought
 * up to date (only when something was stored since; every request waiting
 * for the same refresh shares its one query, which brings the changed
 * services' documents too), and what only the database can work out (a
 * postcode's centre, the services a full-text search matches,
 * modified_after as a time; one query, only when asked). The page itself,
 * documents included, comes from memory (dir_doc.h). */
#include "dir_index_load.h"
#include "conn.h"
#include "dir_doc.h"
#include "dir_index.h"
#include "dir_search.h"
#include "log.h"
#include "response.h"
#include "strbuf.h"
#include "tr_error.h"
#include "tr_oruk.h"
#include "view_cache.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ask ask_t;

typedef struct dir_live {
    node_t *node;
    dir_index_t *ix;   /* NULL until loaded (and while loading again) */
    bool off;          /* [directory] index = off, or over the limit */
    bool busy;         /* a load or a refresh is running */
    bool loading;      /* ... and it is a full load */
    uint64_t gen;      /* node->data_generation the index is current at */
    uint64_t busy_gen; /* the generation the running query started at */
    uint64_t refreshed_ms;
    char epoch[40];         /* the feed's epoch (sql/008) at the last look */
    char dir_epoch[24];     /* trellis_directory_epoch.n (sql/016) */
    ask_t *waiters;         /* requests waiting for the running refresh */
    dir_search_t *searches; /* full-text answers kept while the index is unchanged */
    uint64_t changes;       /* bumped whenever the index takes a change */
    dir_index_stats_t st;
} dir_live_t;

/* One listing in progress. */
struct ask {
    req_t *req;
    dir_live_t *live;
    dir_filter_t f;
    dir_list_t what;
    char org[TR_NAME_MAX + 1];
    bool has_org, public_view, oruk_items;
    uint64_t gen;  /* node->data_generation when it came */
    int64_t *seqs; /* the search's matches, copied from those kept; NULL: ask */
    size_t n_seqs;
    dir_tsq_t *tsq;  /* the search's tsquery, from the text kept; NULL: ask */
    bool has_centre; /* the postcode's centre kept: lng, lat */
    double lng, lat;
    uint64_t changes_at; /* live->changes when the pre-query was sent */
    dir_rows_cb cb;
    void *ctx;
    void (*free_ctx)(void *);
    ask_t *next;
};

static void ask_free(void *p)
{
    ask_t *a = p;
    if (a->ctx && a->free_ctx)
        a->free_ctx(a->ctx);
    free(a->seqs);
    dir_tsq_free(a->tsq);
    free(a);
}

static dir_view_t ask_view(const ask_t *a)
{
    return (dir_view_t){a->has_org ? a->org : NULL, a->public_view, a->oruk_items};
}

/* ---- the SQL path (the reference) ---- */

/* dir_query_build's row handed to the caller as the index's would be. */
static void on_sql(req_t *req, const PGresult *res, const char *err, void *ud)
{
    ask_t *a = ud;
    (void)err;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
        PQnfields(res) != 3) {
        a->cb(req, NULL, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, a->ctx);
        return;
    }
    dir_rows_t rows = {strtoll(PQgetvalue(res, 0, 0), NULL, 10),
                       PQgetvalue(res, 0, 1),
                       (size_t)PQgetlength(res, 0, 1),
                       PQgetvalue(res, 0, 2),
                       NULL,
                       0,
                       0};
    a->cb(req, &rows, 0, a->ctx);
}

/* The listing by dir_query_build's SQL; a is taken. */
static int run_sql(ask_t *a)
{
    dir_view_t view = ask_view(a);
    dir_sql_t q;
    a->live->st.sql_answers++;
    int rc = dir_query_build(&a->f, a->what, &view, &q);
    if (rc != 0) {
        ask_free(a);
        return rc;
    }
    /* a is req_query's now: freed after on_sql, or by it on a failure */
    rc = req_query(a->req, q.sql, q.nparams, (const char *const *)q.params, on_sql, a, ask_free);
    dir_sql_free(&q);
    return rc;
}

/* After the first step a failure is this layer's to answer. */
static void reply_failed(req_t *req, int rc)
{
    response_error(req, rc, NULL);
}

/* ---- the page from memory ---- */

/* The page's rows, documents included, from the index: the SQL's row
 * without a query. The callback replies before this returns. */
static void reply_rows(ask_t *a, int64_t total, const dir_page_t *pg, const char *lookup)
{
    strbuf_t items = {0}, sums = {0};
    dir_rows_t rows = {total, "", 0, lookup, NULL, 0, 0};
    if (a->what == DIR_LIST_SERVICES && dir_doc_summaries(&sums, pg)) {
        rows.summaries = sums.buf;
        rows.summaries_len = sums.len;
        rows.n_items = pg->n;
    }
    if (!rows.summaries || !a->oruk_items) { /* the documents, for the caller to render */
        dir_doc_items(&items, pg, a->what == DIR_LIST_SALS,
                      a->f.has_point || a->f.postcode[0] != '\0');
        rows.items_json = items.buf;
        rows.len = items.len;
    }
    a->cb(a->req, &rows, 0, a->ctx);
    strbuf_free(&items);
    strbuf_free(&sums);
}

/* Sorted seqs from "3,5,9" (string_agg ORDER BY seq). */
static int64_t *parse_seqs(const char *s, size_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    int64_t *v = malloc(cap * sizeof(*v));
    if (!v)
        abort();
    *n = 0;
    for (const char *p = s; *p;) {
        char *end;
        v[(*n)++] = strtoll(p, &end, 10);
        p = *end == ',' ? end + 1 : end + strlen(end);
    }
    return v;
}

/* The search's tsquery from its text, when it can be evaluated in memory
 * (dir_fts.h): NULL for a phrase, a prefix, or an index whose lexemes
 * could not all be read. */
static dir_tsq_t *memory_tsq(const dir_live_t *live, const char *text)
{
    dir_tsq_t *q = NULL;
    if (!live->ix || !dir_index_fts_ok(live->ix) || dir_tsq_parse(text, &q) != 0)
        return NULL;
    return q;
}

/* Compute the page from the index and answer it (the callback replies).
 * false, with nothing replied, when the search can be answered neither in
 * memory nor from the database's seqs: the caller runs the SQL path. */
static bool answer(ask_t *a, const PGresult *pre)
{
    dir_view_t view = ask_view(a);
    dir_ask_t q = {.f = &a->f, .what = a->what, .view = &view};
    int64_t *seqs = NULL;
    dir_tsq_t *tsq = NULL;
    if (a->f.has_point) {
        q.has_centre = true;
        q.lng = a->f.lng;
        q.lat = a->f.lat;
    }
    if (pre) {
        const char *lookup = PQgetvalue(pre, 0, 0);
        if (strcmp(lookup, "ok") != 0) {
            reply_rows(a, 0, &(dir_page_t){0}, lookup);
            return true;
        }
        if (a->f.postcode[0] && !a->has_centre) {
            q.has_centre = true;
            q.lng = strtod(PQgetvalue(pre, 0, 1), NULL);
            q.lat = strtod(PQgetvalue(pre, 0, 2), NULL);
            /* Kept only if the index took no change since the question was
             * sent (a change may be a new lookup). */
            if (a->live->changes == a->changes_at)
                dir_search_centre_put(a->live->searches, a->f.postcode, q.lng, q.lat);
        }
        if (a->f.search[0] && !a->seqs && !a->tsq) {
            const char *text = PQgetvalue(pre, 0, 3);
            dir_search_tsq_put(a->live->searches, a->f.search, text);
            tsq = memory_tsq(a->live, text);
            if (!tsq && PQgetisnull(pre, 0, 5))
                return false; /* neither: not expected (pre_sql asks for the seqs) */
            if (!tsq) {
                q.search = true;
                seqs = parse_seqs(PQgetvalue(pre, 0, 5), &q.n_search);
                q.search_seqs = seqs;
                /* Kept only if the index took no change since the question
                 * was sent: then the database's snapshot was at least as
                 * new as the index's, and every service it holds was
                 * searched. */
                if (a->live->changes == a->changes_at)
                    dir_search_put(a->live->searches, a->f.search, seqs, q.n_search);
            }
        }
        if (a->f.modified_after[0]) {
            q.has_modified_after = true;
            q.modified_after_us = strtoll(PQgetvalue(pre, 0, 4), NULL, 10);
        }
    }
    if (a->has_centre) { /* the postcode's centre, kept */
        q.has_centre = true;
        q.lng = a->lng;
        q.lat = a->lat;
    }
    if (a->seqs) {
        q.search = true;
        q.search_seqs = a->seqs;
        q.n_search = a->n_seqs;
    }
    if (a->tsq || tsq) {
        q.search = true;
        q.tsq = a->tsq ? a->tsq : tsq;
        a->live->st.searches_memory++;
    }
    dir_page_t pg;
    dir_index_page(a->live->ix, &q, &pg);
    free(seqs);
    dir_tsq_free(tsq);
    a->live->st.answers++;
    if (a->f.search[0])
        a->live->st.searches++;
    reply_rows(a, pg.total, &pg, "ok");
    dir_page_free(&pg);
    return true;
}

static void on_pre(req_t *req, const PGresult *res, const char *err, void *ud)
{
    ask_t *a = ud;
    (void)err;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
        PQnfields(res) != 6) {
        /* the caller's answer to a failed query */
        a->cb(req, NULL, res ? TR_E_DB : TR_E_DB_UNAVAILABLE, a->ctx);
        return;
    }
    if (a->live->ix && answer(a, res))
        return;
    /* The index went meanwhile (a restore is loading it again), or the
     * search could not be answered from it: the SQL path, with a copy, a
     * being req_query's to free. */
    ask_t *copy = malloc(sizeof(*copy));
    if (!copy)
        abort();
    *copy = *a;
    a->ctx = NULL;
    a->seqs = NULL;
    a->tsq = NULL;
    int rc = run_sql(copy);
    if (rc != 0)
        reply_failed(req, rc);
}

/* The values only the database has: the postcode's centre and whether the
 * lookup is loaded (the SQL path's statuses), the tsquery PostgreSQL makes
 * of a search (no table read: the search itself is evaluated in memory,
 * dir_fts.h), modified_after in microseconds as stored_at is loaded; and
 * the seqs of the services the search matches (its GIN index) only when
 * it cannot be evaluated in memory: a phrase or a prefix in the tsquery
 * (an operator '<' or a ':' after an operand; a lexeme holding either
 * only costs a needless read), or $4 (lexemes the index could not read). */
static const char pre_sql[] =
    "SELECT CASE WHEN $1::text IS NULL THEN 'ok' "
    "WHEN NOT EXISTS (SELECT 1 FROM postcodes) THEN 'not_loaded' "
    "WHEN NOT EXISTS (SELECT 1 FROM postcodes WHERE postcode = $1) THEN 'unknown_postcode' "
    "ELSE 'ok' END, (SELECT geo[0] FROM postcodes WHERE postcode = $1), "
    "(SELECT geo[1] FROM postcodes WHERE postcode = $1), "
    "websearch_to_tsquery('english', $2::text)::text, "
    "(extract(epoch FROM $3::timestamptz) * 1000000)::bigint, "
    "CASE WHEN $2::text IS NOT NULL AND ($4::bool OR websearch_to_tsquery('english', "
    "$2::text)::text ~ '[<:]') THEN coalesce((SELECT string_agg(seq::text, ',' ORDER BY seq) "
    "FROM directory_services WHERE search @@ websearch_to_tsquery('english', $2) "
    "AND NOT shadowed), '') END";

/* The index is current for a: the pre-query if needed, then the page. */
static int go(ask_t *a)
{
    dir_live_t *live = a->live;
    size_t n;
    const int64_t *kept = a->f.search[0] ? dir_search_get(live->searches, a->f.search, &n) : NULL;
    if (kept) { /* a copy: what is kept may go before the pre-query returns */
        a->seqs = malloc(n ? n * sizeof(*kept) : 1);
        if (!a->seqs)
            abort();
        if (n)
            memcpy(a->seqs, kept, n * sizeof(*kept));
        a->n_seqs = n;
        live->st.searches_kept++;
    } else if (a->f.search[0]) { /* the tsquery known: evaluated with no round trip */
        const char *text = dir_search_tsq_get(live->searches, a->f.search);
        a->tsq = text ? memory_tsq(live, text) : NULL;
        if (a->tsq)
            live->st.tsq_kept++;
    }
    bool searched = !a->f.search[0] || kept || a->tsq;
    if (a->f.postcode[0] &&
        dir_search_centre_get(live->searches, a->f.postcode, &a->lng, &a->lat)) {
        a->has_centre = true;
        live->st.centres_kept++;
    }
    if ((!a->f.postcode[0] || a->has_centre) && searched && !a->f.modified_after[0]) {
        if (!answer(a, NULL))
            abort(); /* without pre, answer always replies */
        ask_free(a);
        return 0;
    }
    const char *params[4] = {a->f.postcode[0] && !a->has_centre ? a->f.postcode : NULL,
                             !searched ? a->f.search : NULL,
                             a->f.modified_after[0] ? a->f.modified_after : NULL,
                             dir_index_fts_ok(live->ix) ? "false" : "true"};
    a->changes_at = live->changes;
    return req_query(a->req, pre_sql, 4, params, on_pre, a, ask_free);
}

/* ---- keeping it current ---- */

static void start_query(dir_live_t *live, bool full);

static bool fresh(const dir_live_t *live, const ask_t *a)
{
    return live->ix && !live->busy && live->gen >= a->gen &&
           uv_now(live->node->loop) - live->refreshed_ms < VIEW_CACHE_TTL_MS;
}

/* A waiting request's connection went. */
static void on_waiter_abort(req_t *req)
{
    ask_t *a = req->ctx;
    for (ask_t **p = &a->live->waiters; *p; p = &(*p)->next) {
        if (*p == a) {
            *p = a->next;
            break;
        }
    }
    req->ctx = NULL;
    ask_free(a);
}

static int proceed(ask_t *a)
{
    dir_live_t *live = a->live;
    if (live->off || (!live->ix && !live->busy)) {
        if (!live->off)
            start_query(live, true);
        return run_sql(a);
    }
    if (!live->ix || (live->loading && live->busy))
        return run_sql(a); /* loading: the reference meanwhile */
    if (fresh(live, a))
        return go(a);
    a->next = live->waiters;
    live->waiters = a;
    a->req->ctx = a;
    a->req->on_abort = on_waiter_abort;
    if (!live->busy)
        start_query(live, false);
    return 0;
}

/* The refresh ended (ok: the index is current at live->gen): every waiter
 * goes on from the index if it is current for it; one that came after the
 * refresh began waits for the next; after a failure, the SQL path. */
static void wake(dir_live_t *live, bool ok)
{
    ask_t *w = live->waiters, *again = NULL;
    live->waiters = NULL;
    while (w) {
        ask_t *next = w->next;
        req_t *req = w->req;
        if (ok && live->ix && live->gen < w->gen) {
            w->next = again;
            again = w;
            w = next;
            continue;
        }
        req->ctx = NULL;
        req->on_abort = NULL;
        int rc = ok && live->ix ? go(w) : run_sql(w);
        if (rc != 0)
            reply_failed(req, rc);
        w = next;
    }
    if (again) {
        live->waiters = again;
        start_query(live, false);
    }
}

/* The services stored after $1 (0: all), each with what the index holds,
 * in the database's order of names, and what says whether the index must
 * load everything again: the feed's epoch (a restore or failover starts
 * another, sql/008), trellis_directory_epoch (sql/016: deletes, updates in
 * place, the postcode lookup replaced), the highest seq (below ours: the
 * feed went back), and whether names compare byte for byte (the probe's
 * order is "AB_ab" only in collation C or POSIX; any linguistic collation
 * puts a next to A). One row with NULL columns when nothing changed. */
static const char refresh_sql[] =
    "WITH m AS (SELECT (SELECT epoch::text FROM trellis_feed_epochs ORDER BY n DESC LIMIT 1) AS "
    "epoch, (SELECT n FROM trellis_directory_epoch) AS dn, (SELECT coalesce(max(seq), 0) FROM "
    "directory_services) AS top, (SELECT string_agg(x, '' ORDER BY x) FROM unnest(ARRAY['b', "
    "'B', 'a', 'A', '_']) x) = 'AB_ab' AS bytewise) "
    "SELECT m.epoch, m.dn, m.top, m.bytewise, c.* FROM m LEFT JOIN (SELECT s.id::text AS id, "
    "s.origin, s.name, s.seq, s.shadowed, s.audience IS NULL, to_json(coalesce(s.audience, "
    "'{}')), to_json(s.needs), to_json(s.taxonomy_terms), to_json(s.taxonomy_ids), "
    "to_json(s.risk_levels), to_json(s.accessibility), to_json(s.districts), "
    "to_json(s.for_genders), s.minimum_age, s.maximum_age, s.taking_referrals, "
    "s.self_referral, s.organization_id::text, (extract(epoch FROM s.stored_at) * "
    "1000000)::bigint, (SELECT json_agg(json_build_array(d.day, (extract(epoch FROM "
    "d.opens_at) * 1000000)::bigint, (extract(epoch FROM d.closes_at) * 1000000)::bigint)) "
    "FROM directory_schedules d WHERE d.service_id = s.id AND d.origin = s.origin), "
    "(SELECT json_agg(json_build_array(p.sal_id, p.by_area, p.geo[0], p.geo[1]) ORDER BY "
    "p.by_area, p.sal_id) FROM directory_places p WHERE p.service_id = s.id AND p.origin = "
    "s.origin), CASE WHEN NOT s.shadowed THEN to_char(s.stored_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END, CASE WHEN NOT s.shadowed THEN "
    "(s.doc->'body')::text END, CASE WHEN NOT s.shadowed THEN s.search::text END "
    "FROM directory_services s WHERE s.seq > $1::bigint) c ON true "
    "ORDER BY c.name, c.id::uuid";

enum {
    C_EPOCH,
    C_DN,
    C_TOP,
    C_BYTEWISE,
    C_ID,
    C_ORIGIN,
    C_NAME,
    C_SEQ,
    C_SHADOWED,
    C_AUD_NULL,
    C_LISTS,
    C_MIN_AGE = C_LISTS + DIR_L_COUNT_,
    C_MAX_AGE,
    C_TAKING,
    C_SELF,
    C_ORG,
    C_STORED,
    C_SCHEDS,
    C_PLACES,
    C_RECEIVED,
    C_BODY,
    C_SEARCH,
    C_COUNT_
};

static int int_or(const PGresult *res, int r, int c, int null)
{
    return PQgetisnull(res, r, c) ? null : atoi(PQgetvalue(res, r, c));
}

static int bool_or(const PGresult *res, int r, int c)
{
    return PQgetisnull(res, r, c) ? -1 : PQgetvalue(res, r, c)[0] == 't';
}

static const char *const days[] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};

/* Row r into the index: put, or dropped when shadowed. */
static int put_row(dir_index_t *ix, const PGresult *res, int r)
{
    const char *id = PQgetvalue(res, r, C_ID), *origin = PQgetvalue(res, r, C_ORIGIN);
    if (PQgetvalue(res, r, C_SHADOWED)[0] == 't') {
        dir_index_drop(ix, id, origin);
        return 0;
    }
    dir_row_t row = {.id = id,
                     .origin = origin,
                     .name = PQgetvalue(res, r, C_NAME),
                     .seq = strtoll(PQgetvalue(res, r, C_SEQ), NULL, 10),
                     .audience_null = PQgetvalue(res, r, C_AUD_NULL)[0] == 't',
                     .min_age = int_or(res, r, C_MIN_AGE, -1),
                     .max_age = int_or(res, r, C_MAX_AGE, -1),
                     .taking_referrals = bool_or(res, r, C_TAKING),
                     .self_referral = bool_or(res, r, C_SELF),
                     .organization_id =
                         PQgetisnull(res, r, C_ORG) ? NULL : PQgetvalue(res, r, C_ORG),
                     .stored_us = strtoll(PQgetvalue(res, r, C_STORED), NULL, 10),
                     .received_at = PQgetvalue(res, r, C_RECEIVED),
                     .body = PQgetvalue(res, r, C_BODY),
                     .body_len = (size_t)PQgetlength(res, r, C_BODY),
                     .search = PQgetvalue(res, r, C_SEARCH)};
    json_t *lists[DIR_L_COUNT_] = {0}, *sc = NULL, *pl = NULL;
    const char **strs = NULL;
    dir_sched_t *scheds = NULL;
    dir_place_t *places = NULL;
    size_t nstr = 0;
    for (int l = 0; l < DIR_L_COUNT_; l++) {
        lists[l] = json_loads(PQgetvalue(res, r, C_LISTS + l), 0, NULL);
        nstr += json_array_size(lists[l]);
    }
    strs = malloc((nstr ? nstr : 1) * sizeof(*strs));
    if (!strs)
        abort();
    size_t k = 0;
    for (int l = 0; l < DIR_L_COUNT_; l++) {
        row.lists[l] = (dir_strs_t){strs + k, 0};
        for (size_t i = 0; i < json_array_size(lists[l]); i++) {
            const char *v = json_string_value(json_array_get(lists[l], i));
            if (v) {
                strs[k++] = v;
                row.lists[l].n++;
            }
        }
    }
    if (!PQgetisnull(res, r, C_SCHEDS))
        sc = json_loads(PQgetvalue(res, r, C_SCHEDS), 0, NULL);
    if (!PQgetisnull(res, r, C_PLACES))
        pl = json_loads(PQgetvalue(res, r, C_PLACES), 0, NULL);
    scheds = calloc(json_array_size(sc) + 1, sizeof(*scheds));
    places = calloc(json_array_size(pl) + 1, sizeof(*places));
    if (!scheds || !places)
        abort();
    for (size_t i = 0; i < json_array_size(sc); i++) {
        json_t *s = json_array_get(sc, i), *o = json_array_get(s, 1), *c = json_array_get(s, 2);
        const char *day = json_string_value(json_array_get(s, 0));
        dir_sched_t *d = &scheds[row.n_scheds++];
        d->day = -1;
        for (int j = 0; day && j < 7; j++)
            if (strcmp(day, days[j]) == 0)
                d->day = j;
        d->opens_us = json_is_integer(o) ? (int64_t)json_integer_value(o) : -1;
        d->closes_us = json_is_integer(c) ? (int64_t)json_integer_value(c) : -1;
    }
    for (size_t i = 0; i < json_array_size(pl); i++) {
        json_t *p = json_array_get(pl, i), *lng = json_array_get(p, 2), *lat = json_array_get(p, 3);
        places[row.n_places++] = (dir_place_t){json_string_value(json_array_get(p, 0)),
                                               json_is_true(json_array_get(p, 1)),
                                               json_is_number(lng) && json_is_number(lat),
                                               json_number_value(lng), json_number_value(lat)};
    }
    row.scheds = scheds;
    row.places = places;
    /* The ORUK list item api_oruk.c would render from this body, rendered
     * once here: a page is then a concatenation, not a parse, a build and
     * a dump per item (docs/directory.md). */
    json_t *body = json_loadb(row.body, row.body_len, 0, NULL);
    json_t *sum = body ? tr_oruk_service_summary(body, false) : NULL;
    char *sum_text = sum ? json_dumps(sum, JSON_COMPACT) : NULL;
    row.summary = sum_text;
    row.summary_len = sum_text ? strlen(sum_text) : 0;
    int rc = dir_index_put(ix, &row);
    free(sum_text);
    json_decref(sum);
    json_decref(body);
    for (int l = 0; l < DIR_L_COUNT_; l++)
        json_decref(lists[l]);
    json_decref(sc);
    json_decref(pl);
    free(strs);
    free(scheds);
    free(places);
    return rc;
}

/* The index took a change (or went): the searches kept may miss it. */
static void index_changed(dir_live_t *live)
{
    live->changes++;
    dir_search_clear(live->searches);
}

/* Over DIR_INDEX_MAX_ENTRIES or [directory] index_max_mb: the SQL path
 * from now on, said once. */
static void give_up(dir_live_t *live)
{
    index_changed(live);
    bool bytes = dir_index_over_bytes(live->ix);
    live->off = true;
    dir_index_free(live->ix);
    live->ix = NULL;
    live->st.entries = live->st.bytes = 0;
    if (bytes)
        log_event(LOG_WARN, "dir_index_off",
                  json_pack("{s:s, s:I}", "reason",
                            "the services' documents need more memory than [directory] "
                            "index_max_mb",
                            "max_mb", (json_int_t)live->node->cfg.directory_index_max_mb));
    else
        log_event(LOG_WARN, "dir_index_off",
                  json_pack("{s:s, s:i}", "reason", "more services than the index holds", "max",
                            DIR_INDEX_MAX_ENTRIES));
}

static void on_refreshed(void *ud, const PGresult *res, const char *err)
{
    dir_live_t *live = ud;
    bool full = live->loading;
    live->busy = live->loading = false;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1 ||
        PQnfields(res) != C_COUNT_) {
        /* Not current: the next listing tries again (the SQL path meanwhile). */
        const char *why = err ? err : "unexpected result";
        if (res && PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY))
            why = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        log_event(LOG_WARN, "dir_index_refresh_failed", json_pack("{s:s}", "error", why));
        wake(live, false);
        return;
    }
    const char *epoch = PQgetvalue(res, 0, C_EPOCH), *dn = PQgetvalue(res, 0, C_DN);
    int64_t top = strtoll(PQgetvalue(res, 0, C_TOP), NULL, 10);
    bool bytewise = PQgetvalue(res, 0, C_BYTEWISE)[0] == 't';
    bool changed = !PQgetisnull(res, 0, C_ID);
    if (!full &&
        (strcmp(epoch, live->epoch) != 0 || strcmp(dn, live->dir_epoch) != 0 ||
         top < dir_index_last_seq(live->ix) || (changed && dir_index_db_order(live->ix)))) {
        /* Deleted, placed again, the feed went back, or names in another
         * collation than C: load everything again (the SQL path meanwhile). */
        index_changed(live);
        dir_index_free(live->ix);
        live->ix = NULL;
        live->st.entries = live->st.bytes = 0;
        wake(live, false);
        start_query(live, true);
        return;
    }
    if (full || changed)
        index_changed(live);
    if (full) {
        dir_index_free(live->ix);
        live->ix = dir_index_new(DIR_INDEX_MAX_ENTRIES,
                                 (size_t)live->node->cfg.directory_index_max_mb << 20);
        /* Rows come in the database's order: kept as they are unless names
         * compare byte for byte, when the index sorts with strcmp. */
        dir_index_set_db_order(live->ix, !bytewise);
    }
    for (int r = 0; changed && r < PQntuples(res); r++) {
        if (put_row(live->ix, res, r) != 0) {
            give_up(live);
            wake(live, false);
            return;
        }
    }
    snprintf(live->epoch, sizeof(live->epoch), "%s", epoch);
    snprintf(live->dir_epoch, sizeof(live->dir_epoch), "%s", dn);
    live->gen = live->busy_gen;
    live->refreshed_ms = uv_now(live->node->loop);
    live->st.entries = dir_index_count(live->ix);
    live->st.bytes = dir_index_bytes(live->ix);
    if (full) {
        live->st.reloads++;
        log_event(LOG_INFO, "dir_index_loaded",
                  json_pack("{s:I, s:b}", "services", (json_int_t)live->st.entries, "byte_order",
                            bytewise));
    } else if (changed) {
        live->st.refreshes++;
    }
    wake(live, true);
}

static void start_query(dir_live_t *live, bool full)
{
    if (live->busy || live->off)
        return;
    char since[24];
    snprintf(since, sizeof(since), "%lld",
             full || !live->ix ? 0ll : (long long)dir_index_last_seq(live->ix));
    live->busy = true;
    live->loading = full || !live->ix;
    live->busy_gen = live->node->data_generation;
    const char *params[1] = {since};
    if (db_query(live->node->db, refresh_sql, 1, params, on_refreshed, live, NULL) != 0) {
        live->busy = live->loading = false;
        wake(live, false);
    }
}

/* ---- the node's ---- */

static dir_live_t *live_of(node_t *node)
{
    if (!node->dir_live) {
        dir_live_t *live = calloc(1, sizeof(*live));
        if (!live)
            abort();
        live->node = node;
        live->searches = dir_search_new();
        live->off =
            strcmp(node->cfg.directory_index ? node->cfg.directory_index : "on", "off") == 0;
        node->dir_live = live;
    }
    return node->dir_live;
}

void dir_index_start(node_t *node)
{
    dir_live_t *live = live_of(node);
    if (!live->ix && !live->busy)
        start_query(live, true);
}

void dir_index_stop(node_t *node)
{
    dir_live_t *live = node->dir_live;
    if (!live)
        return;
    dir_index_free(live->ix);
    dir_search_free(live->searches);
    free(live);
    node->dir_live = NULL;
}

void dir_index_stats(const node_t *node, dir_index_stats_t *out)
{
    const dir_live_t *live = node->dir_live;
    memset(out, 0, sizeof(*out));
    if (!live)
        return;
    *out = live->st;
    out->ready = live->ix != NULL;
}

int dir_index_list(req_t *req, const dir_filter_t *f, dir_list_t what, const dir_view_t *view,
                   dir_rows_cb cb, void *ctx, void (*free_ctx)(void *))
{
    if (what != DIR_LIST_SERVICES && what != DIR_LIST_SALS) {
        if (ctx && free_ctx)
            free_ctx(ctx);
        return TR_E_INVAL;
    }
    ask_t *a = calloc(1, sizeof(*a));
    if (!a)
        abort();
    node_t *node = req->conn->node;
    *a = (ask_t){.req = req,
                 .live = live_of(node),
                 .f = *f,
                 .what = what,
                 .has_org = view->org && view->org[0],
                 .public_view = view->public_view,
                 .oruk_items = view->oruk_items,
                 .gen = node->data_generation,
                 .cb = cb,
                 .ctx = ctx,
                 .free_ctx = free_ctx};
    if (a->has_org)
        snprintf(a->org, sizeof(a->org), "%s", view->org);
    return proceed(a);
}
