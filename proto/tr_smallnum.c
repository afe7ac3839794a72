/* The small-number rule with secondary suppression (docs/small-numbers.md).
 * A table with its totals is seen as a bipartite graph whose hidden cells are
 * edges; a hidden cell can be worked out exactly when it lies on no cycle of
 * hidden cells (a bridge), so complementary cells are hidden until none is. */
#include "tr_smallnum.h"
#include "tr_error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tr_smallnum_table {
    size_t rows, cols; /* inner cells; the table holds (rows + 1) x (cols + 1) */
    long long *count;  /* true counts, totals included, row-major */
    tr_sn_cell_t *out; /* what is published */
    bool *forced;      /* cells hidden on the caller's word (tr_smallnum_hide) */
};

void tr_smallnum_rule_default(tr_smallnum_rule_t *rule)
{
    rule->threshold = TR_SMALLNUM_THRESHOLD_DEFAULT;
    rule->rounding = TR_SMALLNUM_ROUNDING_DEFAULT;
}

int tr_smallnum_rule_check(const tr_smallnum_rule_t *rule)
{
    if (rule->threshold < 1 || rule->threshold > TR_SMALLNUM_RULE_MAX || rule->rounding < 1 ||
        rule->rounding > TR_SMALLNUM_RULE_MAX)
        return TR_E_INVAL;
    return 0;
}

static bool is_small(const tr_smallnum_rule_t *rule, long long n)
{
    return n >= 1 && n < rule->threshold;
}

/* Nearest multiple of the rounding, halves up; never 0 for a count above 0. */
static long long round_count(const tr_smallnum_rule_t *rule, long long n)
{
    long long r = rule->rounding;
    long long v = (n + r / 2) / r * r;
    return (n > 0 && v == 0) ? r : v;
}

tr_sn_cell_t tr_smallnum_count(const tr_smallnum_rule_t *rule, long long n)
{
    if (n < 0)
        n = 0;
    if (is_small(rule, n))
        return (tr_sn_cell_t){TR_SN_SMALL, 0};
    return (tr_sn_cell_t){TR_SN_SHOWN, round_count(rule, n)};
}

bool tr_smallnum_stat_ok(const tr_smallnum_rule_t *rule, long long n)
{
    return n >= rule->threshold && n > 0;
}

int tr_smallnum_table_new(size_t rows, size_t cols, tr_smallnum_table_t **out)
{
    *out = NULL;
    if (rows == 0 || cols == 0)
        return TR_E_INVAL;
    if (rows >= TR_SMALLNUM_MAX_CELLS || cols >= TR_SMALLNUM_MAX_CELLS ||
        (rows + 1) * (cols + 1) > TR_SMALLNUM_MAX_CELLS)
        return TR_E_LIMIT;
    size_t n = (rows + 1) * (cols + 1);
    tr_smallnum_table_t *t = calloc(1, sizeof(*t));
    if (!t)
        return TR_E_NOMEM;
    t->rows = rows;
    t->cols = cols;
    t->count = calloc(n, sizeof(*t->count));
    t->out = calloc(n, sizeof(*t->out));
    t->forced = calloc(n, sizeof(*t->forced));
    if (!t->count || !t->out || !t->forced) {
        tr_smallnum_table_free(t);
        return TR_E_NOMEM;
    }
    *out = t;
    return 0;
}

void tr_smallnum_table_free(tr_smallnum_table_t *t)
{
    if (!t)
        return;
    free(t->count);
    free(t->out);
    free(t->forced);
    free(t);
}

int tr_smallnum_set(tr_smallnum_table_t *t, size_t row, size_t col, long long n)
{
    if (row >= t->rows || col >= t->cols || n < 0 || n > TR_SMALLNUM_COUNT_MAX)
        return TR_E_INVAL;
    t->count[row * (t->cols + 1) + col] = n;
    return 0;
}

int tr_smallnum_hide(tr_smallnum_table_t *t, size_t row, size_t col)
{
    if (row > t->rows || col > t->cols)
        return TR_E_INVAL;
    t->forced[row * (t->cols + 1) + col] = true;
    return 0;
}

tr_sn_cell_t tr_smallnum_get(const tr_smallnum_table_t *t, size_t row, size_t col)
{
    if (row > t->rows || col > t->cols)
        return (tr_sn_cell_t){TR_SN_HIDDEN, 0};
    return t->out[row * (t->cols + 1) + col];
}

/* ---- the graph: node i < R1 is row i, node R1 + j is column j; cell (i, j)
 * is the edge i * C1 + j between them. Totals are a row and a column like the
 * others: with the totals negated every row and column of the table adds up
 * to 0, and the hidden cells' values are then fixed exactly when they lie on
 * no cycle (the cycles span the solutions of those sums). ---- */

typedef struct {
    size_t R1, C1, nodes;
    bool *hidden; /* per cell */
} graph_t;

/* The k-th possible neighbour of node u: its node and the cell joining them. */
static void neighbour(const graph_t *g, size_t u, size_t k, size_t *v, size_t *cell)
{
    if (u < g->R1) {
        *v = g->R1 + k;
        *cell = u * g->C1 + k;
    } else {
        *v = k;
        *cell = k * g->C1 + (u - g->R1);
    }
}

static size_t degree_max(const graph_t *g, size_t u)
{
    return u < g->R1 ? g->C1 : g->R1;
}

typedef struct {
    size_t node, via_cell, next;
} frame_t;

/* The hidden cell with the lowest index that is a bridge of the hidden
 * graph, or SIZE_MAX when there is none (Tarjan's bridges, iteratively). */
static size_t first_bridge(const graph_t *g, size_t *disc, size_t *low, frame_t *stack)
{
    size_t best = SIZE_MAX, timer = 1;
    memset(disc, 0, g->nodes * sizeof(*disc));
    for (size_t root = 0; root < g->nodes; root++) {
        if (disc[root])
            continue;
        size_t top = 0;
        stack[top] = (frame_t){root, SIZE_MAX, 0};
        disc[root] = low[root] = timer++;
        while (true) {
            frame_t *f = &stack[top];
            if (f->next < degree_max(g, f->node)) {
                size_t v, cell;
                neighbour(g, f->node, f->next++, &v, &cell);
                if (!g->hidden[cell] || cell == f->via_cell)
                    continue;
                if (disc[v]) {
                    if (disc[v] < low[f->node])
                        low[f->node] = disc[v];
                    continue;
                }
                disc[v] = low[v] = timer++;
                stack[++top] = (frame_t){v, cell, 0};
                continue;
            }
            if (top == 0)
                break;
            frame_t *parent = &stack[top - 1];
            if (low[f->node] < low[parent->node])
                low[parent->node] = low[f->node];
            if (low[f->node] > disc[parent->node] && f->via_cell < best)
                best = f->via_cell;
            top--;
        }
    }
    return best;
}

/* The price of hiding one more cell, compared in this order: totals hidden
 * (a hidden total costs readers most), zeros hidden (a hidden 0 only
 * protects in one direction: it cannot go below 0), then the counts hidden,
 * so that the least is lost, as NHS Digital and ONS choose complements. */
typedef struct {
    long long margins, zeros, sum;
} cost_t;

static int cost_cmp(cost_t a, cost_t b)
{
    if (a.margins != b.margins)
        return a.margins < b.margins ? -1 : 1;
    if (a.zeros != b.zeros)
        return a.zeros < b.zeros ? -1 : 1;
    if (a.sum != b.sum)
        return a.sum < b.sum ? -1 : 1;
    return 0;
}

static cost_t cell_cost(const tr_smallnum_table_t *t, const graph_t *g, size_t cell)
{
    cost_t c = {0, 0, 0};
    if (g->hidden[cell])
        return c;
    size_t i = cell / g->C1, j = cell % g->C1;
    long long n = t->count[cell];
    if (i == t->rows || j == t->cols)
        c.margins = 1;
    if (n == 0)
        c.zeros = 1;
    c.sum = n;
    return c;
}

/* Hide the cheapest path of cells that closes a cycle through the hidden
 * cell `bridge` (Dijkstra, dense, from its column back to its row without
 * it). A path always exists: the table has two rows and two columns at
 * least, its totals counted. */
static int protect(const tr_smallnum_table_t *t, graph_t *g, size_t bridge)
{
    size_t n = g->nodes;
    cost_t *dist = malloc(n * sizeof(*dist));
    size_t *prev_cell = malloc(n * sizeof(*prev_cell));
    bool *done = calloc(n, sizeof(*done));
    bool *reached = calloc(n, sizeof(*reached));
    int rc = TR_E_NOMEM;
    if (!dist || !prev_cell || !done || !reached)
        goto out;

    size_t from = g->R1 + bridge % g->C1, to = bridge / g->C1;
    dist[from] = (cost_t){0, 0, 0};
    reached[from] = true;
    prev_cell[from] = SIZE_MAX;
    while (true) {
        size_t u = SIZE_MAX;
        for (size_t k = 0; k < n; k++)
            if (reached[k] && !done[k] && (u == SIZE_MAX || cost_cmp(dist[k], dist[u]) < 0))
                u = k;
        if (u == SIZE_MAX || u == to)
            break;
        done[u] = true;
        for (size_t k = 0; k < degree_max(g, u); k++) {
            size_t v, cell;
            neighbour(g, u, k, &v, &cell);
            if (cell == bridge || done[v])
                continue;
            cost_t c = cell_cost(t, g, cell);
            cost_t d = {dist[u].margins + c.margins, dist[u].zeros + c.zeros, dist[u].sum + c.sum};
            if (!reached[v] || cost_cmp(d, dist[v]) < 0) {
                dist[v] = d;
                prev_cell[v] = cell;
                reached[v] = true;
            }
        }
    }
    rc = TR_E_INVAL; /* unreachable for a well-formed table */
    if (!reached[to])
        goto out;
    for (size_t v = to; prev_cell[v] != SIZE_MAX;) {
        size_t cell = prev_cell[v];
        g->hidden[cell] = true;
        size_t i = cell / g->C1, j = g->R1 + cell % g->C1;
        v = v == i ? j : i;
    }
    rc = 0;
out:
    free(dist);
    free(prev_cell);
    free(done);
    free(reached);
    return rc;
}

static void compute_totals(tr_smallnum_table_t *t)
{
    size_t C1 = t->cols + 1;
    for (size_t i = 0; i <= t->rows; i++)
        t->count[i * C1 + t->cols] = 0;
    for (size_t j = 0; j <= t->cols; j++)
        t->count[t->rows * C1 + j] = 0;
    for (size_t i = 0; i < t->rows; i++) {
        for (size_t j = 0; j < t->cols; j++) {
            long long n = t->count[i * C1 + j];
            t->count[i * C1 + t->cols] += n;
            t->count[t->rows * C1 + j] += n;
            t->count[t->rows * C1 + t->cols] += n;
        }
    }
}

int tr_smallnum_apply(tr_smallnum_table_t *t, const tr_smallnum_rule_t *rule)
{
    if (tr_smallnum_rule_check(rule) != 0)
        return TR_E_INVAL;
    compute_totals(t);
    graph_t g = {.R1 = t->rows + 1, .C1 = t->cols + 1};
    g.nodes = g.R1 + g.C1;
    size_t cells = g.R1 * g.C1;
    g.hidden = calloc(cells, sizeof(*g.hidden));
    size_t *disc = malloc(g.nodes * sizeof(*disc));
    size_t *low = malloc(g.nodes * sizeof(*low));
    frame_t *stack = malloc(g.nodes * sizeof(*stack));
    bool *primary = calloc(cells, sizeof(*primary));
    int rc = TR_E_NOMEM;
    if (!g.hidden || !disc || !low || !stack || !primary)
        goto out;

    for (size_t c = 0; c < cells; c++) {
        primary[c] = is_small(rule, t->count[c]);
        g.hidden[c] = primary[c] || t->forced[c];
    }
    /* Each round puts one more bridge on a cycle; hiding more cells never
     * turns a cell already on a cycle back into a bridge, so this ends
     * after at most as many rounds as there are hidden cells. */
    size_t bridge;
    while ((bridge = first_bridge(&g, disc, low, stack)) != SIZE_MAX) {
        if ((rc = protect(t, &g, bridge)) != 0)
            goto out;
    }
    for (size_t c = 0; c < cells; c++) {
        if (primary[c])
            t->out[c] = (tr_sn_cell_t){TR_SN_SMALL, 0};
        else if (g.hidden[c])
            t->out[c] = (tr_sn_cell_t){TR_SN_HIDDEN, 0};
        else
            t->out[c] = (tr_sn_cell_t){TR_SN_SHOWN, round_count(rule, t->count[c])};
    }
    rc = 0;
out:
    free(g.hidden);
    free(disc);
    free(low);
    free(stack);
    free(primary);
    return rc;
}

const char *tr_smallnum_text(const tr_smallnum_rule_t *rule, tr_sn_cell_t cell, char *buf,
                             size_t len)
{
    switch (cell.state) {
    case TR_SN_SHOWN:
        snprintf(buf, len, "%lld", cell.shown);
        break;
    case TR_SN_SMALL:
        snprintf(buf, len, "fewer than %lld", rule->threshold);
        break;
    default:
        snprintf(buf, len, "not shown");
        break;
    }
    return buf;
}

const char *tr_smallnum_percent(tr_sn_cell_t num, tr_sn_cell_t den, char *buf, size_t len)
{
    if (num.state != TR_SN_SHOWN || den.state != TR_SN_SHOWN)
        snprintf(buf, len, "not shown");
    else if (den.shown == 0)
        snprintf(buf, len, "n/a");
    else /* whole percent, halves up; counts are at most 1e9, so no overflow */
        snprintf(buf, len, "%lld%%", (num.shown * 200 + den.shown) / (2 * den.shown));
    return buf;
}
