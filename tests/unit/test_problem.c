/* problem+json rendering and the error-code table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tr_error.h"
#include "tr_problem.h"

static void test_render_fields(void **state)
{
    size_t len = 0;
    char *text = tr_problem_render(431, "header-too-large", "headers exceed 16384 bytes", &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    json_error_t e;
    json_t *doc = json_loads(text, 0, &e);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "type")),
                        "https://trellis.invalid/problems/header-too-large");
    assert_string_equal(json_string_value(json_object_get(doc, "title")),
                        "Request Header Fields Too Large");
    assert_int_equal(json_integer_value(json_object_get(doc, "status")), 431);
    assert_string_equal(json_string_value(json_object_get(doc, "detail")),
                        "headers exceed 16384 bytes");
    json_decref(doc);
    free(text);
}

static void test_render_without_detail(void **state)
{
    char *text = tr_problem_render(404, "not-found", NULL, NULL);
    assert_non_null(text);
    assert_null(strstr(text, "detail"));
    free(text);
}

static void test_detail_is_escaped(void **state)
{
    char *text = tr_problem_render(400, "bad", "quote \" and \\ and \n newline", NULL);
    json_t *doc = json_loads(text, 0, NULL);
    assert_non_null(doc); /* still valid JSON */
    assert_string_equal(json_string_value(json_object_get(doc, "detail")),
                        "quote \" and \\ and \n newline");
    json_decref(doc);
    free(text);
}

static void test_reasons(void **state)
{
    static const struct {
        int status;
        const char *reason;
    } rows[] = {{100, "Continue"},
                {200, "OK"},
                {400, "Bad Request"},
                {404, "Not Found"},
                {405, "Method Not Allowed"},
                {408, "Request Timeout"},
                {413, "Content Too Large"},
                {414, "URI Too Long"},
                {417, "Expectation Failed"},
                {503, "Service Unavailable"},
                {299, "Unknown"}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_string_equal(tr_http_reason(rows[i].status), rows[i].reason);
}

static void test_error_names(void **state)
{
    assert_string_equal(tr_err_name(TR_E_LIMIT), "TR_E_LIMIT");
    assert_string_equal(tr_strerror(TR_E_DB_UNAVAILABLE), "database unavailable");
    assert_string_equal(tr_err_name(0), "OK");
    assert_string_equal(tr_err_name(-5), "UNKNOWN");
    assert_true(TR_E_NOMEM < 0 && TR_E_CANCELLED < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_fields),     cmocka_unit_test(test_render_without_detail),
        cmocka_unit_test(test_detail_is_escaped), cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_error_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
