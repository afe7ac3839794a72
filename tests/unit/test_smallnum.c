/* The small-number rule: rounding and primary suppression of single counts,
 * and secondary suppression on tables worked out by hand (the expected cells
 * below come from the reasoning in each comment, not from the code), then a
 * check on many generated tables that no hidden cell can be worked out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tr_error.h"
#include "tr_smallnum.h"

#define SM (-1) /* expected: fewer than the threshold (primary) */
#define HD (-2) /* expected: not shown (secondary) */

static const tr_smallnum_rule_t nhs = {8, 5};
static const tr_smallnum_rule_t exact = {8, 1};

static tr_smallnum_table_t *table_of(size_t rows, size_t cols, const long long *cells)
{
    tr_smallnum_table_t *t;
    assert_int_equal(tr_smallnum_table_new(rows, cols, &t), 0);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            assert_int_equal(tr_smallnum_set(t, i, j, cells[i * cols + j]), 0);
    return t;
}

/* want is (rows + 1) x (cols + 1), totals included. */
static void expect_table(const tr_smallnum_table_t *t, size_t rows, size_t cols,
                         const long long *want)
{
    for (size_t i = 0; i <= rows; i++) {
        for (size_t j = 0; j <= cols; j++) {
            tr_sn_cell_t c = tr_smallnum_get(t, i, j);
            long long w = want[i * (cols + 1) + j];
            if (w == SM)
                assert_int_equal(c.state, TR_SN_SMALL);
            else if (w == HD)
                assert_int_equal(c.state, TR_SN_HIDDEN);
            else {
                if (c.state != TR_SN_SHOWN)
                    fail_msg("cell (%zu, %zu) hidden, want %lld", i, j, w);
                assert_int_equal(c.shown, w);
            }
        }
    }
}

static void test_single_counts(void **state)
{
    (void)state;
    static const struct {
        long long threshold, rounding, n;
        tr_sn_state_t st;
        long long shown;
    } cases[] = {
        {8, 5, 0, TR_SN_SHOWN, 0},       {8, 5, 1, TR_SN_SMALL, 0},
        {8, 5, 7, TR_SN_SMALL, 0},       {8, 5, 8, TR_SN_SHOWN, 10},
        {8, 5, 12, TR_SN_SHOWN, 10},     {8, 5, 13, TR_SN_SHOWN, 15},
        {8, 5, 1002, TR_SN_SHOWN, 1000}, {8, 5, 1003, TR_SN_SHOWN, 1005},
        {10, 10, 9, TR_SN_SMALL, 0},     {10, 10, 14, TR_SN_SHOWN, 10},
        {10, 10, 15, TR_SN_SHOWN, 20},                              /* halves go up */
        {1, 1, 1, TR_SN_SHOWN, 1},       {1, 5, 2, TR_SN_SHOWN, 5}, /* never 0 for a count */
        {3, 1, 2, TR_SN_SMALL, 0},       {3, 1, 3, TR_SN_SHOWN, 3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tr_smallnum_rule_t r = {cases[i].threshold, cases[i].rounding};
        tr_sn_cell_t c = tr_smallnum_count(&r, cases[i].n);
        assert_int_equal(c.state, cases[i].st);
        assert_int_equal(c.shown, cases[i].shown);
    }
}

static void test_text_and_percent(void **state)
{
    (void)state;
    char b[TR_SMALLNUM_TEXT_MAX];
    tr_smallnum_rule_t ten = {10, 5};
    assert_string_equal(tr_smallnum_text(&nhs, tr_smallnum_count(&nhs, 3), b, sizeof b),
                        "fewer than 8");
    assert_string_equal(tr_smallnum_text(&ten, tr_smallnum_count(&ten, 9), b, sizeof b),
                        "fewer than 10");
    assert_string_equal(tr_smallnum_text(&nhs, tr_smallnum_count(&nhs, 23), b, sizeof b), "25");
    assert_string_equal(tr_smallnum_text(&nhs, (tr_sn_cell_t){TR_SN_HIDDEN, 0}, b, sizeof b),
                        "not shown");
    /* From the published numbers: 19 of 53 shows as 20 of 55, 36.4% -> 36%,
     * never the 35.8% of the true counts, which would give them away. */
    tr_sn_cell_t num = tr_smallnum_count(&nhs, 19), den = tr_smallnum_count(&nhs, 53);
    assert_string_equal(tr_smallnum_percent(num, den, b, sizeof b), "36%");
    /* 10 of 80 is 12.5%: halves up. */
    assert_string_equal(
        tr_smallnum_percent(tr_smallnum_count(&nhs, 10), tr_smallnum_count(&nhs, 80), b, sizeof b),
        "13%");
    assert_string_equal(
        tr_smallnum_percent(tr_smallnum_count(&nhs, 5), tr_smallnum_count(&nhs, 80), b, sizeof b),
        "not shown");
    assert_string_equal(tr_smallnum_percent(tr_smallnum_count(&nhs, 40),
                                            (tr_sn_cell_t){TR_SN_HIDDEN, 0}, b, sizeof b),
                        "not shown");
    assert_string_equal(
        tr_smallnum_percent(tr_smallnum_count(&nhs, 0), tr_smallnum_count(&nhs, 0), b, sizeof b),
        "n/a");
    /* Medians and the like: over 8 records or more only. */
    assert_false(tr_smallnum_stat_ok(&nhs, 0));
    assert_false(tr_smallnum_stat_ok(&nhs, 7));
    assert_true(tr_smallnum_stat_ok(&nhs, 8));
}

static void test_no_small_cells(void **state)
{
    (void)state;
    /* Nothing small: nothing hidden, everything to the nearest 5. */
    static const long long cells[] = {20, 33, 12, 28};
    static const long long want[] = {20, 35, 55, /**/ 10, 30, 40, /**/ 30, 60, 95};
    tr_smallnum_table_t *t = table_of(2, 2, cells);
    assert_int_equal(tr_smallnum_apply(t, &nhs), 0);
    expect_table(t, 2, 2, want);
    tr_smallnum_table_free(t);
}

/* The table where primary suppression alone leaks through a total:
 *
 *          c0  c1  c2 | total
 *     r0    3  20  30 |   53
 *     r1   12  25  40 |   77
 *     r2   10  15  22 |   47
 *  total   25  60  92 |  177
 *
 * With only the 3 hidden, 53 - 20 - 30 gives it back exactly. A cycle of
 * hidden cells through (r0, c0) is needed: c0 -> r' -> c' -> r0 hides
 * (r', c0), (r', c') and (r0, c'). By hand: r1,c1 costs 12+25+20 = 57;
 * r1,c2 12+40+30 = 82; r2,c1 10+15+20 = 45; r2,c2 10+22+30 = 62 (longer cycles
 * cost more, totals are dearer still). So (r2, c0), (r2, c1), (r0, c1) go. */
static void test_leak_through_total(void **state)
{
    (void)state;
    static const long long cells[] = {3, 20, 30, 12, 25, 40, 10, 15, 22};

    /* Without secondary suppression the 3 is one subtraction away. */
    tr_smallnum_table_t *t = table_of(3, 3, cells);
    assert_int_equal(tr_smallnum_apply(t, &exact), 0);
    static const long long want_exact[] = {SM, HD, 30, 53, /**/ 12, 25, 40, 77,
                                           HD, HD, 22, 47, /**/ 25, 60, 92, 177};
    expect_table(t, 3, 3, want_exact);
    /* What a reader can compute from row r0 now: 53 - 30 = 33 for two cells,
     * and from column c0 25 - 12 = 13 for two: the 3 is not determined. */
    tr_smallnum_table_free(t);

    t = table_of(3, 3, cells);
    assert_int_equal(tr_smallnum_apply(t, &nhs), 0);
    static const long long want[] = {SM, HD, 30, 55, /**/ 10, 25, 40, 75,
                                     HD, HD, 20, 45, /**/ 25, 60, 90, 175};
    expect_table(t, 3, 3, want);
    tr_smallnum_table_free(t);
}

/* Two small cells in one row are not enough: each is alone in its column.
 *
 *          c0  c1  c2 | total
 *     r0    3   5  40 |   48
 *     r1    9  11  30 |   50
 *     r2   20   8  25 |   53
 *  total   32  24  95 |  151
 *
 * Column c0 minus 9 + 20 gives the 3. The cycle c0 -> r' -> c1 -> r0 uses the
 * hidden 5: r1 costs 9 + 11 = 20, r2 20 + 8 = 28; r1 goes. */
static void test_two_small_in_a_row(void **state)
{
    (void)state;
    static const long long cells[] = {3, 5, 40, 9, 11, 30, 20, 8, 25};
    static const long long want[] = {SM, SM, 40, 50, /**/ HD, HD, 30, 50,
                                     20, 10, 25, 55, /**/ 30, 25, 95, 150};
    tr_smallnum_table_t *t = table_of(3, 3, cells);
    assert_int_equal(tr_smallnum_apply(t, &nhs), 0);
    expect_table(t, 3, 3, want);
    tr_smallnum_table_free(t);
}

/* A small row total.
 *
 *          c0  c1 | total
 *     r0    2   3 |    5
 *     r1   20  30 |   50
 *  total   22  33 |   55
 *
 * All of r0 is small. (r0, c0) first: c0 -> r1 -> c1 -> r0 costs 20 + 30 with
 * no total; any other way hides a total. Then (r0, total) is alone in the
 * totals column: total -> r1 -> (hidden) -> r0 hides r1's total (50), the
 * only way that hides one total; the grand total's way hides two. Only the
 * column totals stay: two unknowns left in each column. */
static void test_small_total(void **state)
{
    (void)state;
    static const long long cells[] = {2, 3, 20, 30};
    static const long long want[] = {SM, SM, SM, /**/ HD, HD, HD, /**/ 20, 35, 55};
    tr_smallnum_table_t *t = table_of(2, 2, cells);
    assert_int_equal(tr_smallnum_apply(t, &nhs), 0);
    expect_table(t, 2, 2, want);
    tr_smallnum_table_free(t);
}

/* One column (decline reasons and their total): the row totals repeat the
 * cells, so a second reason must go, the cheapest that is not 0.
 *
 *   capacity 12, eligibility 3, risk 20, other 0; total 35
 *
 * Every way round hides one row total (which repeats its cell); other's 0 is
 * avoided as a zero; capacity (12 + 12) beats risk (20 + 20). */
static void test_one_column(void **state)
{
    (void)state;
    static const long long cells[] = {12, 3, 20, 0};
    static const long long want[] = {HD,     HD, /**/ SM, SM, /**/ 20, 20,
                                     /**/ 0, 0,  /**/ 35, 35};
    tr_smallnum_table_t *t = table_of(4, 1, cells);
    assert_int_equal(tr_smallnum_apply(t, &nhs), 0);
    expect_table(t, 4, 1, want);
    tr_smallnum_table_free(t);
}

static void test_threshold_and_rounding_configurable(void **state)
{
    (void)state;
    /* threshold 3, exact: only 1 and 2 are small; 5 and 7 are shown as they are. */
    tr_smallnum_rule_t r = {3, 1};
    static const long long cells[] = {5, 7, 30, 40};
    static const long long want[] = {5, 7, 12, /**/ 30, 40, 70, /**/ 35, 47, 82};
    tr_smallnum_table_t *t = table_of(2, 2, cells);
    assert_int_equal(tr_smallnum_apply(t, &r), 0);
    expect_table(t, 2, 2, want);
    tr_smallnum_table_free(t);
}

/* A cell another table hides (here the row total of r0, say a column total
 * of a table of flows that had to hide it) is hidden here too, and protected
 * like a small one.
 *
 *          c0  c1 | total
 *     r0   20  30 |   50   <- hidden on the caller's word
 *     r1   25  40 |   65
 *  total   45  70 |  115
 *
 * The cycle from the totals column back to r0: through r1's total (a total:
 * dearer) or through a column. total -> r1 (65, a total) -> c0 (25) -> r0 (20)
 * hides one total; every way hides one at least (the totals column's other
 * cells are all totals), so the cheapest: r1's total 65 + 25 + 20 = 110
 * against 65 + 40 + 30 = 135, or the grand total's way 115 + 45 + 20 = 180 with
 * two totals. */
static void test_hidden_by_another_table(void **state)
{
    (void)state;
    static const long long cells[] = {20, 30, 25, 40};
    static const long long want[] = {HD, 30, HD, /**/ HD, 40, HD, /**/ 45, 70, 115};
    tr_smallnum_table_t *t = table_of(2, 2, cells);
    assert_int_equal(tr_smallnum_hide(t, 0, 2), 0);
    assert_int_equal(tr_smallnum_hide(t, 3, 0), TR_E_INVAL);
    assert_int_equal(tr_smallnum_apply(t, &exact), 0);
    expect_table(t, 2, 2, want);
    /* Kept for the next apply. */
    assert_int_equal(tr_smallnum_apply(t, &exact), 0);
    expect_table(t, 2, 2, want);
    tr_smallnum_table_free(t);
}

static void test_errors(void **state)
{
    (void)state;
    tr_smallnum_table_t *t;
    assert_int_equal(tr_smallnum_table_new(0, 3, &t), TR_E_INVAL);
    assert_null(t);
    assert_int_equal(tr_smallnum_table_new(3, 0, &t), TR_E_INVAL);
    assert_int_equal(tr_smallnum_table_new(200, 200, &t), TR_E_LIMIT);
    assert_int_equal(tr_smallnum_table_new(SIZE_MAX / 2, 2, &t), TR_E_LIMIT);
    assert_int_equal(tr_smallnum_table_new(2, 2, &t), 0);
    assert_int_equal(tr_smallnum_set(t, 2, 0, 1), TR_E_INVAL); /* a total is computed */
    assert_int_equal(tr_smallnum_set(t, 0, 2, 1), TR_E_INVAL);
    assert_int_equal(tr_smallnum_set(t, 0, 0, -1), TR_E_INVAL);
    assert_int_equal(tr_smallnum_set(t, 0, 0, TR_SMALLNUM_COUNT_MAX + 1), TR_E_INVAL);
    tr_smallnum_rule_t bad = {0, 5};
    assert_int_equal(tr_smallnum_rule_check(&bad), TR_E_INVAL);
    assert_int_equal(tr_smallnum_apply(t, &bad), TR_E_INVAL);
    bad = (tr_smallnum_rule_t){8, 0};
    assert_int_equal(tr_smallnum_apply(t, &bad), TR_E_INVAL);
    bad = (tr_smallnum_rule_t){TR_SMALLNUM_RULE_MAX + 1, 5};
    assert_int_equal(tr_smallnum_rule_check(&bad), TR_E_INVAL);
    tr_smallnum_rule_t d;
    tr_smallnum_rule_default(&d);
    assert_int_equal(d.threshold, 8);
    assert_int_equal(d.rounding, 5);
    assert_int_equal(tr_smallnum_rule_check(&d), 0);
    tr_smallnum_table_free(t);
    tr_smallnum_table_free(NULL);
}

/* ---- generated tables: checked by a different method than the code's ---- */

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Whether hidden cell (r, c) of the (R1 x C1) table can be worked out: it can
 * exactly when, without it, no chain of hidden cells joins its row to its
 * column (a breadth-first search over rows and columns). */
static bool determinable(const bool *hidden, size_t R1, size_t C1, size_t r, size_t c)
{
    bool seen[64] = {false};
    size_t queue[64], head = 0, tail = 0;
    queue[tail++] = r;
    seen[r] = true;
    while (head < tail) {
        size_t u = queue[head++];
        if (u == R1 + c)
            return false;
        size_t deg = u < R1 ? C1 : R1;
        for (size_t k = 0; k < deg; k++) {
            size_t i = u < R1 ? u : k, j = u < R1 ? k : u - R1;
            size_t v = u < R1 ? R1 + k : k;
            if ((i == r && j == c) || !hidden[i * C1 + j] || seen[v])
                continue;
            seen[v] = true;
            queue[tail++] = v;
        }
    }
    return true;
}

static void test_generated_tables(void **state)
{
    (void)state;
    for (int round = 0; round < 400; round++) {
        size_t rows = 1 + next_rand() % 8, cols = 1 + next_rand() % 8;
        long long cells[64];
        for (size_t k = 0; k < rows * cols; k++) {
            uint64_t x = next_rand() % 10;
            /* Mostly small or zero, so that suppression has work to do. */
            cells[k] = x < 3   ? 0
                       : x < 7 ? (long long)(1 + next_rand() % 7)
                               : (long long)(8 + next_rand() % 60);
        }
        tr_smallnum_table_t *t = table_of(rows, cols, cells);
        assert_int_equal(tr_smallnum_apply(t, &nhs), 0);
        size_t R1 = rows + 1, C1 = cols + 1;
        bool hidden[81];
        long long truth[81] = {0};
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < cols; j++) {
                long long n = cells[i * cols + j];
                truth[i * C1 + j] = n;
                truth[i * C1 + cols] += n;
                truth[rows * C1 + j] += n;
                truth[rows * C1 + cols] += n;
            }
        for (size_t i = 0; i < R1; i++)
            for (size_t j = 0; j < C1; j++) {
                tr_sn_cell_t c = tr_smallnum_get(t, i, j);
                long long n = truth[i * C1 + j];
                hidden[i * C1 + j] = c.state != TR_SN_SHOWN;
                /* Small exactly when 1..7; a shown count within 2 of the truth. */
                assert_int_equal(c.state == TR_SN_SMALL, n >= 1 && n <= 7);
                if (c.state == TR_SN_SHOWN) {
                    assert_true(c.shown % 5 == 0);
                    assert_true(llabs(c.shown - n) <= 2);
                }
            }
        for (size_t i = 0; i < R1; i++)
            for (size_t j = 0; j < C1; j++)
                if (hidden[i * C1 + j] && determinable(hidden, R1, C1, i, j))
                    fail_msg("round %d: hidden cell (%zu, %zu) of %zux%zu can be worked out", round,
                             i, j, rows, cols);
        tr_smallnum_table_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_counts),
        cmocka_unit_test(test_text_and_percent),
        cmocka_unit_test(test_no_small_cells),
        cmocka_unit_test(test_leak_through_total),
        cmocka_unit_test(test_two_small_in_a_row),
        cmocka_unit_test(test_small_total),
        cmocka_unit_test(test_one_column),
        cmocka_unit_test(test_threshold_and_rounding_configurable),
        cmocka_unit_test(test_hidden_by_another_table),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_generated_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
