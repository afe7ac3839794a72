/* The reply cache: a hit only for the same key, the same data
 * generation and within the time to live; the least recently used entry
 * makes room, within a bound on entries and on bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view_cache.h"

static void test_generation_and_ttl(void **state)
{
    (void)state;
    view_cache_put("pathways|2026-W01|2026-W52||", 7, 1000, "{\"orgs\": []}");
    const char *t = view_cache_get("pathways|2026-W01|2026-W52||", 7, 1500);
    assert_non_null(t);
    assert_string_equal(t, "{\"orgs\": []}");
    assert_null(view_cache_get("pathways|2026-W01|2026-W52||", 8, 1500)); /* stored since */
    assert_null(view_cache_get("pathways|2026-W02|2026-W52||", 7, 1500)); /* another period */
    assert_null(view_cache_get("pathways|2026-W01|2026-W52||", 7, 1000 + VIEW_CACHE_TTL_MS));
    assert_null(view_cache_get("pathways|2026-W01|2026-W52||", 7, 999)); /* clock went back */
    /* The same key again replaces it. */
    view_cache_put("pathways|2026-W01|2026-W52||", 8, 2000, "{\"orgs\": [1]}");
    assert_string_equal(view_cache_get("pathways|2026-W01|2026-W52||", 8, 2000), "{\"orgs\": [1]}");
    view_cache_clear();
    assert_null(view_cache_get("pathways|2026-W01|2026-W52||", 8, 2000));
}

static void test_oldest_makes_room(void **state)
{
    (void)state;
    char key[32];
    for (int i = 0; i < VIEW_CACHE_ENTRIES + 1; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        view_cache_put(key, 1, 100 + (uint64_t)i, key);
    }
    /* Asked after the last put (at 100 + VIEW_CACHE_ENTRIES). */
    uint64_t now = 100 + VIEW_CACHE_ENTRIES + 1;
    assert_null(view_cache_get("k0", 1, now)); /* the oldest went */
    assert_non_null(view_cache_get("k1", 1, now));
    snprintf(key, sizeof(key), "k%d", VIEW_CACHE_ENTRIES);
    assert_non_null(view_cache_get(key, 1, now));
    view_cache_clear();
}

/* A hit counts as a use: the least recently used goes, not the oldest put. */
static void test_least_recently_used_goes(void **state)
{
    (void)state;
    char key[32];
    for (int i = 0; i < VIEW_CACHE_ENTRIES; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        view_cache_put(key, 1, 100, key);
    }
    assert_non_null(view_cache_get("k0", 1, 200)); /* k0 used: k1 is now the least recent */
    view_cache_put("new", 1, 200, "new");
    assert_non_null(view_cache_get("k0", 1, 200));
    assert_null(view_cache_get("k1", 1, 200));
    assert_non_null(view_cache_get("new", 1, 200));
    view_cache_clear();
}

/* The texts together stay within VIEW_CACHE_TOTAL_BYTES; one bigger than
 * VIEW_CACHE_MAX_BYTES is not kept; the length comes back. */
static void test_bytes_budget(void **state)
{
    (void)state;
    size_t big = VIEW_CACHE_MAX_BYTES;
    char *text = malloc(big + 2);
    assert_non_null(text);
    memset(text, 'x', big + 1);
    text[big + 1] = '\0';
    view_cache_put("too-big", 1, 100, text);
    assert_null(view_cache_get("too-big", 1, 100));
    size_t fit = VIEW_CACHE_TOTAL_BYTES / VIEW_CACHE_MAX_BYTES;
    char key[32];
    for (size_t i = 0; i <= fit; i++) {
        snprintf(key, sizeof(key), "b%zu", i);
        view_cache_put_len(key, 1, 100 + i, text, big);
    }
    assert_null(view_cache_get("b0", 1, 200)); /* made room for the last */
    size_t len = 0;
    snprintf(key, sizeof(key), "b%zu", fit);
    const char *t = view_cache_get_len(key, 1, 200, &len);
    assert_non_null(t);
    assert_int_equal(len, big);
    assert_int_equal(t[big], '\0');
    assert_non_null(view_cache_get("b1", 1, 200));
    free(text);
    view_cache_clear();
}

/* Every lookup counts once: a hit, or a miss (absent, stale or expired). */
static void test_counts(void **state)
{
    (void)state;
    uint64_t h0, m0, h, m;
    view_cache_counts(&h0, &m0);
    view_cache_put("oruk|/services?need=legal", 3, 100, "[]");
    assert_non_null(view_cache_get("oruk|/services?need=legal", 3, 150));
    assert_non_null(view_cache_get_len("oruk|/services?need=legal", 3, 160, NULL));
    assert_null(view_cache_get("oruk|/services?need=housing", 3, 150)); /* absent */
    assert_null(view_cache_get("oruk|/services?need=legal", 4, 150));   /* stored since */
    assert_null(view_cache_get("oruk|/services?need=legal", 3, 100 + VIEW_CACHE_TTL_MS));
    view_cache_counts(&h, &m);
    assert_int_equal(h - h0, 2);
    assert_int_equal(m - m0, 3);
    view_cache_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generation_and_ttl),
        cmocka_unit_test(test_oldest_makes_room),
        cmocka_unit_test(test_least_recently_used_goes),
        cmocka_unit_test(test_bytes_budget),
        cmocka_unit_test(test_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
