/* The consortium's small-number rule (docs/small-numbers.md): every count a
 * viewer page or CSV publishes passes through here. Small counts are hidden,
 * the rest rounded, and in a table with totals further cells are hidden so
 * that no small one can be worked out from a total or a percentage. */
#ifndef TR_SMALLNUM_H
#define TR_SMALLNUM_H

#include <stdbool.h>
#include <stddef.h>

/* NHS Digital's rule: 1 to 7 hidden ("fewer than 8"), the rest to the nearest 5. */
#define TR_SMALLNUM_THRESHOLD_DEFAULT 8
#define TR_SMALLNUM_ROUNDING_DEFAULT 5
/* Bounds of the rule's two numbers (the [viewer] config keys take the same). */
#define TR_SMALLNUM_RULE_MAX 1000
/* A count above this is refused (TR_E_INVAL): costs and sums stay exact. */
#define TR_SMALLNUM_COUNT_MAX 1000000000LL
/* A table, totals included ((rows + 1) * (cols + 1)), of at most this many
 * cells; past it TR_E_LIMIT. The secondary suppression is quadratic in the
 * number of rows plus columns for each cell it has to protect. */
#define TR_SMALLNUM_MAX_CELLS 16384

typedef struct {
    long long threshold; /* counts from 1 to threshold - 1 are hidden; 1: none */
    long long rounding;  /* shown counts go to the nearest multiple; 1: exact */
} tr_smallnum_rule_t;

void tr_smallnum_rule_default(tr_smallnum_rule_t *rule);
/* 0, or TR_E_INVAL when either number is outside 1..TR_SMALLNUM_RULE_MAX. */
int tr_smallnum_rule_check(const tr_smallnum_rule_t *rule);

typedef enum {
    TR_SN_SHOWN = 0, /* published as .shown (rounded; 0 stays 0) */
    TR_SN_SMALL,     /* primary suppression: 1 .. threshold - 1, "fewer than N" */
    TR_SN_HIDDEN,    /* secondary suppression: hidden to protect a small cell */
} tr_sn_state_t;

typedef struct {
    tr_sn_state_t state;
    long long shown; /* the published number when TR_SN_SHOWN, else 0 */
} tr_sn_cell_t;

/* One count published on its own (no total it adds up to): hidden when
 * small, else rounded. A count that is not 0 never shows as 0: it rounds up
 * to one multiple of the rounding at least. */
tr_sn_cell_t tr_smallnum_count(const tr_smallnum_rule_t *rule, long long n);

/* Whether a statistic computed over n records (a median, a mean) may be
 * shown: only over threshold records or more, as NHS Digital does. */
bool tr_smallnum_stat_ok(const tr_smallnum_rule_t *rule, long long n);

/* A table of counts with its row totals, column totals and grand total,
 * which are computed here from the cells. Cells are addressed (row, col);
 * row == rows is the totals row, col == cols the totals column. */
typedef struct tr_smallnum_table tr_smallnum_table_t;

/* 0 and *out, TR_E_INVAL for 0 rows or columns, TR_E_LIMIT past
 * TR_SMALLNUM_MAX_CELLS. Every cell starts at 0. */
int tr_smallnum_table_new(size_t rows, size_t cols, tr_smallnum_table_t **out);
void tr_smallnum_table_free(tr_smallnum_table_t *t);

/* Set an inner cell's true count: 0, or TR_E_INVAL when (row, col) is not
 * an inner cell or n is negative or above TR_SMALLNUM_COUNT_MAX. */
int tr_smallnum_set(tr_smallnum_table_t *t, size_t row, size_t col, long long n);

/* Hide (row, col) whatever its count, totals included, as secondary
 * suppression: for a cell another published table hides, where the two
 * tables share it (a total of one is a cell or total of the other), so that
 * neither gives away what the other protects. Kept across tr_smallnum_apply
 * calls. 0, or TR_E_INVAL outside the table. */
int tr_smallnum_hide(tr_smallnum_table_t *t, size_t row, size_t col);

/* Compute the totals, hide the small cells (totals included), then hide
 * complementary cells until no hidden cell can be worked out from the rows
 * and columns that add up to the totals, and round what stays shown.
 * Deterministic: the same table and rule always publish the same cells.
 * 0, or TR_E_INVAL for a bad rule, TR_E_NOMEM. */
int tr_smallnum_apply(tr_smallnum_table_t *t, const tr_smallnum_rule_t *rule);

/* What to publish for (row, col) after tr_smallnum_apply; totals included.
 * Outside the table: TR_SN_HIDDEN. */
tr_sn_cell_t tr_smallnum_get(const tr_smallnum_table_t *t, size_t row, size_t col);

/* Longest text of the two functions below, NUL included. */
#define TR_SMALLNUM_TEXT_MAX 32

/* A cell as text, into buf (returned): "15", "fewer than 8", "not shown". */
const char *tr_smallnum_text(const tr_smallnum_rule_t *rule, tr_sn_cell_t cell, char *buf,
                             size_t len);

/* num as a whole percentage of den, computed from the published (rounded)
 * numbers only, so that it tells nothing the two counts do not: "36%";
 * "not shown" when either is hidden, "n/a" when den is 0. */
const char *tr_smallnum_percent(tr_sn_cell_t num, tr_sn_cell_t den, char *buf, size_t len);

#endif
