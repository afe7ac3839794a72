/* The pathways page's matrices: SVG drawn by the node (no script, no
 * external asset) and the same figures as a table, which is the drawing's
 * text alternative and its CSV. */
#include "view_matrix.h"
#include "html.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CELL_W 64
#define CELL_H 32
#define LEFT 210 /* room for the row labels */
#define TOP 150  /* room for the column labels, turned 45 degrees */
#define LABEL_MAX 28

/* Six shades of one blue, and the text colour that keeps a contrast of
 * 4.5:1 or more on each (black on the light ones, white on the dark). */
static const char *const fill_opacity[6] = {"0.1", "0.25", "0.4", "0.7", "0.85", "1"};
static const char *const text_on[6] = {"#000000", "#000000", "#000000",
                                       "#ffffff", "#ffffff", "#ffffff"};
#define SHADE "#08306b"

const char *view_short_label(const char *label, size_t max, char *buf, size_t len)
{
    if (!label)
        label = "";
    size_t n = strlen(label);
    if (n <= max || len < max + 4) {
        snprintf(buf, len, "%s", label);
        return buf;
    }
    size_t cut = max;
    while (cut > 0 && ((unsigned char)label[cut] & 0xC0) == 0x80)
        cut--; /* not in the middle of a character */
    snprintf(buf, len, "%.*s...", (int)cut, label);
    return buf;
}

static void svg_text(strbuf_t *out, const char *label)
{
    char s[LABEL_MAX + 8];
    html_text(out, view_short_label(label, LABEL_MAX, s, sizeof(s)));
}

void view_matrix_svg(strbuf_t *out, const view_matrix_t *m)
{
    long long max = 0;
    for (size_t i = 0; i < m->n_rows; i++)
        for (size_t j = 0; j < m->n_cols; j++) {
            tr_sn_cell_t c = tr_smallnum_get(m->t, i, j);
            if (c.state == TR_SN_SHOWN && c.shown > max)
                max = c.shown;
        }
    int w = LEFT + (int)m->n_cols * CELL_W + 10, h = TOP + (int)m->n_rows * CELL_H + 10;
    strbuf_printf(out,
                  "<figure class=\"matrix\">\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
                  "viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" "
                  "aria-labelledby=\"%s-title\">\n<title id=\"%s-title\">",
                  w, h, m->id, m->id);
    html_text(out, m->caption);
    strbuf_puts(out, " (the table below gives the same figures)</title>\n");
    for (size_t j = 0; j < m->n_cols; j++) {
        strbuf_printf(out,
                      "<text x=\"%d\" y=\"%d\" font-size=\"13\" fill=\"#000000\" "
                      "transform=\"rotate(-45 %d %d)\">",
                      LEFT + (int)j * CELL_W + CELL_W / 2, TOP - 8,
                      LEFT + (int)j * CELL_W + CELL_W / 2, TOP - 8);
        svg_text(out, m->cols[j]);
        strbuf_puts(out, "</text>\n");
    }
    for (size_t i = 0; i < m->n_rows; i++) {
        int y = TOP + (int)i * CELL_H;
        strbuf_printf(out,
                      "<text x=\"%d\" y=\"%d\" font-size=\"13\" fill=\"#000000\" "
                      "text-anchor=\"end\">",
                      LEFT - 8, y + CELL_H / 2 + 5);
        svg_text(out, m->rows[i]);
        strbuf_puts(out, "</text>\n");
        for (size_t j = 0; j < m->n_cols; j++) {
            int x = LEFT + (int)j * CELL_W;
            tr_sn_cell_t c = tr_smallnum_get(m->t, i, j);
            const char *label, *ink;
            char num[TR_SMALLNUM_TEXT_MAX];
            if (c.state == TR_SN_SHOWN) {
                int step = 0;
                if (c.shown == 0)
                    step = -1;
                else if (max > 0)
                    step = (int)((c.shown * 6 - 1) / max); /* 0..5 */
                if (step >= 0)
                    strbuf_printf(out,
                                  "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                                  "fill=\"" SHADE "\" fill-opacity=\"%s\" stroke=\"#ffffff\"/>\n",
                                  x, y, CELL_W, CELL_H, fill_opacity[step]);
                snprintf(num, sizeof(num), "%lld", c.shown);
                label = num;
                ink = step >= 0 ? text_on[step] : "#595959";
            } else {
                /* Hidden: grey, marked "<N" (small) or "-" (hidden to protect one). */
                strbuf_printf(out,
                              "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                              "fill=\"#e8e8e8\" stroke=\"#ffffff\"/>\n",
                              x, y, CELL_W, CELL_H);
                if (c.state == TR_SN_SMALL)
                    snprintf(num, sizeof(num), "&lt;%lld", m->rule->threshold);
                else
                    snprintf(num, sizeof(num), "-");
                label = num;
                ink = "#000000";
            }
            strbuf_printf(out,
                          "<text x=\"%d\" y=\"%d\" font-size=\"13\" fill=\"%s\" "
                          "text-anchor=\"middle\">%s</text>\n",
                          x + CELL_W / 2, y + CELL_H / 2 + 5, ink, label);
        }
    }
    strbuf_puts(out, "</svg>\n<figcaption>");
    html_text(out, m->caption);
    strbuf_printf(out,
                  ". Darker is more referrals; &lt;%lld is fewer than %lld, - is not shown so "
                  "that a smaller number cannot be worked out.</figcaption>\n</figure>\n",
                  m->rule->threshold, m->rule->threshold);
}

static void count_cell(html_table_t *ht, const view_matrix_t *m, size_t i, size_t j)
{
    char s[TR_SMALLNUM_TEXT_MAX];
    html_table_count(ht, tr_smallnum_text(m->rule, tr_smallnum_get(m->t, i, j), s, sizeof(s)));
}

void view_matrix_table(strbuf_t *out, bool csv, const view_matrix_t *m)
{
    size_t n = m->n_cols + 2;
    const char **heads = calloc(n, sizeof(*heads));
    if (!heads)
        abort();
    heads[0] = m->row_head;
    for (size_t j = 0; j < m->n_cols; j++)
        heads[j + 1] = m->cols[j];
    heads[n - 1] = "Total";
    html_table_t ht;
    html_table_begin(&ht, out, csv, m->caption, heads, (int)n);
    free(heads);
    for (size_t i = 0; i <= m->n_rows; i++) {
        html_table_cell(&ht, i < m->n_rows ? m->rows[i] : "Total");
        for (size_t j = 0; j <= m->n_cols; j++)
            count_cell(&ht, m, i, j);
    }
    html_table_end(&ht, "Nothing to show.");
}
