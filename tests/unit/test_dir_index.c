/* dir_index: the in-memory directory listing on a hand-built index with
 * known answers: each filter's rule (audience, codes, the "all" gender, age
 * overlap with 0/130, referrals, one schedule meeting day and times, search
 * keys, received on or after), the order (name, id, sal_id; distance first,
 * NULLS LAST), paging with the total, distances and the proximity radius. */
#include "dir_index.h"
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
    dir_index_t *ix = dir_index_new(100);
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
    dir_view_t all = {NULL, false}, a_view = {"org-a", false}, b_view = {"org-b", false};
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
    dir_view_t all = {NULL, false};
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
    dir_index_t *ix = dir_index_new(30);
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
    dir_view_t all = {NULL, false};
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
    dir_view_t all = {NULL, false};
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_view),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_paging_and_replace),
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_near),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
