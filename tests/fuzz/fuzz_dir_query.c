/* Fuzz target for server/dir_query.c: the input is a query string (up to its first NUL). A
 * filter is either refused with a message, or within every bound the header states, and then
 * builds SQL for both lists whose placeholders are exactly its parameters. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dir_query.h"
#include "tr_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_sql(const dir_sql_t *q)
{
    if (!q->sql || q->nparams < 2 || q->nparams > DIR_MAX_PARAMS)
        abort();
    /* Every parameter is used, and no placeholder past the last. */
    for (int i = 1; i <= q->nparams + 1; i++) {
        char ph[8];
        snprintf(ph, sizeof ph, "$%d", i);
        const char *at = strstr(q->sql, ph);
        bool used = false;
        while (at && !used) {
            char next = at[strlen(ph)];
            used = next < '0' || next > '9';
            at = strstr(at + 1, ph);
        }
        if (used != (i <= q->nparams))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    dir_filter_t f;
    char err[160] = "";
    int rc = dir_filter_parse(text, NULL, &f, err, sizeof err);
    free(text);
    if (rc != 0) {
        if (rc != TR_E_INVAL || err[0] == '\0')
            abort();
        return 0;
    }
    if (f.page < 1 || f.page > DIR_PAGE_MAX || f.per_page < 1 || f.per_page > DIR_PER_PAGE_MAX ||
        f.minimum_age < -1 || f.minimum_age > 130 || f.maximum_age < -1 || f.maximum_age > 130 ||
        (f.minimum_age >= 0 && f.maximum_age >= 0 && f.minimum_age > f.maximum_age) ||
        f.proximity < 0 || f.proximity > DIR_PROXIMITY_MAX ||
        (f.proximity && !f.has_point && !f.postcode[0]) || (f.has_point && f.postcode[0]) ||
        (f.has_point && (f.lat < -90 || f.lat > 90 || f.lng < -180 || f.lng > 180)) ||
        strlen(f.search) > DIR_SEARCH_MAX)
        abort();
    dir_view_t views[2] = {{.org = "fuzz-org", .public_view = true}, {.org = NULL}};
    for (int v = 0; v < 2; v++) {
        for (int what = DIR_LIST_SERVICES; what <= DIR_LIST_SALS; what++) {
            dir_sql_t q;
            if (dir_query_build(&f, (dir_list_t)what, &views[v], &q) != 0)
                abort();
            check_sql(&q);
            dir_sql_free(&q);
        }
    }
    return 0;
}
