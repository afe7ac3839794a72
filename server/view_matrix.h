/* A from x to matrix of counts for the viewer's pathways page: drawn by the
 * node as SVG (a cell per pair, shaded by its published count) and written
 * as the same table in HTML or CSV beside it, its text alternative. Every
 * figure is what the small-number rule published (proto/tr_smallnum.h). */
#ifndef TRELLIS_VIEW_MATRIX_H
#define TRELLIS_VIEW_MATRIX_H

#include "strbuf.h"
#include "tr_smallnum.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *id;               /* unique on the page, [a-z-] (element ids) */
    const char *caption;          /* the table's caption and the drawing's name */
    const char *row_head;         /* heading of the label column, "From" */
    const char *const *rows;      /* row labels, plain text from records (borrowed) */
    const char *const *cols;      /* column labels (borrowed) */
    size_t n_rows, n_cols;        /* those of the table */
    const tr_smallnum_table_t *t; /* applied (tr_smallnum_apply) */
    const tr_smallnum_rule_t *rule;
} view_matrix_t;

/* The drawing: <figure> with an inline <svg role="img">, named by the
 * caption, cells shaded in six steps of the largest shown count, hidden
 * cells grey and marked; labels escaped, long ones shortened. Only
 * attributes (no style): the viewer's Content-Security-Policy forbids
 * inline style. */
void view_matrix_svg(strbuf_t *out, const view_matrix_t *m);

/* The table: the label column, a column per m->cols and "Total", a row per
 * m->rows and "Total", as HTML (html_table) or CSV. */
void view_matrix_table(strbuf_t *out, bool csv, const view_matrix_t *m);

/* Copy label into buf (at least 4 bytes longer than max), cut at max bytes
 * on a UTF-8 character boundary with "..." added when it was longer. */
const char *view_short_label(const char *label, size_t max, char *buf, size_t len);

#endif
