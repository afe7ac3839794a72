/* Unit tests for server/sync_verify.c's reading of a peer's change-feed
 * reply: the epoch, where the page starts (a feed that went back may start
 * before the cursor asked from, but only under another epoch), and the
 * peer's cursor on this node's feed (your_cursor). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sync_verify.h"

#define E1 "11111111-1111-4111-8111-111111111111"
#define E2 "22222222-2222-4222-8222-222222222222"

static void test_replies(void **state)
{
    static const struct {
        const char *asked_epoch;
        int64_t since;
        const char *reply;
        bool ok;
        bool went_back;
        int64_t from, next;
        const char *epoch;
    } cases[] = {
        /* the same epoch, the page where it was asked for */
        {E1, 10,
         "{\"changes\":[],\"cursor\":\"10\",\"more\":false,\"head\":10,\"epoch\":\"" E1
         "\",\"since\":\"10\"}",
         true, false, 10, 10, E1},
        /* a node without epochs: no since, no epoch */
        {"", 10, "{\"changes\":[],\"cursor\":\"12\",\"more\":false,\"head\":12}", true, false, 10,
         12, ""},
        /* a new epoch, same point: a restart that lost nothing */
        {E1, 10,
         "{\"changes\":[],\"cursor\":\"10\",\"more\":false,\"head\":10,\"epoch\":\"" E2
         "\",\"since\":\"10\"}",
         true, false, 10, 10, E2},
        /* went back under a new epoch: the page starts at 4, the cursor is 6 */
        {E1, 10,
         "{\"changes\":[],\"cursor\":\"6\",\"more\":false,\"head\":6,\"epoch\":\"" E2
         "\",\"since\":\"4\"}",
         true, true, 4, 6, E2},
        /* went back to 0 (an epoch the peer never had) */
        {E1, 10,
         "{\"changes\":[],\"cursor\":\"0\",\"more\":false,\"head\":0,\"epoch\":\"" E2
         "\",\"since\":\"0\"}",
         true, true, 0, 0, E2},
        /* going back in the same epoch, or when no epoch was asked: refused */
        {E1, 10,
         "{\"changes\":[],\"cursor\":\"6\",\"more\":false,\"head\":6,\"epoch\":\"" E1
         "\",\"since\":\"4\"}",
         false, false, 0, 0, ""},
        {"", 10,
         "{\"changes\":[],\"cursor\":\"6\",\"more\":false,\"head\":6,\"epoch\":\"" E2
         "\",\"since\":\"4\"}",
         false, false, 0, 0, ""},
        {E1, 10, "{\"changes\":[],\"cursor\":\"6\",\"more\":false,\"head\":6,\"since\":\"4\"}",
         false, false, 0, 0, ""},
        /* a page past the cursor asked from */
        {E1, 10, "{\"changes\":[],\"cursor\":\"12\",\"more\":false,\"head\":12,\"since\":\"11\"}",
         false, false, 0, 0, ""},
        /* a change at or before where the page starts */
        {E1, 10,
         "{\"changes\":[{\"seq\":4,\"record\":{}}],\"cursor\":\"6\",\"more\":false,"
         "\"head\":6,\"epoch\":\"" E2 "\",\"since\":\"4\"}",
         false, false, 0, 0, ""},
        /* a cursor before where the page starts */
        {E1, 10,
         "{\"changes\":[],\"cursor\":\"3\",\"more\":false,\"head\":6,\"epoch\":\"" E2
         "\",\"since\":\"4\"}",
         false, false, 0, 0, ""},
        /* not an epoch, not a since */
        {E1, 10, "{\"changes\":[],\"cursor\":\"10\",\"more\":false,\"head\":10,\"epoch\":\"x\"}",
         false, false, 0, 0, ""},
        {E1, 10, "{\"changes\":[],\"cursor\":\"10\",\"more\":false,\"head\":10,\"epoch\":7}", false,
         false, 0, 0, ""},
        {E1, 10, "{\"changes\":[],\"cursor\":\"10\",\"more\":false,\"head\":10,\"since\":\"-1\"}",
         false, false, 0, 0, ""},
    };
    signer_cache_t *cache = signer_cache_new();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sync_batch_t b;
        sync_batch_init(&b, cache, "peer-org", "own-org");
        b.body = strdup(cases[i].reply);
        b.len = strlen(cases[i].reply);
        b.since = cases[i].since;
        b.limit = 100;
        snprintf(b.epoch_asked, sizeof(b.epoch_asked), "%s", cases[i].asked_epoch);
        sync_batch_verify(&b);
        if (cases[i].ok != (b.error[0] == '\0'))
            fail_msg("case %zu: %s", i, b.error[0] ? b.error : "accepted");
        if (cases[i].ok) {
            assert_int_equal(b.went_back, cases[i].went_back);
            assert_int_equal(b.reply_since, cases[i].from);
            assert_int_equal(b.next_cursor, cases[i].next);
            assert_string_equal(b.epoch, cases[i].epoch);
            assert_false(b.has_your);
        }
        sync_batch_clear(&b);
    }
    signer_cache_free(cache);
}

static void test_your_cursor(void **state)
{
    static const struct {
        const char *your;
        bool ok, has;
        int64_t cursor;
        const char *epoch, *went_back_epoch;
    } cases[] = {
        {"null", true, false, 0, "", ""},
        {"{\"cursor\":\"7\",\"epoch\":\"" E1 "\",\"went_back_epoch\":null}", true, true, 7, E1, ""},
        {"{\"cursor\":\"0\",\"epoch\":null,\"went_back_epoch\":\"" E2 "\"}", true, true, 0, "", E2},
        {"{\"cursor\":7,\"epoch\":null}", false, false, 0, "", ""},
        {"{\"cursor\":\"7x\"}", false, false, 0, "", ""},
        {"{\"epoch\":\"" E1 "\"}", false, false, 0, "", ""},
        {"{\"cursor\":\"7\",\"epoch\":\"not-a-uuid\"}", false, false, 0, "", ""},
        {"{\"cursor\":\"7\",\"went_back_epoch\":[]}", false, false, 0, "", ""},
        {"\"7\"", false, false, 0, "", ""},
    };
    signer_cache_t *cache = signer_cache_new();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char reply[512];
        snprintf(reply, sizeof(reply),
                 "{\"changes\":[],\"cursor\":\"5\",\"more\":false,\"head\":5,\"epoch\":\"" E1
                 "\",\"since\":\"5\",\"your_cursor\":%s}",
                 cases[i].your);
        sync_batch_t b;
        sync_batch_init(&b, cache, "peer-org", "own-org");
        b.body = strdup(reply);
        b.len = strlen(reply);
        b.since = 5;
        snprintf(b.epoch_asked, sizeof(b.epoch_asked), "%s", E1);
        sync_batch_verify(&b);
        if (cases[i].ok != (b.error[0] == '\0'))
            fail_msg("case %zu: %s", i, b.error[0] ? b.error : "accepted");
        if (cases[i].ok) {
            assert_int_equal(b.has_your, cases[i].has);
            if (b.has_your) {
                assert_int_equal(b.your_cursor, cases[i].cursor);
                assert_string_equal(b.your_epoch, cases[i].epoch);
                assert_string_equal(b.your_went_back_epoch, cases[i].went_back_epoch);
            }
        }
        sync_batch_clear(&b);
    }
    signer_cache_free(cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_your_cursor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
