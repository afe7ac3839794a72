/* The validation-error list (tr_verror.h). */
#include "tr_verror.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tr_verrors_init(tr_verrors_t *e)
{
    memset(e, 0, sizeof(*e));
}

void tr_verrors_free(tr_verrors_t *e)
{
    free(e->items);
    memset(e, 0, sizeof(*e));
}

void tr_verrors_add(tr_verrors_t *e, const char *path, const char *code, const char *fmt, ...)
{
    size_t max = e->max ? e->max : 64;
    if (e->n >= max)
        return; /* enough to fix; a hostile record cannot make the reply huge */
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 8;
        e->items = realloc(e->items, e->cap * sizeof(*e->items));
        if (!e->items)
            abort();
    }
    tr_verror_t *v = &e->items[e->n++];
    snprintf(v->path, sizeof(v->path), "%s", path);
    snprintf(v->code, sizeof(v->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof(v->message), fmt, ap);
    va_end(ap);
}

json_t *tr_verrors_json(const tr_verrors_t *e)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < e->n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "path", e->items[i].path, "code",
                                             e->items[i].code, "message", e->items[i].message));
    return arr;
}
