/* The export readers: CSV as CMSs and Excel write it (BOM, CRLF, quoted
 * commas, quotes and newlines, columns in any order, ragged rows, empty
 * files, bad quoting, non-UTF-8), with the line each row starts on; JSON
 * arrays and NDJSON, streamed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_reader.h"
#include "json_reader.h"

#define MAX_ROWS 16

typedef struct {
    char header[512];
    long header_line;
    size_t n;
    long lines[MAX_ROWS];
    char rows[MAX_ROWS][512]; /* name=value|name=value */
    int stop_at;              /* stop (return 7) at this row, 0: never */
} got_t;

static int on_header(void *ctx, const char *const *names, size_t n, long line)
{
    got_t *g = ctx;
    g->header_line = line;
    for (size_t i = 0; i < n; i++) {
        strcat(g->header, i ? "|" : "");
        strcat(g->header, names[i]);
    }
    return 0;
}

static int on_row(void *ctx, const src_row_t *row)
{
    got_t *g = ctx;
    if (g->n >= MAX_ROWS)
        return 1;
    g->lines[g->n] = row->line;
    char *out = g->rows[g->n];
    for (size_t i = 0; i < row->n; i++) {
        strcat(out, i ? "|" : "");
        strcat(out, row->names[i]);
        strcat(out, "=");
        strcat(out, row->values[i] ? row->values[i] : "(null)");
    }
    g->n++;
    return g->stop_at && (int)g->n == g->stop_at ? 7 : 0;
}

static int read_csv(const char *text, size_t len, got_t *g, char *err)
{
    memset(g->header, 0, sizeof(g->header));
    FILE *f = fmemopen((void *)text, len, "r");
    assert_non_null(f);
    src_sink_t sink = {on_header, on_row, g};
    int rc = csv_read(f, "export.csv", &sink, err, 256);
    fclose(f);
    return rc;
}

static void test_csv_excel(void **state)
{
    static const char text[] = "\xef\xbb\xbf"
                               "Case Ref,Notes,Date\r\n"
                               "A1,\"plain, with a comma\",01/02/2026\r\n"
                               "A2,\"she said \"\"no\"\"\",02/02/2026\r\n"
                               "A3,\"two\r\nlines\",03/02/2026\r\n"
                               "\r\n"
                               "A4,,04/02/2026\r\n"
                               ",,\r\n"
                               "A5,last,05/02/2026";
    got_t g = {0};
    char err[256] = "";
    assert_int_equal(read_csv(text, sizeof(text) - 1, &g, err), 0);
    assert_string_equal(g.header, "Case Ref|Notes|Date"); /* the BOM is gone */
    assert_int_equal(g.header_line, 1);
    assert_int_equal(g.n, 5);
    assert_string_equal(g.rows[0], "Case Ref=A1|Notes=plain, with a comma|Date=01/02/2026");
    assert_string_equal(g.rows[1], "Case Ref=A2|Notes=she said \"no\"|Date=02/02/2026");
    assert_string_equal(g.rows[2], "Case Ref=A3|Notes=two\r\nlines|Date=03/02/2026");
    assert_string_equal(g.rows[3], "Case Ref=A4|Notes=|Date=04/02/2026");
    assert_string_equal(g.rows[4], "Case Ref=A5|Notes=last|Date=05/02/2026");
    /* Lines: rows start on 2, 3, 4 (two lines), then a blank line 6. */
    assert_int_equal(g.lines[0], 2);
    assert_int_equal(g.lines[1], 3);
    assert_int_equal(g.lines[2], 4);
    assert_int_equal(g.lines[3], 7);
    assert_int_equal(g.lines[4], 9);
}

static void test_csv_lf_and_short_rows(void **state)
{
    static const char text[] = "b,a,c\n1,2,3\n4,5\n\n6,7,8\n";
    got_t g = {0};
    char err[256] = "";
    assert_int_equal(read_csv(text, sizeof(text) - 1, &g, err), 0);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.rows[1], "b=4|a=5|c="); /* a missing trailing value is empty */
    assert_int_equal(g.lines[0], 2);
    assert_int_equal(g.lines[1], 3);
    assert_int_equal(g.lines[2], 5);
}

static void test_csv_errors(void **state)
{
    static const struct {
        const char *text;
        const char *want; /* in err */
    } cases[] = {
        {"", "export.csv line 1: the file is empty (no header row)"},
        {"\xef\xbb\xbf", "the file is empty"},
        {"\n\n", "no header row"},
        {"a,b\n1,2\n3,4,5\n", "line 3: 3 values, more than the header's 2 columns"},
        {"a,b\n1,\"open\n", "a quoted value is not closed"},
        {"a,b\n1,\"x\"y\n", "line 2: malformed quoting"},
        {"a,b\n1,caf\xe9\n", "line 2: the value in column 'b' is not UTF-8"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        got_t g = {0};
        char err[256] = "";
        int rc = read_csv(cases[i].text, strlen(cases[i].text), &g, err);
        if (rc != SRC_E_BAD || !strstr(err, cases[i].want))
            fail_msg("case %zu: rc %d err '%s'", i, rc, err);
    }
    /* A header alone is an export with no rows, not an error. */
    got_t g = {0};
    char err[256] = "";
    assert_int_equal(read_csv("a,b\r\n", 5, &g, err), 0);
    assert_int_equal(g.n, 0);
}

static void test_csv_limits_and_stop(void **state)
{
    size_t big = 70 * 1024;
    char *text = malloc(big + 16);
    strcpy(text, "a\n\"");
    memset(text + 3, 'x', big);
    strcpy(text + 3 + big, "\"\n");
    got_t g = {0};
    char err[256] = "";
    assert_int_equal(read_csv(text, strlen(text), &g, err), SRC_E_BAD);
    assert_non_null(strstr(err, "over 64 KiB"));
    free(text);

    got_t s = {.stop_at = 2};
    assert_int_equal(read_csv("a\n1\n2\n3\n", 8, &s, err), 7);
    assert_int_equal(s.n, 2);
}

static int read_json(const char *text, got_t *g, char *err)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    src_sink_t sink = {NULL, on_row, g};
    int rc = json_read(f, "export.json", &sink, err, 256);
    fclose(f);
    return rc;
}

static void test_json(void **state)
{
    got_t g = {0};
    char err[256] = "";
    assert_int_equal(read_json("[\n {\"ref\": \"A1\", \"age\": 34, \"needs\": [\"a\", \"b\"]},\n"
                               " {\"ref\": \"A}2\", \"note\": null, \"ok\": true}\n]\n",
                               &g, err),
                     0);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.rows[0], "ref=A1|age=34|needs=a;b");
    assert_string_equal(g.rows[1], "ref=A}2|note=(null)|ok=true");
    assert_int_equal(g.lines[0], 2);
    assert_int_equal(g.lines[1], 3);

    got_t n = {0};
    assert_int_equal(read_json("{\"ref\":\"A1\"}\n\n{\"ref\":\"A2\"}\n", &n, err), 0);
    assert_int_equal(n.n, 2);
    assert_int_equal(n.lines[1], 3);

    got_t e = {0};
    assert_int_equal(read_json("[]", &e, err), 0);
    assert_int_equal(e.n, 0);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"", "the file is empty"},
        {"[{\"a\":1},\n{\"a\":{\"b\":2}}]", "line 2: member 'a' holds a nested object"},
        {"[{\"a\":1}", "the array is not closed"},
        {"[{\"a\":1} {\"a\":2}]", "expected a record"},
        {"[1, 2]", "expected a record"},
        {"{\"a\":1}\n{\"a\":", "line 2: the record is not closed"},
        {"[{\"a\":tru}]", "not valid JSON"},
        {"[{\"a\":1}] x", "text after the end of the array"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        got_t b = {0};
        char e2[256] = "";
        int rc = read_json(bad[i].text, &b, e2);
        if (rc != SRC_E_BAD || !strstr(e2, bad[i].want))
            fail_msg("case %zu: rc %d err '%s'", i, rc, e2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_excel),  cmocka_unit_test(test_csv_lf_and_short_rows),
        cmocka_unit_test(test_csv_errors), cmocka_unit_test(test_csv_limits_and_stop),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
