/* dir_fts: tsvector text read into posting lists (quotes and backslashes
 * as PostgreSQL doubles them, positions and weights skipped), tsquery text
 * parsed (what is refused: phrases, prefixes, weights, malformed text) and
 * evaluated over the documents with AND, OR, NOT and parentheses, a
 * document removed and put again; and the tsquery texts kept by
 * dir_search (least recently used forgotten first), and its postcode
 * centres (forgotten on a change). */
#include "dir_fts.h"
#include "dir_search.h"
#include "tr_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The documents q matches among n, as "0 2 5". */
static void matches(const dir_fts_t *f, const char *query, size_t n, char *out, size_t cap)
{
    dir_tsq_t *q = NULL;
    assert_int_equal(dir_tsq_parse(query, &q), 0);
    uint64_t bits[4];
    memset(bits, 0xa5, sizeof(bits));
    dir_tsq_eval(f, q, n, bits);
    size_t len = 0;
    out[0] = '\0';
    for (size_t d = 0; d < n; d++) /* words past n's are not written */
        if (bits[d / 64] >> (d % 64) & 1)
            len += (size_t)snprintf(out + len, cap - len, "%s%zu", len ? " " : "", d);
    dir_tsq_free(q);
}

static dir_fts_t *docs(uint32_t *lex[5], uint32_t n[5])
{
    static const char *const tsv[5] = {
        "'lantern':3A 'servic':1A", /* 0 */
        "'orchard':2,5B 'lantern':7",
        "'o''brien':1 'back\\\\slash':2 'straße':3", /* o'brien, back\slash */
        "",                                          /* no lexemes */
        "'meadow':1 'beacon':2 'harbour':3",
    };
    dir_fts_t *f = dir_fts_new();
    for (uint32_t d = 0; d < 5; d++)
        dir_fts_add(f, d, tsv[d], &lex[d], &n[d]);
    return f;
}

static void test_eval(void **state)
{
    (void)state;
    uint32_t *lex[5], n[5];
    dir_fts_t *f = docs(lex, n);
    assert_true(dir_fts_ok(f));
    assert_int_equal(n[0], 2);
    assert_int_equal(n[3], 0);
    char got[512];
    matches(f, "'lantern'", 5, got, sizeof(got));
    assert_string_equal(got, "0 1");
    matches(f, "'lantern' & 'orchard'", 5, got, sizeof(got));
    assert_string_equal(got, "1");
    matches(f, "'lantern' & !'orchard'", 5, got, sizeof(got));
    assert_string_equal(got, "0");
    /* NOT alone: every document without it, the empty one too, none past n */
    matches(f, "!'lantern'", 5, got, sizeof(got));
    assert_string_equal(got, "2 3 4");
    matches(f, "'meadow' | 'orchard'", 5, got, sizeof(got));
    assert_string_equal(got, "1 4");
    /* AND binds tighter than OR; parentheses as PostgreSQL writes them */
    matches(f, "'beacon' | 'lantern' & 'servic'", 5, got, sizeof(got));
    assert_string_equal(got, "0 4");
    matches(f, "( 'beacon' | 'lantern' ) & !( 'servic' | 'meadow' )", 5, got, sizeof(got));
    assert_string_equal(got, "1");
    matches(f, "!!'lantern'", 5, got, sizeof(got));
    assert_string_equal(got, "0 1");
    matches(f, "'o''brien' & 'back\\\\slash' & 'straße'", 5, got, sizeof(got));
    assert_string_equal(got, "2");
    matches(f, "'nothing'", 5, got, sizeof(got));
    assert_string_equal(got, "");
    /* an empty tsquery (stop words only) matches nothing */
    matches(f, "", 5, got, sizeof(got));
    assert_string_equal(got, "");
    /* removed, then put again with other lexemes */
    dir_fts_remove(f, 1, lex[1], n[1]);
    free(lex[1]);
    matches(f, "'lantern'", 5, got, sizeof(got));
    assert_string_equal(got, "0");
    dir_fts_add(f, 1, "'beacon':1", &lex[1], &n[1]);
    matches(f, "'beacon'", 5, got, sizeof(got));
    assert_string_equal(got, "1 4");
    /* documents past 64: a second word of bits */
    uint32_t *l70, n70;
    dir_fts_add(f, 70, "'beacon':1", &l70, &n70);
    matches(f, "'beacon'", 71, got, sizeof(got));
    assert_string_equal(got, "1 4 70");
    matches(f, "!'beacon' & !'lantern' & !'meadow'", 71, got, sizeof(got));
    assert_int_equal(strncmp(got, "2 3 5 6 7", 9), 0);
    assert_non_null(strstr(got, " 69"));
    assert_null(strstr(got, " 70"));
    assert_true(dir_fts_bytes(f) > 0);
    free(l70);
    for (int d = 0; d < 5; d++)
        free(lex[d]);
    dir_fts_free(f);
}

static void test_parse_refused(void **state)
{
    (void)state;
    static const char *const limit[] = {"'a' <-> 'b'", "'a' <2> 'b'", "'a':*", "'a':AB",
                                        "'a' & ( 'b' <-> 'c' )"};
    static const char *const inval[] = {"'a", "'a' &", "( 'a'", "'a' )", "a", "'a' 'b'", "&"};
    dir_tsq_t *q = (dir_tsq_t *)1;
    for (size_t i = 0; i < sizeof(limit) / sizeof(limit[0]); i++) {
        assert_int_equal(dir_tsq_parse(limit[i], &q), TR_E_LIMIT);
        assert_null(q);
    }
    for (size_t i = 0; i < sizeof(inval) / sizeof(inval[0]); i++)
        assert_int_equal(dir_tsq_parse(inval[i], &q), TR_E_INVAL);
    /* more operands than DIR_TSQ_MAX_NODES */
    char big[DIR_TSQ_MAX_NODES * 8];
    size_t len = 0;
    for (int i = 0; i < DIR_TSQ_MAX_NODES; i++)
        len += (size_t)snprintf(big + len, sizeof(big) - len, "%s'x'", i ? " | " : "");
    assert_int_equal(dir_tsq_parse(big, &q), TR_E_LIMIT);
    /* a tsvector that is not one: searches must go to the database */
    dir_fts_t *f = dir_fts_new();
    uint32_t *lex, n;
    dir_fts_add(f, 0, "'ok':1 broken", &lex, &n);
    assert_int_equal(n, 1);
    assert_false(dir_fts_ok(f));
    free(lex);
    dir_fts_free(f);
}

/* The tsquery texts kept: found by exact words, kept across the seqs'
 * clear, the least recently used forgotten first when full. */
static void test_tsq_kept(void **state)
{
    (void)state;
    dir_search_t *s = dir_search_new();
    assert_null(dir_search_tsq_get(s, "refuges"));
    dir_search_tsq_put(s, "refuges", "'refug'");
    assert_string_equal(dir_search_tsq_get(s, "refuges"), "'refug'");
    dir_search_clear(s);
    assert_string_equal(dir_search_tsq_get(s, "refuges"), "'refug'");
    char w[16];
    for (int i = 1; i < DIR_SEARCH_TSQ_MAX; i++) {
        snprintf(w, sizeof(w), "w%d", i);
        dir_search_tsq_put(s, w, "'w'");
    }
    assert_non_null(dir_search_tsq_get(s, "refuges")); /* used: now the most recent */
    dir_search_tsq_put(s, "new", "'new'");             /* full: w1 goes */
    assert_null(dir_search_tsq_get(s, "w1"));
    assert_non_null(dir_search_tsq_get(s, "refuges"));
    assert_string_equal(dir_search_tsq_get(s, "new"), "'new'");
    assert_non_null(dir_search_tsq_get(s, "w2"));
    /* postcode centres: kept until the index changes (clear) */
    double lng = 0, lat = 0;
    assert_false(dir_search_centre_get(s, "LS61AA", &lng, &lat));
    dir_search_centre_put(s, "LS61AA", -1.5625, 53.8125);
    assert_true(dir_search_centre_get(s, "LS61AA", &lng, &lat));
    assert_true(lng == -1.5625 && lat == 53.8125);
    assert_false(dir_search_centre_get(s, "LS61AB", &lng, &lat));
    dir_search_clear(s);
    assert_false(dir_search_centre_get(s, "LS61AA", &lng, &lat));
    assert_non_null(dir_search_tsq_get(s, "refuges")); /* the tsqueries stay */
    dir_search_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval),
        cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_tsq_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
