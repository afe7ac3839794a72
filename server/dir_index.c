/* The directory index: visible services' filter fields in a compact array,
 * code strings interned to small integers, so that a listing is a linear
 * scan of integer compares (tens of nanoseconds a service) instead of a
 * PostgreSQL query evaluating every match. Same semantics as add_filters()
 * and dir_query_build() of dir_query.c, which stay the reference. */
#include "dir_index.h"
#include "dir_doc.h"
#include "dir_geo.h"
#include "dir_select.h"
#include "tr_error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* What malloc keeps beside each allocation, counted against max_bytes so
 * that the limit is near what the process really holds. */
#define ALLOC_OVERHEAD 16

typedef struct {
    char *sal_id; /* NULL for an area */
    bool by_area, has_geo;
    double lng, lat;
    double cos_lat; /* cos(radians(lat)), the same float8 every time: kept */
    bool has_sal;   /* its object found in the body: [sal_off, +sal_len) of it */
    uint32_t sal_off, sal_len;
} place_t;

typedef struct {
    char *id, *origin, *name;
    int64_t seq, stored_us;
    int32_t origin_k, org_k; /* interned; org_k -1: no organisation */
    bool live, audience_null;
    int16_t min_age, max_age; /* -1 NULL */
    int8_t taking, self;      /* 1, 0, -1 NULL */
    int32_t *vals;            /* every list's interned codes, one after another */
    uint16_t n[DIR_L_COUNT_];
    dir_sched_t *scheds;
    int n_scheds;
    place_t *places;
    int n_places;
    uint32_t rank; /* position in the (name, id) order */
    uint32_t *lex; /* its lexemes' numbers in ix->fts */
    uint32_t n_lex;
    /* The kept text, one allocation: received_at, NUL, the body, NUL, the
     * ORUK list item, NUL. */
    char *doc;
    uint32_t body_off, body_len;
    uint32_t sum_off, sum_len; /* sum_off 0: no list item kept */
    size_t bytes;              /* counted against max_bytes */
} entry_t;

struct dir_index {
    size_t max_entries;
    size_t max_bytes, bytes;
    bool over_bytes; /* the last refusal was for max_bytes */
    entry_t *e;
    size_t n, cap, live;
    int64_t last_seq;
    /* (id, origin) -> entry, open addressing, -1 empty; never deleted from:
     * a dropped entry stays (not live) and a later put revives it. */
    int32_t *keys;
    size_t keys_cap;
    /* interned strings -> small integers */
    char **strs;
    size_t n_strs, strs_cap;
    int32_t *dict;
    size_t dict_cap;
    uint32_t *order;   /* entries in (name, id) order */
    bool dirty;        /* order must be sorted again */
    bool db_order;     /* order is the database's, as put */
    dir_fts_t *fts;    /* the lexemes' posting lists, by entry position */
    dir_geo_set_t geo; /* every placed point, by latitude; rebuilt when geo_dirty */
    bool geo_dirty;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

/* FNV-1a over a string and, optionally, a second one after a separator. */
static uint64_t hash2(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ull;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 1099511628211ull;
    if (b) {
        h = (h ^ 0x1f) * 1099511628211ull;
        for (; *b; b++)
            h = (h ^ (unsigned char)*b) * 1099511628211ull;
    }
    return h;
}

/* ---- interning ---- */

static void dict_grow(dir_index_t *ix)
{
    size_t cap = ix->dict_cap ? ix->dict_cap * 2 : 256;
    int32_t *d = xrealloc(NULL, cap * sizeof(*d));
    for (size_t i = 0; i < cap; i++)
        d[i] = -1;
    for (size_t k = 0; k < ix->n_strs; k++) {
        size_t i = hash2(ix->strs[k], NULL) & (cap - 1);
        while (d[i] >= 0)
            i = (i + 1) & (cap - 1);
        d[i] = (int32_t)k;
    }
    free(ix->dict);
    ix->dict = d;
    ix->dict_cap = cap;
}

/* s's number; -1 when not known and create is false. */
static int32_t intern(dir_index_t *ix, const char *s, bool create)
{
    if (!ix->dict_cap || (create && (ix->n_strs + 1) * 2 > ix->dict_cap))
        dict_grow(ix);
    size_t i = hash2(s, NULL) & (ix->dict_cap - 1);
    for (; ix->dict[i] >= 0; i = (i + 1) & (ix->dict_cap - 1))
        if (strcmp(ix->strs[ix->dict[i]], s) == 0)
            return ix->dict[i];
    if (!create)
        return -1;
    if (ix->n_strs == ix->strs_cap) {
        ix->strs_cap = ix->strs_cap ? ix->strs_cap * 2 : 256;
        ix->strs = xrealloc(ix->strs, ix->strs_cap * sizeof(*ix->strs));
    }
    ix->strs[ix->n_strs] = xstrdup(s);
    ix->dict[i] = (int32_t)ix->n_strs;
    return (int32_t)ix->n_strs++;
}

/* ---- entries ---- */

static void keys_grow(dir_index_t *ix)
{
    size_t cap = ix->keys_cap ? ix->keys_cap * 2 : 1024;
    int32_t *k = xrealloc(NULL, cap * sizeof(*k));
    for (size_t i = 0; i < cap; i++)
        k[i] = -1;
    for (size_t j = 0; j < ix->n; j++) {
        size_t i = hash2(ix->e[j].id, ix->e[j].origin) & (cap - 1);
        while (k[i] >= 0)
            i = (i + 1) & (cap - 1);
        k[i] = (int32_t)j;
    }
    free(ix->keys);
    ix->keys = k;
    ix->keys_cap = cap;
}

/* The slot of id/origin in keys: holding its entry, or the empty one where
 * it would go. */
static size_t key_slot(const dir_index_t *ix, const char *id, const char *origin)
{
    size_t i = hash2(id, origin) & (ix->keys_cap - 1);
    for (; ix->keys[i] >= 0; i = (i + 1) & (ix->keys_cap - 1)) {
        const entry_t *e = &ix->e[ix->keys[i]];
        if (strcmp(e->id, id) == 0 && strcmp(e->origin, origin) == 0)
            break;
    }
    return i;
}

/* What an entry holds once dropped: itself and its key strings. */
static size_t bare_bytes(const char *id, const char *origin, const char *name)
{
    return sizeof(entry_t) + 3 * ALLOC_OVERHEAD + strlen(id) + strlen(origin) +
           strlen(name ? name : "") + 3;
}

/* What entry_fill will hold for r. */
static size_t row_bytes(const dir_row_t *r)
{
    size_t b = bare_bytes(r->id, r->origin, r->name), vals = 0;
    for (int l = 0; l < DIR_L_COUNT_; l++)
        vals += (size_t)r->lists[l].n;
    b += vals * sizeof(int32_t) + ALLOC_OVERHEAD;
    b += (size_t)r->n_scheds * sizeof(dir_sched_t) + ALLOC_OVERHEAD;
    b += (size_t)r->n_places * sizeof(place_t) + ALLOC_OVERHEAD;
    for (int i = 0; i < r->n_places; i++)
        if (r->places[i].sal_id)
            b += strlen(r->places[i].sal_id) + 1 + ALLOC_OVERHEAD;
    b += strlen(r->received_at ? r->received_at : "") + r->body_len + 2 + ALLOC_OVERHEAD;
    b += r->summary ? r->summary_len + 1 : 0;
    /* The lexemes: a number in the entry and a document in a posting list
     * each, 8 bytes, never more than the tsvector's text ('x':1 a lexeme). */
    b += strlen(r->search ? r->search : "") + ALLOC_OVERHEAD;
    return b;
}

/* Free what a listing reads of e (its filter fields and kept text), keeping
 * its key (id, origin) and name for the key table and the order. */
static void entry_release(dir_index_t *ix, entry_t *e)
{
    if (ix->fts) /* NULL while the whole index is freed */
        dir_fts_remove(ix->fts, (uint32_t)(e - ix->e), e->lex, e->n_lex);
    free(e->lex);
    e->lex = NULL;
    e->n_lex = 0;
    free(e->vals);
    free(e->scheds);
    for (int i = 0; i < e->n_places; i++)
        free(e->places[i].sal_id);
    free(e->places);
    free(e->doc);
    e->vals = NULL;
    e->scheds = NULL;
    e->places = NULL;
    e->doc = NULL;
    memset(e->n, 0, sizeof(e->n));
    e->n_scheds = e->n_places = 0;
    e->body_off = e->body_len = e->sum_off = e->sum_len = 0;
    size_t bare = bare_bytes(e->id, e->origin, e->name);
    ix->bytes -= e->bytes - bare;
    e->bytes = bare;
}

static void entry_clear(dir_index_t *ix, entry_t *e)
{
    entry_release(ix, e);
    ix->bytes -= e->bytes;
    free(e->id);
    free(e->origin);
    free(e->name);
    memset(e, 0, sizeof(*e));
}

dir_index_t *dir_index_new(size_t max_entries, size_t max_bytes)
{
    dir_index_t *ix = calloc(1, sizeof(*ix));
    if (!ix)
        abort();
    ix->max_entries = max_entries;
    ix->max_bytes = max_bytes;
    keys_grow(ix);
    dict_grow(ix);
    ix->fts = dir_fts_new();
    return ix;
}

void dir_index_free(dir_index_t *ix)
{
    if (!ix)
        return;
    /* The posting lists go first: taking each entry out of them one by one
     * would cost the square of the services. */
    dir_fts_free(ix->fts);
    ix->fts = NULL;
    for (size_t i = 0; i < ix->n; i++)
        entry_clear(ix, &ix->e[i]);
    for (size_t i = 0; i < ix->n_strs; i++)
        free(ix->strs[i]);
    free(ix->e);
    free(ix->keys);
    free(ix->strs);
    free(ix->dict);
    free(ix->order);
    dir_geo_set_free(&ix->geo);
    free(ix);
}

size_t dir_index_count(const dir_index_t *ix)
{
    return ix->live;
}

int64_t dir_index_last_seq(const dir_index_t *ix)
{
    return ix->last_seq;
}

size_t dir_index_bytes(const dir_index_t *ix)
{
    return ix->bytes;
}

bool dir_index_fts_ok(const dir_index_t *ix)
{
    return dir_fts_ok(ix->fts);
}

bool dir_index_over_bytes(const dir_index_t *ix)
{
    return ix->over_bytes;
}

void dir_index_set_db_order(dir_index_t *ix, bool db_order)
{
    ix->db_order = db_order;
}

bool dir_index_db_order(const dir_index_t *ix)
{
    return ix->db_order;
}

/* Service-at-locations by sal_id in byte order (collation C), areas after
 * them (they are never listed, only measured). */
static int cmp_place(const void *a, const void *b)
{
    const place_t *x = a, *y = b;
    if (x->by_area != y->by_area)
        return x->by_area ? 1 : -1;
    if (!x->sal_id || !y->sal_id)
        return (x->sal_id == NULL) - (y->sal_id == NULL);
    return strcmp(x->sal_id, y->sal_id);
}

/* The kept text: received_at and the body in one allocation, and where
 * each service-at-location's object lies in the body. */
static void fill_doc(entry_t *e, const dir_row_t *r)
{
    const char *at = r->received_at ? r->received_at : "";
    size_t at_len = strlen(at);
    size_t sum_len = r->summary ? r->summary_len + 1 : 0;
    e->doc = xrealloc(NULL, at_len + r->body_len + 2 + sum_len);
    memcpy(e->doc, at, at_len + 1);
    if (r->body_len)
        memcpy(e->doc + at_len + 1, r->body, r->body_len);
    e->doc[at_len + 1 + r->body_len] = '\0';
    e->body_off = (uint32_t)(at_len + 1);
    e->body_len = (uint32_t)r->body_len;
    e->sum_off = e->sum_len = 0;
    if (r->summary) {
        e->sum_off = (uint32_t)(at_len + r->body_len + 2);
        e->sum_len = (uint32_t)r->summary_len;
        memcpy(e->doc + e->sum_off, r->summary, r->summary_len);
        e->doc[e->sum_off + r->summary_len] = '\0';
    }
    for (int i = 0; i < e->n_places; i++) {
        place_t *p = &e->places[i];
        size_t off, len;
        if (p->sal_id && !p->by_area &&
            dir_doc_find_sal(e->doc + e->body_off, e->body_len, p->sal_id, &off, &len)) {
            p->has_sal = true;
            p->sal_off = (uint32_t)off;
            p->sal_len = (uint32_t)len;
        }
    }
}

static void entry_fill(dir_index_t *ix, entry_t *e, const dir_row_t *r, size_t bytes)
{
    e->id = xstrdup(r->id);
    e->origin = xstrdup(r->origin);
    e->name = xstrdup(r->name);
    e->seq = r->seq;
    e->stored_us = r->stored_us;
    e->origin_k = intern(ix, r->origin, true);
    e->org_k = r->organization_id ? intern(ix, r->organization_id, true) : -1;
    e->live = true;
    e->audience_null = r->audience_null;
    e->min_age = (int16_t)r->min_age;
    e->max_age = (int16_t)r->max_age;
    e->taking = (int8_t)r->taking_referrals;
    e->self = (int8_t)r->self_referral;
    size_t total = 0;
    for (int l = 0; l < DIR_L_COUNT_; l++)
        total += (size_t)r->lists[l].n;
    e->vals = xrealloc(NULL, total * sizeof(*e->vals));
    size_t k = 0;
    for (int l = 0; l < DIR_L_COUNT_; l++) {
        e->n[l] = (uint16_t)r->lists[l].n;
        for (int i = 0; i < r->lists[l].n; i++)
            e->vals[k++] = intern(ix, r->lists[l].v[i], true);
    }
    e->n_scheds = r->n_scheds;
    e->scheds = xrealloc(NULL, (size_t)r->n_scheds * sizeof(*e->scheds));
    if (r->n_scheds)
        memcpy(e->scheds, r->scheds, (size_t)r->n_scheds * sizeof(*e->scheds));
    e->n_places = r->n_places;
    e->places = xrealloc(NULL, (size_t)r->n_places * sizeof(*e->places));
    for (int i = 0; i < r->n_places; i++) {
        const dir_place_t *p = &r->places[i];
        e->places[i] =
            (place_t){p->sal_id ? xstrdup(p->sal_id) : NULL, p->by_area, p->has_geo, p->lng, p->lat,
                      cos(p->lat * RADIANS_PER_DEGREE),      false,      0,          0};
    }
    if (!ix->db_order && r->n_places > 1)
        qsort(e->places, (size_t)r->n_places, sizeof(*e->places), cmp_place);
    fill_doc(e, r);
    dir_fts_add(ix->fts, (uint32_t)(e - ix->e), r->search, &e->lex, &e->n_lex);
    e->bytes = bytes;
    ix->bytes += bytes;
}

int dir_index_put(dir_index_t *ix, const dir_row_t *row)
{
    if ((ix->n + 1) * 2 > ix->keys_cap)
        keys_grow(ix);
    size_t slot = key_slot(ix, row->id, row->origin);
    size_t bytes = row_bytes(row);
    if (ix->keys[slot] >= 0) {
        entry_t *e = &ix->e[ix->keys[slot]];
        if (ix->bytes - e->bytes + bytes > ix->max_bytes) {
            ix->over_bytes = true;
            return TR_E_LIMIT;
        }
        if (row->seq > ix->last_seq)
            ix->last_seq = row->seq;
        bool was_live = e->live;
        uint32_t rank = e->rank;
        entry_clear(ix, e);
        entry_fill(ix, e, row, bytes);
        e->rank = rank;
        if (!was_live)
            ix->live++;
        ix->dirty = ix->geo_dirty = true;
        return 0;
    }
    if (ix->live >= ix->max_entries)
        return TR_E_LIMIT;
    if (ix->bytes + bytes > ix->max_bytes) {
        ix->over_bytes = true;
        return TR_E_LIMIT;
    }
    if (row->seq > ix->last_seq)
        ix->last_seq = row->seq;
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? ix->cap * 2 : 1024;
        ix->e = xrealloc(ix->e, ix->cap * sizeof(*ix->e));
        ix->order = xrealloc(ix->order, ix->cap * sizeof(*ix->order));
    }
    entry_t *e = &ix->e[ix->n];
    memset(e, 0, sizeof(*e));
    entry_fill(ix, e, row, bytes);
    e->rank = (uint32_t)ix->n;
    ix->order[ix->n] = (uint32_t)ix->n;
    ix->keys[slot] = (int32_t)ix->n;
    ix->n++;
    ix->live++;
    ix->dirty = ix->geo_dirty = true;
    return 0;
}

void dir_index_drop(dir_index_t *ix, const char *id, const char *origin)
{
    size_t slot = key_slot(ix, id, origin);
    if (ix->keys[slot] < 0 || !ix->e[ix->keys[slot]].live)
        return;
    entry_t *e = &ix->e[ix->keys[slot]];
    e->live = false;
    entry_release(ix, e);
    ix->live--;
    ix->geo_dirty = true;
}

/* ---- order ---- */

static const dir_index_t *sort_ix; /* qsort has no context argument */

/* name, then id: byte order, as PostgreSQL's collation C (memcmp). */
static int cmp_order(const void *a, const void *b)
{
    const entry_t *x = &sort_ix->e[*(const uint32_t *)a], *y = &sort_ix->e[*(const uint32_t *)b];
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->id, y->id);
}

static void ensure_order(dir_index_t *ix)
{
    if (!ix->dirty)
        return;
    if (!ix->db_order) {
        sort_ix = ix;
        qsort(ix->order, ix->n, sizeof(*ix->order), cmp_order);
        sort_ix = NULL;
    }
    for (size_t i = 0; i < ix->n; i++)
        ix->e[ix->order[i]].rank = (uint32_t)i;
    ix->dirty = false;
}

/* The points by latitude, after any change (counted in bytes). */
static void ensure_geo(dir_index_t *ix)
{
    if (!ix->geo_dirty)
        return;
    ix->bytes -= ix->geo.cap * sizeof(*ix->geo.pts);
    ix->geo.n = 0;
    for (size_t i = 0; i < ix->n; i++)
        for (int p = 0; ix->e[i].live && p < ix->e[i].n_places; p++)
            if (ix->e[i].places[p].has_geo)
                dir_geo_set_add(&ix->geo, ix->e[i].places[p].lat, ix->e[i].places[p].lng,
                                (uint32_t)i);
    dir_geo_set_sort(&ix->geo);
    ix->bytes += ix->geo.cap * sizeof(*ix->geo.pts);
    ix->geo_dirty = false;
}

/* ---- matching ---- */

/* A listing's filter as interned numbers: -2 for "not asked", -1 for a
 * value no service holds (nothing matches). */
typedef struct {
    int32_t list_want[DIR_L_COUNT_];
    int32_t org, view_org, star, all, gender;
    int lo, hi;
    int day;
    int64_t start_us, end_us;
    bool sched;
    const uint64_t *bits; /* the tsquery's matches by entry position, or NULL */
    const entry_t *base;  /* the entry at position 0 */
} want_t;

static int64_t time_us(const char *hhmmss)
{
    return ((int64_t)atoi(hhmmss) * 3600 + (int64_t)atoi(hhmmss + 3) * 60 + atoi(hhmmss + 6)) *
           1000000;
}

static int32_t want_code(dir_index_t *ix, const char *v)
{
    return v[0] ? intern(ix, v, false) : -2;
}

/* false when no service can match (a value no one holds). */
static bool want_init(dir_index_t *ix, const dir_ask_t *a, want_t *w)
{
    static const char *const days[] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};
    const dir_filter_t *f = a->f;
    for (int l = 0; l < DIR_L_COUNT_; l++)
        w->list_want[l] = -2;
    w->list_want[DIR_L_TERMS] = want_code(ix, f->taxonomy_term_id);
    w->list_want[DIR_L_TAX_IDS] = want_code(ix, f->taxonomy_id);
    w->list_want[DIR_L_NEEDS] = want_code(ix, f->need);
    w->list_want[DIR_L_RISKS] = want_code(ix, f->risk_level);
    w->list_want[DIR_L_ACCESS] = want_code(ix, f->accessibility);
    w->list_want[DIR_L_DISTRICTS] = want_code(ix, f->district);
    w->org = want_code(ix, f->organization_id);
    bool none = w->org == -1;
    for (int l = 0; l < DIR_L_COUNT_; l++)
        none = none || w->list_want[l] == -1;
    const char *vo = a->view && a->view->org ? a->view->org : "";
    /* An organisation no service names (-1) still sees the consortium's and
     * the audience-less services. */
    w->view_org = vo[0] ? intern(ix, vo, false) : -2;
    w->star = intern(ix, "*", false);
    w->all = intern(ix, "all", false);
    w->gender = f->for_gender[0] ? intern(ix, f->for_gender, false) : -2;
    w->lo = f->minimum_age >= 0 ? f->minimum_age : 0;
    w->hi = f->maximum_age >= 0 ? f->maximum_age : 130;
    w->sched = f->day[0] || f->start_time[0] || f->end_time[0];
    w->day = -2;
    for (int d = 0; f->day[0] && d < 7; d++)
        if (strcmp(f->day, days[d]) == 0)
            w->day = d;
    w->start_us = f->start_time[0] ? time_us(f->start_time) : -1;
    w->end_us = f->end_time[0] ? time_us(f->end_time) : -1;
    return !none;
}

static bool has_code(const entry_t *e, int l, int32_t code)
{
    size_t off = 0;
    for (int i = 0; i < l; i++)
        off += e->n[i];
    for (size_t i = 0; i < e->n[l]; i++)
        if (e->vals[off + i] == code)
            return true;
    return false;
}

static bool cmp_seq(const int64_t *v, size_t n, int64_t seq)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == seq;
}

/* add_filters() of dir_query.c for one service. */
static bool match(const entry_t *e, const dir_ask_t *a, const want_t *w)
{
    const dir_filter_t *f = a->f;
    if (!e->live)
        return false;
    if (w->view_org != -2 &&
        !(e->origin_k == w->view_org || e->audience_null ||
          has_code(e, DIR_L_AUDIENCE, w->view_org) || has_code(e, DIR_L_AUDIENCE, w->star)))
        return false;
    for (int l = DIR_L_NEEDS; l < DIR_L_GENDERS; l++)
        if (w->list_want[l] >= 0 && !has_code(e, l, w->list_want[l]))
            return false;
    if (w->org >= 0 && e->org_k != w->org)
        return false;
    if (a->has_modified_after && e->stored_us < a->modified_after_us)
        return false;
    /* a service for everyone is for each gender too */
    if (w->gender != -2 && !(has_code(e, DIR_L_GENDERS, w->gender) ||
                             (w->all >= 0 && has_code(e, DIR_L_GENDERS, w->all))))
        return false;
    if ((f->minimum_age >= 0 || f->maximum_age >= 0) &&
        !((e->min_age >= 0 ? e->min_age : 0) <= w->hi &&
          (e->max_age >= 0 ? e->max_age : 130) >= w->lo))
        return false;
    /* A NULL never equals true or false. */
    if (f->taking_referrals >= 0 && e->taking != f->taking_referrals)
        return false;
    if (f->self_referral >= 0 && e->self != f->self_referral)
        return false;
    if (w->sched) { /* one schedule must meet all three */
        bool any = false;
        for (int i = 0; i < e->n_scheds && !any; i++) {
            const dir_sched_t *s = &e->scheds[i];
            any = (!f->day[0] || s->day == w->day) &&
                  (w->start_us < 0 || (s->opens_us >= 0 && s->opens_us >= w->start_us)) &&
                  (w->end_us < 0 || (s->closes_us >= 0 && s->closes_us <= w->end_us));
        }
        if (!any)
            return false;
    }
    if (w->bits) {
        size_t i = (size_t)(e - w->base);
        if (!(w->bits[i / 64] >> (i % 64) & 1))
            return false;
    } else if (a->search && !cmp_seq(a->search_seqs, a->n_search, e->seq)) {
        return false;
    }
    return true;
}

/* ---- distance of a row ---- */

static bool place_dist(const place_t *p, const dir_centre_t *c, double *d)
{
    if (!p->has_geo)
        return false;
    if (c->radius &&
        (p->lng < c->lng_lo || p->lng > c->lng_hi || p->lat < c->lat_lo || p->lat > c->lat_hi))
        return false;
    *d = dir_distance_cos(p->lng, p->lat, p->cos_lat, c->lng, c->lat, c->cos_lat);
    return true;
}

/* The least distance of the places accepted by keep (sal NULL: every place;
 * else the service-at-location's own; by_area: the areas). */
static bool min_dist(const entry_t *e, const dir_centre_t *c, const char *sal, bool areas,
                     double *out)
{
    bool any = false;
    for (int i = 0; i < e->n_places; i++) {
        const place_t *p = &e->places[i];
        if (areas && !p->by_area)
            continue;
        if (sal && (p->by_area || !p->sal_id || strcmp(p->sal_id, sal) != 0))
            continue;
        double d;
        if (place_dist(p, c, &d) && (!any || d < *out)) {
            *out = d;
            any = true;
        }
    }
    return any;
}

/* ---- the page ---- */

typedef struct {
    uint32_t entry, rank;
    int32_t place; /* -1: the service itself */
    bool has_dist;
    double dist;
} cand_t;

/* dist NULLS LAST, then name, id (the rank), then sal_id (places are in
 * sal_id order within a service). */
static int cmp_cand(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->has_dist != y->has_dist)
        return x->has_dist ? -1 : 1;
    if (x->has_dist && x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return (x->place > y->place) - (x->place < y->place);
}

static void add_hit(const dir_index_t *ix, dir_page_t *out, const cand_t *c)
{
    const entry_t *e = &ix->e[c->entry];
    const place_t *p = c->place >= 0 ? &e->places[c->place] : NULL;
    const char *body = e->doc + e->body_off;
    out->hits[out->n++] = (dir_hit_t){e->id,
                                      e->origin,
                                      p ? p->sal_id : NULL,
                                      c->has_dist,
                                      c->dist,
                                      e->doc,
                                      body,
                                      e->body_len,
                                      p && p->has_sal ? body + p->sal_off : NULL,
                                      p && p->has_sal ? p->sal_len : 0,
                                      e->sum_off ? e->doc + e->sum_off : NULL,
                                      e->sum_len};
}

int dir_index_page(dir_index_t *ix, const dir_ask_t *a, dir_page_t *out)
{
    memset(out, 0, sizeof(*out));
    ensure_order(ix);
    want_t w;
    const dir_filter_t *f = a->f;
    int64_t off = (f->page - 1) * f->per_page, end = off + f->per_page;
    out->hits = xrealloc(NULL, (size_t)f->per_page * sizeof(*out->hits));
    if (!want_init(ix, a, &w))
        return 0;
    uint64_t *bits = NULL;
    w.bits = NULL;
    w.base = ix->e;
    if (a->tsq) {
        bits = xrealloc(NULL, (ix->n + 63) / 64 * sizeof(*bits));
        dir_tsq_eval(ix->fts, a->tsq, ix->n, bits);
        w.bits = bits;
    }
    bool sals = a->what == DIR_LIST_SALS;
    if (!a->has_centre) {
        /* The order is kept: the page is the matches from off on. */
        int64_t row = 0;
        for (size_t r = 0; r < ix->n; r++) {
            uint32_t i = ix->order[r];
            const entry_t *e = &ix->e[i];
            if (!match(e, a, &w))
                continue;
            for (int p = sals ? 0 : -1; p < (sals ? e->n_places : 0); p++) {
                if (p >= 0 && e->places[p].by_area)
                    continue;
                if (row >= off && row < end)
                    add_hit(ix, out, &(cand_t){i, e->rank, p, false, 0});
                row++;
            }
        }
        out->total = row;
        free(bits);
        return 0;
    }
    dir_centre_t c;
    dir_centre_init(&c, a->lng, a->lat, a->f->proximity);
    cand_t *cs = NULL;
    size_t n = 0, cap = 0;
    /* With a radius only the services with a point in its box can be
     * listed: those alone are matched and measured. */
    uint64_t *box = NULL;
    if (c.radius) {
        ensure_geo(ix);
        box = xrealloc(NULL, (ix->n + 63) / 64 * sizeof(*box));
        dir_geo_set_box(&ix->geo, &c, ix->n, box);
    }
    for (size_t i = 0; i < ix->n; i++) {
        if (box && !box[i / 64]) { /* none in these 64 */
            i |= 63;
            continue;
        }
        const entry_t *e = &ix->e[i];
        if ((box && !(box[i / 64] >> (i % 64) & 1)) || !match(e, a, &w))
            continue;
        for (int p = sals ? 0 : -1; p < (sals ? e->n_places : 0); p++) {
            cand_t k = {(uint32_t)i, e->rank, p, false, 0};
            if (p < 0)
                k.has_dist = min_dist(e, &c, NULL, false, &k.dist);
            else if (e->places[p].by_area)
                continue;
            else if (e->places[p].has_geo) /* its own point, if it counts */
                k.has_dist =
                    e->places[p].sal_id && min_dist(e, &c, e->places[p].sal_id, false, &k.dist);
            else /* no point of its own: its service's nearest area */
                k.has_dist = min_dist(e, &c, NULL, true, &k.dist);
            if (c.radius && !(k.has_dist && k.dist <= (double)f->proximity))
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                cs = xrealloc(cs, cap * sizeof(*cs));
            }
            cs[n++] = k;
        }
    }
    /* Only the first `end` in order are sorted: a page near the start
     * needs the nearest few, not every candidate in the radius ordered. */
    size_t keep = end < (int64_t)n ? (size_t)end : n;
    dir_select_first(cs, n, sizeof(*cs), keep, cmp_cand);
    if (keep)
        qsort(cs, keep, sizeof(*cs), cmp_cand);
    for (int64_t r = off; r < end && r < (int64_t)n; r++)
        add_hit(ix, out, &cs[r]);
    out->total = (int64_t)n;
    free(cs);
    free(bits);
    free(box);
    return 0;
}

void dir_page_free(dir_page_t *p)
{
    free(p->hits);
    memset(p, 0, sizeof(*p));
}
