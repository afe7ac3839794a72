/* The viewer's result cache: a hit only for the same key, the same data
 * generation and within the time to live; the oldest entry makes room. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
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
    assert_null(view_cache_get("k0", 1, 200)); /* the oldest went */
    assert_non_null(view_cache_get("k1", 1, 200));
    snprintf(key, sizeof(key), "k%d", VIEW_CACHE_ENTRIES);
    assert_non_null(view_cache_get(key, 1, 200));
    view_cache_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generation_and_ttl),
        cmocka_unit_test(test_oldest_makes_room),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
