/* html.c: escaping for text and attributes, CSV fields made inert for
 * spreadsheets, the table writer's HTML and CSV from the same calls, the
 * CSV link and the page frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "html.h"

static char *text_of(void (*fn)(strbuf_t *, const char *), const char *in)
{
    strbuf_t out = {0};
    fn(&out, in);
    size_t len;
    char *s = strbuf_take(&out, &len);
    return s ? s : calloc(1, 1);
}

static void test_escape_table(void **state)
{
    static const struct {
        const char *in, *want;
    } rows[] = {
        {"plain words", "plain words"},
        {"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
        {"a & b", "a &amp; b"},
        {"\"quoted\" and 'single'", "&quot;quoted&quot; and &#39;single&#39;"},
        {"{{constructor.constructor('x')()}}",
         "&#123;&#123;constructor.constructor(&#39;x&#39;)()}}"},
        {"bell\a and nul-free \x1b escape", "bell and nul-free  escape"},
        {"tab\tand\nnewline", "tab\tand\nnewline"},
        {"caf\xc3\xa9 \xe2\x9c\x93", "caf\xc3\xa9 \xe2\x9c\x93"}, /* UTF-8 passes through */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *got = text_of(html_text, rows[i].in);
        assert_string_equal(got, rows[i].want);
        free(got);
    }
    strbuf_t out = {0};
    html_text(&out, NULL); /* NULL adds nothing */
    assert_int_equal(out.len, 0);
}

static void test_url_param(void **state)
{
    char *got = text_of(html_url_param, "a b&c=d/\"<é>");
    assert_string_equal(got, "a%20b%26c%3Dd%2F%22%3C%C3%A9%3E");
    free(got);
}

static void test_csv_field(void **state)
{
    static const struct {
        const char *in, *want;
    } rows[] = {
        {"plain", "\"plain\""},
        {"say \"hi\", then go", "\"say \"\"hi\"\", then go\""},
        {"=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\""},
        {"+1+2", "\"'+1+2\""},
        {"-2+3", "\"'-2+3\""},
        {"@SUM(A1)", "\"'@SUM(A1)\""},
        {"\tTAB", "\"'\tTAB\""},
        {"line\nbreak", "\"line\nbreak\""},
        {"a=1", "\"a=1\""}, /* only a leading sign is a formula */
        {"", "\"\""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *got = text_of(html_csv_field, rows[i].in);
        assert_string_equal(got, rows[i].want);
        free(got);
    }
}

static const char *const cols[] = {"Name", "Count"};

static void fill(html_table_t *t, strbuf_t *out, bool csv)
{
    html_table_begin(t, out, csv, "Things <here>", cols, 2);
    html_table_link(t, "/viewer/x?a=1&b=\"2\"", "<b>bold</b>");
    html_table_count(t, "fewer than 8");
    html_table_cell(t, "=cmd|' /C calc'!A0");
    html_table_count(t, "15");
    html_table_end(t, "nothing");
}

static void test_table_html(void **state)
{
    strbuf_t out = {0};
    html_table_t t;
    fill(&t, &out, false);
    assert_int_equal(t.rows, 2);
    assert_non_null(strstr(out.buf, "<caption>Things &lt;here&gt;</caption>"));
    assert_non_null(strstr(out.buf, "<th scope=\"col\">Name</th><th scope=\"col\">Count</th>"));
    assert_non_null(strstr(out.buf, "<tr><td><a href=\"/viewer/x?a=1&amp;b=&quot;2&quot;\">"
                                    "&lt;b&gt;bold&lt;/b&gt;</a></td>"
                                    "<td class=\"num\">fewer than 8</td></tr>"));
    assert_non_null(strstr(out.buf, "<td>=cmd|&#39; /C calc&#39;!A0</td>"));
    assert_null(strstr(out.buf, "<b>"));
    assert_null(strstr(out.buf, "nothing")); /* rows were written */
    /* the wrapper is a keyboard-reachable region named by the caption */
    assert_non_null(strstr(out.buf, "role=\"region\" tabindex=\"0\" aria-label=\"Things &lt;"));
    strbuf_free(&out);
}

static void test_table_csv(void **state)
{
    strbuf_t out = {0};
    html_table_t t;
    fill(&t, &out, true);
    assert_string_equal(out.buf, "\"Name\",\"Count\"\r\n"
                                 "\"<b>bold</b>\",\"fewer than 8\"\r\n"
                                 "\"'=cmd|' /C calc'!A0\",\"15\"\r\n");
    strbuf_free(&out);
}

static void test_table_empty_and_short_row(void **state)
{
    strbuf_t out = {0};
    html_table_t t;
    html_table_begin(&t, &out, false, "Empty", cols, 2);
    html_table_end(&t, "No rows <match>.");
    assert_non_null(strstr(out.buf, "<p>No rows &lt;match&gt;.</p>"));
    strbuf_free(&out);
    html_table_begin(&t, &out, true, "Short", cols, 2);
    html_table_cell(&t, "only one");
    html_table_end(&t, NULL); /* padded to a whole row */
    assert_string_equal(out.buf, "\"Name\",\"Count\"\r\n\"only one\",\"\"\r\n");
    strbuf_free(&out);
}

static void test_csv_link(void **state)
{
    strbuf_t out = {0};
    html_csv_link(&out, "need=refuge&format=html&q=a%20b");
    assert_non_null(strstr(out.buf, "href=\"?need=refuge&amp;q=a%20b&amp;format=csv\""));
    strbuf_free(&out);
    html_csv_link(&out, "");
    assert_non_null(strstr(out.buf, "href=\"?format=csv\""));
    strbuf_free(&out);
    html_csv_link(&out, "formats=x\"><script>");
    assert_null(strstr(out.buf, "<script>")); /* the raw query is escaped in the attribute */
    assert_non_null(strstr(out.buf, "formats=x&quot;&gt;&lt;script&gt;"));
    strbuf_free(&out);
}

static void test_frame(void **state)
{
    strbuf_t out = {0};
    html_page_t page = {.title = "Feedback <log>",
                        .nav = "feedback",
                        .user = "alice\" onmouseover=\"x",
                        .org = "northside",
                        .easy_read = true};
    html_page_begin(&out, &page);
    html_page_end(&out);
    const char *s = out.buf;
    assert_true(strncmp(s, "<!DOCTYPE html>\n<html lang=\"en-GB\">", 34) == 0);
    assert_non_null(strstr(s, "<title>Feedback &lt;log&gt; - Trellis</title>"));
    assert_non_null(strstr(s, html_css_path()));
    assert_non_null(strstr(s, "<a class=\"skip\" href=\"#main\">"));
    assert_non_null(strstr(s, "<main id=\"main\""));
    assert_non_null(strstr(s, "<body class=\"easy-read\">"));
    assert_non_null(strstr(s, "href=\"/viewer/feedback\" aria-current=\"page\""));
    assert_non_null(strstr(s, "Signed in as <strong>alice&quot; onmouseover=&quot;x</strong>"));
    /* no inline script or style for the Content-Security-Policy to refuse */
    assert_null(strstr(s, "<script"));
    assert_null(strstr(s, "<style"));
    assert_null(strstr(s, "style="));
    assert_non_null(strstr(s, "</main>"));
    assert_non_null(strstr(s, "</html>\n"));
    strbuf_free(&out);
}

static void test_css_path(void **state)
{
    const char *p = html_css_path();
    assert_true(strncmp(p, "/viewer/static/trellis.", 23) == 0);
    assert_int_equal(strlen(p), strlen("/viewer/static/trellis.12345678.css"));
    assert_string_equal(p + strlen(p) - 4, ".css");
    assert_ptr_equal(p, html_css_path()); /* computed once */
    size_t len;
    const char *css = html_css(&len);
    assert_int_equal(len, strlen(css));
    assert_non_null(strstr(css, ":focus"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_table), cmocka_unit_test(test_url_param),
        cmocka_unit_test(test_csv_field),    cmocka_unit_test(test_table_html),
        cmocka_unit_test(test_table_csv),    cmocka_unit_test(test_table_empty_and_short_row),
        cmocka_unit_test(test_csv_link),     cmocka_unit_test(test_frame),
        cmocka_unit_test(test_css_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
