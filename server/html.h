/* HTML for the viewer: escaping, the page frame and a table writer that
 * gives the same rows as an HTML table or as CSV. No I/O and no libuv:
 * pages are built into a strbuf_t and sent by viewer.h.
 *
 * How a page module uses it (viewer.h has the request side; see
 * server/view_feedback.c for a whole page):
 *
 *     if (viewer_bad_query(req, allowed))         // unknown parameter or format: 400 sent
 *         return;
 *     bool csv = viewer_wants_csv(req);          // ?format=csv: the table only
 *     strbuf_t out = {0};
 *     if (!csv)
 *         viewer_page_begin(req, &out, "Feedback", "feedback", false);  // frame, nav, user
 *     html_table_t t;
 *     html_table_begin(&t, &out, csv, "Feedback entries", cols, n_cols);
 *     html_table_cell(&t, value_from_a_record);  // escaped for HTML or CSV
 *     html_table_count(&t, shown);               // a count, after the small-number rule
 *     html_table_end(&t, "No entries match.");
 *     if (!csv) {
 *         html_csv_link(&out, req->http->query);  // "Download this table (CSV)"
 *         html_page_end(&out);
 *     }
 *     if (csv)
 *         viewer_send_csv(req, "feedback.csv", &out);  // both free out; req is gone after
 *     else
 *         viewer_send_html(req, 200, &out);
 *
 * Every value that came from a record (or from the request) goes through
 * html_text, html_table_cell or html_attr: records are written by other
 * organisations, and a "<script>" in a description must show as text. The
 * frame loads one stylesheet from the node (html_css_path) and no script;
 * the Content-Security-Policy forbids inline style and script, so no
 * style="" attributes and no <script> or <style> elements in pages. */
#ifndef TRELLIS_HTML_H
#define TRELLIS_HTML_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

/* Text for an element's content or a double-quoted attribute value:
 * & < > " ' escaped, and { too (no template on any page can then read
 * "{{" from a record); control characters other than tab and newline are
 * dropped. s may be NULL (nothing is added). */
void html_text(strbuf_t *out, const char *s);
void html_textn(strbuf_t *out, const char *s, size_t len);
/* The same escaping, under the name that says where it goes. */
#define html_attr html_text

/* A query-string value: percent-encoded (RFC 3986 unreserved kept), for
 * building links such as "?need=" + value; then html_attr the whole href
 * (html_url_param's output is already safe in an attribute). */
void html_url_param(strbuf_t *out, const char *s);

/* A CSV field (RFC 4180): quoted, quotes doubled, and a value starting with
 * = + - @ tab or CR made inert with a leading apostrophe so that a
 * spreadsheet shows it instead of running it as a formula. */
void html_csv_field(strbuf_t *out, const char *s);

/* The stylesheet's path, versioned by a hash of its content
 * ("/viewer/static/trellis.1a2b3c4d.css"): served with a year's caching,
 * so a changed stylesheet gets a new URL. */
const char *html_css_path(void);
/* The stylesheet itself. */
const char *html_css(size_t *len);

/* The page frame: doctype, <head> with title and stylesheet, a skip link,
 * the header with the site name, navigation and the signed-in user, then
 * <main id="main">. nav names the current section ("directory",
 * "coverage", "pathways", "feedback", "easy-read"; NULL for none) so that
 * its link carries aria-current. title and user are escaped here. */
typedef struct {
    const char *title; /* the page's own title, plain text */
    const char *nav;   /* current section, or NULL */
    const char *user;  /* signed-in user from the trusted proxy, or NULL */
    const char *org;   /* this node's organisation */
    bool easy_read;    /* larger text, more space: <body class="easy-read"> */
} html_page_t;

void html_page_begin(strbuf_t *out, const html_page_t *page);
/* Closes <main>, adds the footer, closes the document. */
void html_page_end(strbuf_t *out);

/* A link to the same page as CSV: query is the request's raw query string
 * (its format parameter, if any, is replaced by format=csv). */
void html_csv_link(strbuf_t *out, const char *query);

/* ---- tables: the same rows as HTML or CSV ---- */

typedef struct {
    strbuf_t *out;
    bool csv;
    int n_cols;
    int col; /* cells written in the current row */
    int rows;
} html_table_t;

/* Open a table with a caption (HTML only; CSV has a header row). cols are
 * the column headings (plain text, copied into the output at once). */
void html_table_begin(html_table_t *t, strbuf_t *out, bool csv, const char *caption,
                      const char *const *cols, int n_cols);
/* The next cell, text escaped for the output. Rows end by themselves after
 * n_cols cells. s may be NULL (an empty cell). */
void html_table_cell(html_table_t *t, const char *s);
/* A cell linking to href (a path built by the page: escaped as an
 * attribute); CSV gets the text only. */
void html_table_link(html_table_t *t, const char *href, const char *s);
/* A count or figure (already passed through the small-number rule when it
 * counts people or records): right-aligned in HTML. */
void html_table_count(html_table_t *t, const char *shown);
/* Close the table; an HTML table with no rows says so in a paragraph. */
void html_table_end(html_table_t *t, const char *when_empty);

#endif
