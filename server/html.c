/* HTML and CSV output for the viewer: context escaping, the page frame, the
 * stylesheet and the table writer. Everything here appends to a strbuf_t. */
#include "html.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void html_textn(strbuf_t *out, const char *s, size_t len)
{
    if (!s)
        return;
    size_t start = 0; /* first byte of the plain run not yet copied */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep;
        switch (c) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        case '{':
            rep = "&#123;";
            break;
        default:
            if ((c >= 0x20 && c != 0x7f) || c == '\t' || c == '\n')
                continue;
            rep = ""; /* other control characters are dropped */
            break;
        }
        strbuf_add(out, s + start, i - start);
        strbuf_puts(out, rep);
        start = i + 1;
    }
    strbuf_add(out, s + start, len - start);
}

void html_text(strbuf_t *out, const char *s)
{
    if (s)
        html_textn(out, s, strlen(s));
}

void html_url_param(strbuf_t *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            strbuf_add(out, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            strbuf_add(out, e, 3);
        }
    }
}

void html_csv_field(strbuf_t *out, const char *s)
{
    strbuf_puts(out, "\"");
    if (s && (*s == '=' || *s == '+' || *s == '-' || *s == '@' || *s == '\t' || *s == '\r'))
        strbuf_puts(out, "'");
    for (const char *p = s; p && *p; p++) {
        if (*p == '"')
            strbuf_puts(out, "\"\"");
        else
            strbuf_add(out, p, 1);
    }
    strbuf_puts(out, "\"");
}

/* ---- the stylesheet ---- */

/* Plain CSS, no external font or image. Focus is always visible (a thick
 * outline and a background), text reflows down to 320 px, and wide tables
 * scroll inside their own focusable region rather than the page. Colours
 * keep 4.5:1 contrast or more. */
static const char css[] =
    "*,*::before,*::after{box-sizing:border-box}\n"
    "html{font-family:system-ui,-apple-system,'Segoe UI',Arial,sans-serif;font-size:100%;"
    "line-height:1.5;color:#1b1b1b;background:#fff}\n"
    "body{margin:0;overflow-wrap:break-word}\n"
    "a{color:#1d4f91;text-decoration:underline}\n"
    "a:visited{color:#4c2c92}\n"
    "a:focus,button:focus,input:focus,select:focus,summary:focus,[tabindex]:focus{outline:3px "
    "solid #1b1b1b;outline-offset:2px;background:#ffdd00;color:#1b1b1b}\n"
    "main:focus{background:none;outline:none}\n"
    ".skip{position:absolute;left:-9999px;top:0}\n"
    ".skip:focus{position:static;display:block;padding:.5rem 1rem}\n"
    "header.site{background:#1d3b5a;color:#fff;padding:.5rem 1rem}\n"
    "header.site a{color:#fff}\n"
    "header.site a:focus{color:#1b1b1b}\n"
    ".brand{margin:0;font-weight:bold;font-size:1.25rem}\n"
    ".brand .org{font-weight:normal;font-size:1rem}\n"
    "nav ul{list-style:none;margin:.25rem 0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem "
    "1rem}\n"
    "nav a[aria-current]{font-weight:bold;text-decoration-thickness:3px}\n"
    ".user{margin:0;font-size:.9rem}\n"
    "main{display:block;max-width:72rem;margin:0 auto;padding:1rem}\n"
    "footer.site{max-width:72rem;margin:0 auto;padding:1rem;border-top:1px solid #767676;"
    "font-size:.9rem}\n"
    "h1{font-size:1.75rem;margin:.5rem 0 1rem}\n"
    "h2{font-size:1.35rem;margin:1.5rem 0 .5rem}\n"
    "form.filters{display:flex;flex-wrap:wrap;gap:.75rem 1rem;align-items:flex-end;"
    "margin-bottom:1rem}\n"
    "form.filters div{display:flex;flex-direction:column;min-width:10rem;max-width:100%}\n"
    "label{font-weight:bold}\n"
    "input,select,button{font:inherit;padding:.3rem .4rem;border:2px solid #1b1b1b;"
    "border-radius:0;max-width:100%;background:#fff;color:#1b1b1b}\n"
    "button{background:#1d3b5a;color:#fff;cursor:pointer}\n"
    ".table-wrap{overflow-x:auto;max-width:100%;margin:.5rem 0}\n"
    "table{border-collapse:collapse;min-width:50%}\n"
    "caption{text-align:left;font-weight:bold;padding:.25rem 0}\n"
    "th,td{border:1px solid #767676;padding:.3rem .5rem;text-align:left;vertical-align:top}\n"
    "th{background:#eef1f4}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "dl.facts{display:grid;grid-template-columns:minmax(8rem,14rem) 1fr;gap:.25rem 1rem}\n"
    "dl.facts dt{font-weight:bold}\n"
    "dl.facts dd{margin:0}\n"
    "@media (max-width:40rem){dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:"
    ".5rem}}\n"
    ".pair{display:grid;grid-template-columns:1fr 1fr;gap:1rem}\n"
    "@media (max-width:40rem){.pair{grid-template-columns:1fr}}\n"
    ".pair section{border:1px solid #767676;padding:.5rem 1rem}\n"
    ".note{border-left:4px solid #1d3b5a;padding:.25rem .75rem;background:#f3f5f7}\n"
    "body.easy-read{font-size:125%;line-height:1.8}\n"
    "body.easy-read main p,body.easy-read main li{max-width:40rem}\n"
    "ul.easy{list-style:none;padding:0}\n"
    "ul.easy>li{border:2px solid #767676;padding:.75rem 1rem;margin:0 0 1rem}\n"
    "ul.easy p{margin:.25rem 0}\n";

const char *html_css(size_t *len)
{
    if (len)
        *len = sizeof(css) - 1;
    return css;
}

const char *html_css_path(void)
{
    static char path[64];
    if (!path[0]) {
        uint32_t h = 2166136261u; /* FNV-1a over the stylesheet: its URL changes with it */
        for (size_t i = 0; i < sizeof(css) - 1; i++)
            h = (h ^ (unsigned char)css[i]) * 16777619u;
        snprintf(path, sizeof(path), "/viewer/static/trellis.%08x.css", h);
    }
    return path;
}

/* ---- the frame ---- */

static const struct {
    const char *key, *href, *label;
} nav_items[] = {
    {"directory", "/viewer/directory", "Directory"},
    {"coverage", "/viewer/coverage", "Coverage"},
    {"pathways", "/viewer/pathways", "Pathways"},
    {"feedback", "/viewer/feedback", "Feedback"},
    {"easy-read", "/viewer/feedback/easy-read", "Easy read"},
};

void html_page_begin(strbuf_t *out, const html_page_t *page)
{
    strbuf_puts(out, "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<title>");
    html_text(out, page->title);
    strbuf_puts(out, " - Trellis</title>\n<link rel=\"stylesheet\" href=\"");
    strbuf_puts(out, html_css_path());
    strbuf_printf(out, "\">\n</head>\n<body%s>\n", page->easy_read ? " class=\"easy-read\"" : "");
    strbuf_puts(out,
                "<a class=\"skip\" href=\"#main\">Skip to main content</a>\n"
                "<header class=\"site\">\n<p class=\"brand\"><a href=\"/viewer/\">Trellis</a>");
    if (page->org && page->org[0]) {
        strbuf_puts(out, " <span class=\"org\">");
        html_text(out, page->org);
        strbuf_puts(out, "</span>");
    }
    strbuf_puts(out, "</p>\n<nav aria-label=\"Main\">\n<ul>\n");
    for (size_t i = 0; i < sizeof(nav_items) / sizeof(nav_items[0]); i++) {
        bool here = page->nav && strcmp(page->nav, nav_items[i].key) == 0;
        strbuf_printf(out, "<li><a href=\"%s\"%s>%s</a></li>\n", nav_items[i].href,
                      here ? " aria-current=\"page\"" : "", nav_items[i].label);
    }
    strbuf_puts(out, "</ul>\n</nav>\n");
    if (page->user && page->user[0]) {
        strbuf_puts(out, "<p class=\"user\">Signed in as <strong>");
        html_text(out, page->user);
        strbuf_puts(out, "</strong></p>\n");
    }
    strbuf_puts(out, "</header>\n<main id=\"main\" tabindex=\"-1\">\n<h1>");
    html_text(out, page->title);
    strbuf_puts(out, "</h1>\n");
}

void html_page_end(strbuf_t *out)
{
    strbuf_puts(out, "</main>\n<footer class=\"site\">\n<p>A read-only view of what this node "
                     "holds, as its organisation may see it through Trellis. Services and "
                     "feedback come from the consortium's members; counts of people and "
                     "referrals follow the consortium's small-number rule.</p>\n</footer>\n"
                     "</body>\n</html>\n");
}

void html_csv_link(strbuf_t *out, const char *query)
{
    strbuf_t href = {0};
    strbuf_puts(&href, "?");
    /* Every parameter but format, as sent (already percent-encoded). */
    const char *p = query ? query : "";
    while (*p) {
        size_t n = strcspn(p, "&");
        if (!(n >= 6 && strncmp(p, "format", 6) == 0 && (n == 6 || p[6] == '='))) {
            strbuf_add(&href, p, n);
            strbuf_puts(&href, "&");
        }
        p += n;
        if (*p == '&')
            p++;
    }
    strbuf_puts(&href, "format=csv");
    strbuf_puts(out, "<p><a href=\"");
    html_attr(out, href.buf);
    strbuf_puts(out, "\" download>Download this table (CSV)</a></p>\n");
    strbuf_free(&href);
}

/* ---- tables ---- */

void html_table_begin(html_table_t *t, strbuf_t *out, bool csv, const char *caption,
                      const char *const *cols, int n_cols)
{
    memset(t, 0, sizeof(*t));
    t->out = out;
    t->csv = csv;
    t->n_cols = n_cols;
    if (csv) {
        for (int i = 0; i < n_cols; i++) {
            if (i)
                strbuf_puts(out, ",");
            html_csv_field(out, cols[i]);
        }
        strbuf_puts(out, "\r\n");
        return;
    }
    /* A region of its own: a wide table scrolls there, reachable by keyboard. */
    strbuf_puts(out, "<div class=\"table-wrap\" role=\"region\" tabindex=\"0\" aria-label=\"");
    html_attr(out, caption);
    strbuf_puts(out, "\">\n<table>\n<caption>");
    html_text(out, caption);
    strbuf_puts(out, "</caption>\n<thead><tr>");
    for (int i = 0; i < n_cols; i++) {
        strbuf_puts(out, "<th scope=\"col\">");
        html_text(out, cols[i]);
        strbuf_puts(out, "</th>");
    }
    strbuf_puts(out, "</tr></thead>\n<tbody>\n");
}

/* Open a cell (and its row if it is the first); CSV separates fields. */
static void cell_open(html_table_t *t, const char *cls)
{
    if (t->csv) {
        if (t->col)
            strbuf_puts(t->out, ",");
    } else {
        if (t->col == 0)
            strbuf_puts(t->out, "<tr>");
        strbuf_puts(t->out, cls ? "<td class=\"num\">" : "<td>");
    }
}

static void cell_close(html_table_t *t)
{
    if (!t->csv)
        strbuf_puts(t->out, "</td>");
    if (++t->col == t->n_cols) {
        strbuf_puts(t->out, t->csv ? "\r\n" : "</tr>\n");
        t->col = 0;
        t->rows++;
    }
}

void html_table_cell(html_table_t *t, const char *s)
{
    cell_open(t, NULL);
    if (t->csv)
        html_csv_field(t->out, s ? s : "");
    else
        html_text(t->out, s);
    cell_close(t);
}

void html_table_link(html_table_t *t, const char *href, const char *s)
{
    cell_open(t, NULL);
    if (t->csv) {
        html_csv_field(t->out, s ? s : "");
    } else {
        strbuf_puts(t->out, "<a href=\"");
        html_attr(t->out, href);
        strbuf_puts(t->out, "\">");
        html_text(t->out, s);
        strbuf_puts(t->out, "</a>");
    }
    cell_close(t);
}

void html_table_count(html_table_t *t, const char *shown)
{
    cell_open(t, "num");
    if (t->csv)
        html_csv_field(t->out, shown ? shown : "");
    else
        html_text(t->out, shown);
    cell_close(t);
}

void html_table_end(html_table_t *t, const char *when_empty)
{
    while (t->col) /* a short last row is padded, never left open */
        html_table_cell(t, NULL);
    if (t->csv)
        return;
    strbuf_puts(t->out, "</tbody>\n</table>\n</div>\n");
    if (t->rows == 0 && when_empty) {
        strbuf_puts(t->out, "<p>");
        html_text(t->out, when_empty);
        strbuf_puts(t->out, "</p>\n");
    }
}
