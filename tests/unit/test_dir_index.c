/* dir_index: the in-memory directory listing on a hand-built index with
 * known answers: each filter's rule (audience, codes, the "all" gender, age
 * overlap with 0/130, referrals, one schedule meeting day and times, search
 * keys, received on or after), the order (name, id, sal_id; distance first,
 * NULLS LAST), paging with the total, distances and the proximity radius;
 * the kept documents' life (replaced, dropped, counted against the memory
 * limit), a service-at-location found in a body's text, and a page written
 * as the SQL's items array (dir_doc.c). */
#include "dir_doc.h"
#include "dir_index.h"
#include "dir_search.h"
#include "tr_error.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define ID(n) "00000000-0000-4000-8000-00000000000" #n

static const char *const consortium[] = {"*"};
static const char *const only_b[] = {"org-b"};
static const char *const need_food[] = {"food"};
static const char *const need_both[] = {"food", "housing"};
static const char *const g_all[] = {"all"};
static const char *const g_women[] = {"women"};
static const char *const dist_ls6[] = {"LS6"};

static dir_row_t row(const char *id, const char *origin, const char *name, int64_t seq)
{
    dir_row_t r;
    memset(&r, 0, sizeof(r));
    r.id = id;
    r.origin = origin;
    r.name = name;
    r.seq = seq;
    r.min_age = r.max_age = -1;
    r.taking_referrals = r.self_referral = -1;
    r.stored_us = seq * 1000000;
    r.lists[DIR_L_AUDIENCE] = (dir_strs_t){consortium, 1};
    return r;
}

/* Five services of three origins:
 *   1 "Alpha" org-a: food, women, 18-25, Monday 09:00-12:00, places p2 (0,0.5) and p1 (0,1)
 *   2 "Beta" org-a: food+housing, all, taking referrals, area LS6 at (0,0.2)
 *   3 "alpha" org-b: audience org-b only, no ages, LS6 district, no place
 *   4 "Alpha" org-c: audience NULL, self referral false, place p9 unplaced
 *   5 "Gamma" org-a: shadowed-like: put then dropped */
static dir_index_t *build(void)
{
    dir_index_t *ix = dir_index_new(100, SIZE_MAX);
    dir_row_t r = row(ID(1), "org-a", "Alpha", 10);
    r.lists[DIR_L_NEEDS] = (dir_strs_t){need_food, 1};
    r.lists[DIR_L_GENDERS] = (dir_strs_t){g_women, 1};
    r.min_age = 18;
    r.max_age = 25;
    dir_sched_t s1[] = {{0, 9 * 3600000000ll, 12 * 3600000000ll}, {2, -1, -1}};
    r.scheds = s1;
    r.n_scheds = 2;
    dir_place_t p1[] = {{"p2", false, true, 0, 0.5}, {"p1", false, true, 0, 1}};
    r.places = p1;
    r.n_places = 2;
    assert_int_equal(dir_index_put(ix, &r), 0);

    r = row(ID(2), "org-a", "Beta", 11);
    r.lists[DIR_L_NEEDS] = (dir_strs_t){need_both, 2};
    r.lists[DIR_L_GENDERS] = (dir_strs_t){g_all, 1};
    r.taking_referrals = 1;
    dir_place_t p2[] = {{NULL, true, true, 0, 0.2}};
    r.places = p2;
    r.n_places = 1;
    assert_int_equal(dir_index_put(ix, &r), 0);

    r = row(ID(3), "org-b", "alpha", 12);
    r.lists[DIR_L_AUDIENCE] = (dir_strs_t){only_b, 1};
    r.lists[DIR_L_DISTRICTS] = (dir_strs_t){dist_ls6, 1};
    r.organization_id = ID(7);
    assert_int_equal(dir_index_put(ix, &r), 0);

    r = row(ID(4), "org-c", "Alpha", 13);
    r.audience_null = true;
    r.lists[DIR_L_AUDIENCE] = (dir_strs_t){NULL, 0};
    r.self_referral = 0;
    dir_place_t p4[] = {{"p9", false, false, 0, 0}};
    r.places = p4;
    r.n_places = 1;
    assert_int_equal(dir_index_put(ix, &r), 0);

    r = row(ID(5), "org-a", "Gamma", 14);
    assert_int_equal(dir_index_put(ix, &r), 0);
    dir_index_drop(ix, ID(5), "org-a");
    return ix;
}

static void filter(dir_filter_t *f)
{
    memset(f, 0, sizeof(*f));
    f->page = 1;
    f->per_page = 50;
    f->minimum_age = f->maximum_age = -1;
    f->taking_referrals = f->self_referral = -1;
}

/* The listing as "id-digit[/sal]" joined by spaces, and its total. */
static int64_t list(dir_index_t *ix, const dir_ask_t *a, char *out, size_t len)
{
    dir_page_t pg;
    assert_int_equal(dir_index_page(ix, a, &pg), 0);
    out[0] = '\0';
    for (size_t i = 0; i < pg.n; i++) {
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%s%c%s%s", i ? " " : "", pg.hits[i].id[35],
                 pg.hits[i].sal_id ? "/" : "", pg.hits[i].sal_id ? pg.hits[i].sal_id : "");
    }
    int64_t total = pg.total;
    dir_page_free(&pg);
    return total;
}

static void test_order_and_view(void **state)
{
    (void)state;
    dir_index_t *ix = build();
    assert_int_equal(dir_index_count(ix), 4);
    assert_int_equal(dir_index_last_seq(ix), 14);
    dir_filter_t f;
    filter(&f);
    dir_view_t all = {.org = NULL}, a_view = {.org = "org-a"}, b_view = {.org = "org-b"};
    dir_ask_t a = {.f = &f, .what = DIR_LIST_SERVICES, .view = &all};
    char got[256];
    /* Byte order: "Alpha" (ids 1 then 4) < "Beta" < "alpha". */
    assert_int_equal(list(ix, &a, got, sizeof(got)), 4);
    assert_string_equal(got, "1 4 2 3");
    /* org-a sees its own, the consortium's and the audience-less; not 3. */
    a.view = &a_view;
    assert_int_equal(list(ix, &a, got, sizeof(got)), 3);
    assert_string_equal(got, "1 4 2");
    a.view = &b_view;
    assert_int_equal(list(ix, &a, got, sizeof(got)), 4);
    /* Service-at-locations: one row each, by sal_id within a service. */
    a.view = &all;
    a.what = DIR_LIST_SALS;
    assert_int_equal(list(ix, &a, got, sizeof(got)), 3);
    assert_string_equal(got, "1/p1 1/p2 4/p9");
    dir_index_free(ix);
}

static void test_filters(void **state)
{
    (void)state;
    dir_index_t *ix = build();
    dir_filter_t f;
    dir_view_t all = {.org = NULL};
    dir_ask_t a = {.f = &f, .what = DIR_LIST_SERVICES, .view = &all};
    char got[256];
    filter(&f);
    strcpy(f.need, "food");
    assert_int_equal(list(ix, &a, got, sizeof(got)), 2);
    assert_string_equal(got, "1 2");
    strcpy(f.need, "cooking"); /* no service holds it */
    assert_int_equal(list(ix, &a, got, sizeof(got)), 0);
    filter(&f);
    strcpy(f.for_gender, "women"); /* and the services for all */
    assert_int_equal(list(ix, &a, got, sizeof(got)), 2);
    assert_string_equal(got, "1 2");
    strcpy(f.for_gender, "men");
    assert_int_equal(list(ix, &a, got, sizeof(got)), 1);
    assert_string_equal(got, "2");
    filter(&f);
    f.minimum_age = 26; /* 26-130 misses 18-25; no ages is 0-130 */
    assert_int_equal(list(ix, &a, got, sizeof(got)), 3);
    assert_string_equal(got, "4 2 3");
    f.minimum_age = -1;
    f.maximum_age = 18; /* 0-18 overlaps 18-25 at 18 */
    assert_int_equal(list(ix, &a, got, sizeof(got)), 4);
    filter(&f);
    f.taking_referrals = 1;
    assert_int_equal(list(ix, &a, got, sizeof(got)), 1);
    assert_string_equal(got, "2");
    f.taking_referrals = 0; /* NULL is neither */
    assert_int_equal(list(ix, &a, got, sizeof(got)), 0);
    filter(&f);
    f.self_referral = 0;
    assert_int_equal(list(ix, &a, got, sizeof(got)), 1);
    assert_string_equal(got, "4");
    filter(&f);
    strcpy(f.district, "LS6");
    assert_int_equal(list(ix, &a, got, sizeof(got)), 1);
    assert_string_equal(got, "3");
    filter(&f);
    strcpy(f.organization_id, ID(7));
    assert_int_equal(list(ix, &a, got, sizeof(got)), 1);
    assert_string_equal(got, "3");
    /* Schedules: one must meet all three. */
    filter(&f);
    strcpy(f.day, "MO");
    strcpy(f.start_time, "09:00:00");
    strcpy(f.end_time, "12:00:00");
    assert_int_equal(list(ix, &a, got, sizeof(got)), 1);
    assert_string_equal(got, "1");
    strcpy(f.start_time, "09:00:01");
    assert_int_equal(list(ix, &a, got, sizeof(got)), 0);
    filter(&f);
    strcpy(f.day, "WE"); /* a schedule with no times meets a day alone */
    assert_int_equal(list(ix, &a, got, sizeof(got)), 1);
    strcpy(f.end_time, "23:00:00"); /* but not a time */
    assert_int_equal(list(ix, &a, got, sizeof(got)), 0);
    /* Received on or after: stored_us is seq seconds. */
    filter(&f);
    strcpy(f.modified_after, "x");
    a.has_modified_after = true;
    a.modified_after_us = 12 * 1000000ll;
    assert_int_equal(list(ix, &a, got, sizeof(got)), 2);
    assert_string_equal(got, "4 3");
    a.has_modified_after = false;
    /* Search: the keys the database found (sorted seqs). */
    filter(&f);
    strcpy(f.search, "words");
    int64_t keys[] = {11, 13, 14};
    a.search = true;
    a.search_seqs = keys;
    a.n_search = 3;
    assert_int_equal(list(ix, &a, got, sizeof(got)), 2); /* 14 was dropped */
    assert_string_equal(got, "4 2");
    dir_index_free(ix);
}

static void test_paging_and_replace(void **state)
{
    (void)state;
    dir_index_t *ix = dir_index_new(30, SIZE_MAX);
    char id[37], name[16];
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof(id), "00000000-0000-4000-8000-0000000000%02d", i);
        snprintf(name, sizeof(name), "svc %02d", 24 - i);
        dir_row_t r = row(id, "o", name, i + 1);
        assert_int_equal(dir_index_put(ix, &r), 0);
    }
    dir_filter_t f;
    filter(&f);
    f.per_page = 10;
    f.page = 3;
    dir_view_t all = {.org = NULL};
    dir_ask_t a = {.f = &f, .what = DIR_LIST_SERVICES, .view = &all};
    dir_page_t pg;
    assert_int_equal(dir_index_page(ix, &a, &pg), 0);
    assert_int_equal(pg.total, 25);
    assert_int_equal(pg.n, 5); /* rows 20..24: names svc 20..24, ids 04..00 */
    assert_string_equal(pg.hits[0].id, "00000000-0000-4000-8000-000000000004");
    assert_string_equal(pg.hits[4].id, "00000000-0000-4000-8000-000000000000");
    dir_page_free(&pg);
    f.page = 4;
    assert_int_equal(dir_index_page(ix, &a, &pg), 0);
    assert_int_equal(pg.total, 25);
    assert_int_equal(pg.n, 0);
    dir_page_free(&pg);
    /* A higher version renamed moves in the order; the count stays. */
    dir_row_t r = row("00000000-0000-4000-8000-000000000000", "o", "aaa", 40);
    assert_int_equal(dir_index_put(ix, &r), 0);
    assert_int_equal(dir_index_count(ix), 25);
    assert_int_equal(dir_index_last_seq(ix), 40);
    f.page = 1;
    f.per_page = 1;
    assert_int_equal(dir_index_page(ix, &a, &pg), 0);
    assert_string_equal(pg.hits[0].id, "00000000-0000-4000-8000-000000000000");
    dir_page_free(&pg);
    /* The limit: past max_entries a new service is refused. */
    for (int i = 25; i < 30; i++) {
        snprintf(id, sizeof(id), "00000000-0000-4000-8000-0000000000%02d", i);
        dir_row_t x = row(id, "o", "x", 100 + i);
        assert_int_equal(dir_index_put(ix, &x), 0);
    }
    dir_row_t x = row("00000000-0000-4000-8000-000000000099", "o", "x", 200);
    assert_int_equal(dir_index_put(ix, &x), TR_E_LIMIT);
    dir_index_free(ix);
}

static void test_distance(void **state)
{
    (void)state;
    /* One degree of latitude on the 6371008.8 m sphere. */
    assert_true(fabs(dir_distance_m(0, 0, 0, 1) - 111195.08) < 0.01);
    assert_true(fabs(dir_distance_m(0, 1, 0, 0) - 111195.08) < 0.01);
    assert_true(dir_distance_m(-1.55, 53.8, -1.55, 53.8) == 0);
    /* Leeds to London, about 272 km. */
    double d = dir_distance_m(-1.5491, 53.8008, -0.1276, 51.5072);
    assert_true(d > 270000 && d < 274000);
}

static void test_near(void **state)
{
    (void)state;
    dir_index_t *ix = build();
    dir_filter_t f;
    filter(&f);
    f.has_point = true;
    dir_view_t all = {.org = NULL};
    dir_ask_t a = {.f = &f, .what = DIR_LIST_SERVICES, .view = &all, .has_centre = true};
    char got[256];
    /* From (0,0): 2 by its area at 0.2, 1 at 0.5; 4 and 3 unplaced last by name. */
    assert_int_equal(list(ix, &a, got, sizeof(got)), 4);
    assert_string_equal(got, "2 1 4 3");
    dir_page_t pg;
    assert_int_equal(dir_index_page(ix, &a, &pg), 0);
    assert_true(pg.hits[0].has_dist);
    assert_true(fabs(pg.hits[0].dist - 0.2 * 111195.08) < 0.01);
    assert_false(pg.hits[2].has_dist);
    dir_page_free(&pg);
    /* Within 60 km: only 2 (22 km); 1 is 55.6 km away: in too. */
    f.proximity = 60000;
    assert_int_equal(list(ix, &a, got, sizeof(got)), 2);
    assert_string_equal(got, "2 1");
    f.proximity = 50000;
    assert_int_equal(list(ix, &a, got, sizeof(got)), 1);
    assert_string_equal(got, "2");
    /* Service-at-locations by their own point; p9 has none and its service
     * no area: no distance, last. */
    f.proximity = 0;
    a.what = DIR_LIST_SALS;
    a.lat = 1.2;
    assert_int_equal(list(ix, &a, got, sizeof(got)), 3);
    assert_string_equal(got, "1/p1 1/p2 4/p9");
    f.proximity = 30000; /* p1 at 22 km, p2 at 78 km */
    assert_int_equal(list(ix, &a, got, sizeof(got)), 1);
    assert_string_equal(got, "1/p1");
    dir_index_free(ix);
}

/* Two service-at-locations, the second's object after a string holding
 * braces, brackets, quotes and a backslash, and a location whose own id is
 * the first's: only a top-level "id" of an element counts. */
static const char body_v1[] = "{\"id\": \"" ID(
    6) "\", \"name\": \"Six {[\\\"x\\\\\", \"service_at_locations\": "
       "[{\"id\": \"s1\", \"location\": {\"id\": \"l1\", \"name\": \"a]}\"}}, "
       "{\"location\": {\"id\": \"s1\"}, \"id\": \"s2\", \"n\": [1, {\"id\": \"s1\"}]}]}";
static const char body_v2[] = "{\"id\": \"" ID(6) "\", \"name\": \"Six again\"}";

static bool starts(const char *p, const char *prefix)
{
    return p && strncmp(p, prefix, strlen(prefix)) == 0;
}

static void test_find_sal(void **state)
{
    (void)state;
    size_t off, len;
    assert_true(dir_doc_find_sal(body_v1, strlen(body_v1), "s1", &off, &len));
    assert_true(starts(body_v1 + off, "{\"id\": \"s1\""));
    assert_int_equal(body_v1[off + len - 1], '}');
    assert_true(starts(body_v1 + off + len, ", {\"location\""));
    assert_true(dir_doc_find_sal(body_v1, strlen(body_v1), "s2", &off, &len));
    assert_true(starts(body_v1 + off, "{\"location\": {\"id\": \"s1\"}, \"id\": \"s2\""));
    assert_int_equal(off + len, strlen(body_v1) - 2); /* then "]}" */
    assert_false(dir_doc_find_sal(body_v1, strlen(body_v1), "l1", &off, &len));
    assert_false(dir_doc_find_sal(body_v1, strlen(body_v1), "s", &off, &len));
    assert_false(dir_doc_find_sal(body_v2, strlen(body_v2), "s1", &off, &len));
    /* Cut short or not JSON: not found, nothing read past the end. */
    assert_false(dir_doc_find_sal(body_v1, 60, "s1", &off, &len));
    assert_false(dir_doc_find_sal("[1]", 3, "s1", &off, &len));
    assert_false(dir_doc_find_sal("", 0, "s1", &off, &len));
}

static void test_items(void **state)
{
    (void)state;
    dir_hit_t hits[4] = {
        {.origin = "org-a",
         .received_at = "2026-01-02T03:04:05.000006Z",
         .body = "{\"a\": 1}x",
         .body_len = 8,
         .has_dist = true,
         .dist = 2.5,
         .sal = "{\"id\": 1}",
         .sal_len = 9},
        {.origin = "o\"\\\n",
         .received_at = "t",
         .body = "{}",
         .body_len = 2,
         .has_dist = true,
         .dist = 1.5},
        {.origin = "b",
         .received_at = "t",
         .body = "{}",
         .body_len = 2,
         .has_dist = true,
         .dist = 0.5000001},
        {.origin = "c", .received_at = "t", .body = "{}", .body_len = 2},
    };
    dir_page_t pg = {4, hits, 4};
    strbuf_t b = {0};
    dir_doc_items(&b, &pg, true, true);
    /* round(float8) in PostgreSQL is rint(): 2.5 -> 2, 1.5 -> 2. */
    assert_string_equal(
        b.buf,
        "[{\"origin\":\"org-a\",\"received_at\":\"2026-01-02T03:04:05.000006Z\",\"body\":{\"a\": "
        "1},\"sal\":{\"id\": 1},\"distance\":2},"
        "{\"origin\":\"o\\\"\\\\\\u000a\",\"received_at\":\"t\",\"body\":{},\"sal\":null,"
        "\"distance\":2},"
        "{\"origin\":\"b\",\"received_at\":\"t\",\"body\":{},\"sal\":null,\"distance\":1},"
        "{\"origin\":\"c\",\"received_at\":\"t\",\"body\":{},\"sal\":null,\"distance\":null}]");
    strbuf_free(&b);
    dir_doc_items(&b, &pg, false, false);
    assert_string_equal(b.buf,
                        "[{\"origin\":\"org-a\",\"received_at\":\"2026-01-02T03:04:05."
                        "000006Z\",\"body\":{\"a\": 1}},{\"origin\":\"o\\\"\\\\\\u000a\","
                        "\"received_at\":\"t\",\"body\":{}},{\"origin\":\"b\",\"received_at\":"
                        "\"t\",\"body\":{}},{\"origin\":\"c\",\"received_at\":\"t\",\"body\":{}}]");
    strbuf_free(&b);
    pg.n = 0;
    dir_doc_items(&b, &pg, true, true);
    assert_string_equal(b.buf, "[]");
    strbuf_free(&b);
}

/* The one hit of listing what for the service ID(6). */
static dir_hit_t only_hit(dir_index_t *ix, dir_list_t what, dir_page_t *pg, size_t n)
{
    dir_filter_t f;
    filter(&f);
    dir_view_t all = {.org = NULL};
    dir_ask_t a = {.f = &f, .what = what, .view = &all};
    assert_int_equal(dir_index_page(ix, &a, pg), 0);
    assert_int_equal(pg->n, n);
    return n ? pg->hits[0] : (dir_hit_t){0};
}

static void test_kept_text(void **state)
{
    (void)state;
    dir_index_t *ix = dir_index_new(100, SIZE_MAX);
    size_t empty = dir_index_bytes(ix);
    dir_row_t r = row(ID(6), "org-a", "Six", 1);
    r.received_at = "2026-01-02T03:04:05.000006Z";
    r.body = body_v1;
    r.body_len = strlen(body_v1);
    dir_place_t places[] = {{"s2", false, false, 0, 0}, {"s1", false, true, 0, 1}};
    r.places = places;
    r.n_places = 2;
    assert_int_equal(dir_index_put(ix, &r), 0);
    size_t v1 = dir_index_bytes(ix);
    /* The filter fields and the body, with a word or so of overhead. */
    assert_true(v1 >= empty + strlen(body_v1) + strlen(r.received_at));
    assert_true(v1 < empty + strlen(body_v1) + 1024);
    dir_page_t pg;
    dir_hit_t h = only_hit(ix, DIR_LIST_SERVICES, &pg, 1);
    assert_string_equal(h.received_at, "2026-01-02T03:04:05.000006Z");
    assert_int_equal(h.body_len, strlen(body_v1));
    assert_memory_equal(h.body, body_v1, strlen(body_v1));
    assert_null(h.sal);
    assert_true(h.body != body_v1); /* a copy, owned by the index */
    dir_page_free(&pg);
    /* Service-at-locations: each its own object, in sal_id order. */
    only_hit(ix, DIR_LIST_SALS, &pg, 2);
    assert_string_equal(pg.hits[0].sal_id, "s1");
    assert_true(starts(pg.hits[0].sal, "{\"id\": \"s1\""));
    assert_string_equal(pg.hits[1].sal_id, "s2");
    assert_true(starts(pg.hits[1].sal, "{\"location\": {\"id\": \"s1\"}, \"id\": \"s2\""));
    dir_page_free(&pg);

    /* Replaced by a higher version: the new text, the old one freed (ASan
     * says if it leaked), the count follows the new size; the places whose
     * object the body lost have none. */
    r.seq = 2;
    r.received_at = "2026-02-02T00:00:00.000000Z";
    r.body = body_v2;
    r.body_len = strlen(body_v2);
    assert_int_equal(dir_index_put(ix, &r), 0);
    assert_int_equal(dir_index_bytes(ix), v1 - strlen(body_v1) + strlen(body_v2));
    h = only_hit(ix, DIR_LIST_SERVICES, &pg, 1);
    assert_string_equal(h.received_at, "2026-02-02T00:00:00.000000Z");
    assert_int_equal(h.body_len, strlen(body_v2));
    assert_memory_equal(h.body, body_v2, strlen(body_v2));
    dir_page_free(&pg);
    only_hit(ix, DIR_LIST_SALS, &pg, 2);
    assert_null(pg.hits[0].sal);
    assert_null(pg.hits[1].sal);
    dir_page_free(&pg);

    /* Dropped (shadowed, deleted): not listed, its text and fields freed. */
    dir_index_drop(ix, ID(6), "org-a");
    assert_int_equal(dir_index_count(ix), 0);
    size_t dropped = dir_index_bytes(ix);
    assert_true(dropped < v1 - strlen(body_v1));
    assert_true(dropped > empty); /* its key stays, for a later put */
    only_hit(ix, DIR_LIST_SERVICES, &pg, 0);
    dir_page_free(&pg);
    dir_index_drop(ix, ID(6), "org-a"); /* twice: nothing more */
    assert_int_equal(dir_index_bytes(ix), dropped);
    /* Put again: back, with its text. */
    r.seq = 3;
    assert_int_equal(dir_index_put(ix, &r), 0);
    assert_int_equal(dir_index_bytes(ix), v1 - strlen(body_v1) + strlen(body_v2));
    h = only_hit(ix, DIR_LIST_SERVICES, &pg, 1);
    assert_memory_equal(h.body, body_v2, strlen(body_v2));
    dir_page_free(&pg);
    dir_index_free(ix);
}

static void test_memory_limit(void **state)
{
    (void)state;
    dir_row_t r = row(ID(6), "org-a", "Six", 1);
    r.received_at = "t";
    r.body = body_v1;
    r.body_len = strlen(body_v1);
    dir_index_t *ix = dir_index_new(100, 0);
    size_t fixed = dir_index_bytes(ix);
    dir_index_free(ix);
    /* Room for the small body, not for the large one. */
    ix = dir_index_new(100, fixed + 1024 + strlen(body_v2));
    r.body = body_v2;
    r.body_len = strlen(body_v2);
    assert_int_equal(dir_index_put(ix, &r), 0);
    assert_false(dir_index_over_bytes(ix));
    size_t held = dir_index_bytes(ix);
    r.body = body_v1;
    r.body_len = strlen(body_v1);
    r.seq = 2;
    dir_row_t big = r;
    char pad[2048];
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    big.body = pad;
    big.body_len = strlen(pad);
    assert_int_equal(dir_index_put(ix, &big), TR_E_LIMIT);
    assert_true(dir_index_over_bytes(ix));
    /* Refused: the index is as it was. */
    assert_int_equal(dir_index_bytes(ix), held);
    assert_int_equal(dir_index_count(ix), 1);
    assert_int_equal(dir_index_last_seq(ix), 1);
    dir_index_free(ix);
}

/* Kept search answers: found by their exact words, copied, forgotten on
 * clear and when full, a too large one never kept. */
static void test_search_kept(void **state)
{
    (void)state;
    dir_search_t *s = dir_search_new();
    int64_t seqs[] = {3, 5, 9};
    size_t n = 99;
    assert_null(dir_search_get(s, "refuge", &n));
    dir_search_put(s, "refuge", seqs, 3);
    seqs[0] = 4; /* a copy was kept */
    const int64_t *got = dir_search_get(s, "refuge", &n);
    assert_non_null(got);
    assert_int_equal(n, 3);
    assert_int_equal(got[0], 3);
    assert_int_equal(got[2], 9);
    assert_null(dir_search_get(s, "Refuge", &n));
    dir_search_put(s, "none", NULL, 0); /* a search matching nothing is an answer too */
    assert_non_null(dir_search_get(s, "none", &n));
    assert_int_equal(n, 0);
    assert_int_equal(dir_search_count(s), 2);
    dir_search_clear(s);
    assert_int_equal(dir_search_count(s), 0);
    assert_int_equal(dir_search_bytes(s), 0);
    assert_null(dir_search_get(s, "refuge", &n));
    char w[16];
    for (int i = 0; i <= DIR_SEARCH_KEEP_MAX; i++) {
        snprintf(w, sizeof(w), "w%d", i);
        dir_search_put(s, w, seqs, 3);
    }
    assert_int_equal(dir_search_count(s), 1); /* full: forgotten, then the last kept */
    assert_non_null(dir_search_get(s, w, &n));
    static int64_t big[DIR_SEARCH_KEEP_BYTES / 4 / sizeof(int64_t) + 1];
    dir_search_put(s, "big", big, sizeof(big) / sizeof(big[0]));
    assert_null(dir_search_get(s, "big", &n));
    dir_search_free(s);
}

/* A proximity page sorts only the first page * per_page candidates
 * (select_first): every page of 7 is the same slice of the whole order
 * sorted at once, which is by distance, then name, then id. */
static void test_near_pages(void **state)
{
    (void)state;
    enum { N = 300 };
    dir_index_t *ix = dir_index_new(N, SIZE_MAX);
    static char ids[N][40], names[N][16];
    static dir_place_t places[N];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "00000000-0000-4000-8000-%012d", i);
        snprintf(names[i], sizeof(names[i]), "S%d", (i * 37) % 50); /* names repeat */
        dir_row_t r = row(ids[i], "org-a", names[i], i + 1);
        /* distances repeat too: ties broken by name, then id */
        places[i] = (dir_place_t){NULL, true, i % 10 != 0, 0, 0.01 * ((i * 7) % 23)};
        r.places = &places[i];
        r.n_places = 1;
        r.summary = names[i];
        r.summary_len = strlen(names[i]);
        assert_int_equal(dir_index_put(ix, &r), 0);
    }
    dir_filter_t f;
    filter(&f);
    f.has_point = true;
    f.per_page = N;
    dir_view_t all = {.org = NULL};
    dir_ask_t a = {.f = &f, .what = DIR_LIST_SERVICES, .view = &all, .has_centre = true};
    dir_page_t whole;
    assert_int_equal(dir_index_page(ix, &a, &whole), 0);
    assert_int_equal(whole.total, N);
    for (size_t i = 1; i < whole.n; i++) {
        const dir_hit_t *x = &whole.hits[i - 1], *y = &whole.hits[i];
        assert_true(x->has_dist || !y->has_dist); /* no distance last */
        if (x->has_dist && y->has_dist)
            assert_true(x->dist <= y->dist);
        if (x->has_dist == y->has_dist && (!x->has_dist || x->dist == y->dist)) {
            int c = strcmp(x->summary, y->summary); /* the summary is the name here */
            assert_true(c < 0 || (c == 0 && strcmp(x->id, y->id) < 0));
        }
    }
    f.per_page = 7;
    for (f.page = 1; f.page <= N / 7 + 1; f.page++) {
        dir_page_t pg;
        assert_int_equal(dir_index_page(ix, &a, &pg), 0);
        assert_int_equal(pg.total, N);
        size_t off = (size_t)(f.page - 1) * 7;
        assert_int_equal(pg.n, off + 7 <= N ? 7 : N - off);
        for (size_t i = 0; i < pg.n; i++) {
            assert_string_equal(pg.hits[i].id, whole.hits[off + i].id);
            assert_memory_equal(pg.hits[i].summary, whole.hits[off + i].summary,
                                pg.hits[i].summary_len);
        }
        dir_page_free(&pg);
    }
    /* the kept list items, as a JSON array in page order */
    strbuf_t out = {0};
    f.page = 1;
    f.per_page = 3;
    dir_page_t pg;
    assert_int_equal(dir_index_page(ix, &a, &pg), 0);
    assert_true(dir_doc_summaries(&out, &pg));
    char want[64];
    snprintf(want, sizeof(want), "[%s,%s,%s]", whole.hits[0].summary, whole.hits[1].summary,
             whole.hits[2].summary);
    assert_string_equal(out.buf, want);
    strbuf_free(&out);
    dir_page_free(&pg);
    dir_page_free(&whole);
    dir_index_free(ix);
}

/* Services found by a tsquery over their lexemes (dir_fts.h), combined
 * with the other filters; a replaced service's old words no longer match. */
static void test_search_memory(void **state)
{
    (void)state;
    dir_index_t *ix = build();
    dir_row_t r = row(ID(8), "org-a", "Delta", 20);
    r.search = "'lantern':1 'orchard':2";
    assert_int_equal(dir_index_put(ix, &r), 0);
    r = row(ID(9), "org-a", "Epsilon", 21);
    r.search = "'lantern':1";
    r.lists[DIR_L_NEEDS] = (dir_strs_t){need_food, 1};
    assert_int_equal(dir_index_put(ix, &r), 0);
    assert_true(dir_index_fts_ok(ix));
    dir_filter_t f;
    filter(&f);
    dir_view_t all = {.org = NULL};
    dir_tsq_t *q;
    assert_int_equal(dir_tsq_parse("'lantern' & !'orchard'", &q), 0);
    dir_ask_t a = {.f = &f, .what = DIR_LIST_SERVICES, .view = &all, .search = true, .tsq = q};
    char got[64];
    assert_int_equal(list(ix, &a, got, sizeof(got)), 1);
    assert_string_equal(got, "9");
    dir_tsq_free(q);
    assert_int_equal(dir_tsq_parse("'lantern'", &q), 0);
    a.tsq = q;
    assert_int_equal(list(ix, &a, got, sizeof(got)), 2);
    assert_string_equal(got, "8 9");
    strcpy(f.need, "food");
    assert_int_equal(list(ix, &a, got, sizeof(got)), 1);
    assert_string_equal(got, "9");
    f.need[0] = '\0';
    r = row(ID(8), "org-a", "Delta", 22); /* a new version without the word */
    r.search = "'orchard':1";
    assert_int_equal(dir_index_put(ix, &r), 0);
    assert_int_equal(list(ix, &a, got, sizeof(got)), 1);
    assert_string_equal(got, "9");
    dir_index_drop(ix, ID(9), "org-a");
    assert_int_equal(list(ix, &a, got, sizeof(got)), 0);
    dir_tsq_free(q);
    dir_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_kept),  cmocka_unit_test(test_find_sal),
        cmocka_unit_test(test_items),        cmocka_unit_test(test_kept_text),
        cmocka_unit_test(test_memory_limit), cmocka_unit_test(test_order_and_view),
        cmocka_unit_test(test_filters),      cmocka_unit_test(test_paging_and_replace),
        cmocka_unit_test(test_distance),     cmocka_unit_test(test_near),
        cmocka_unit_test(test_near_pages),   cmocka_unit_test(test_search_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
