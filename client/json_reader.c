/* JSON and NDJSON exports (json_reader.h). The splitter tracks only depth
 * and strings to find where each record ends; jansson parses the record. */
#include "json_reader.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const src_sink_t *sink;
    const char *name;
    char *err;
    size_t err_len;
} jr_t;

static int fail(jr_t *j, long line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(jr_t *j, long line, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(j->err, j->err_len, "%s line %ld: %s", j->name, line, msg);
    return SRC_E_BAD;
}

/* One value as text; NULL for null. -1 for what a flat export cannot hold. */
static int value_text(json_t *v, char **out)
{
    char buf[64];
    *out = NULL;
    switch (json_typeof(v)) {
    case JSON_NULL:
        return 0;
    case JSON_STRING:
        *out = strdup(json_string_value(v));
        break;
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *out = strdup(buf);
        break;
    case JSON_REAL:
        snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
        *out = strdup(buf);
        break;
    case JSON_TRUE:
        *out = strdup("true");
        break;
    case JSON_FALSE:
        *out = strdup("false");
        break;
    case JSON_ARRAY: {
        /* A list of codes: its items joined by ';'. */
        size_t i, len = 0;
        json_t *item;
        char **parts = calloc(json_array_size(v) + 1, sizeof(char *));
        if (!parts)
            abort();
        int rc = 0;
        json_array_foreach(v, i, item)
        {
            if (json_is_array(item) || json_is_object(item) || value_text(item, &parts[i]) != 0) {
                rc = -1;
                break;
            }
            len += (parts[i] ? strlen(parts[i]) : 0) + 1;
        }
        if (rc == 0) {
            *out = calloc(1, len + 1);
            if (!*out)
                abort();
            for (i = 0; i < json_array_size(v); i++) {
                if (i)
                    strcat(*out, ";");
                if (parts[i])
                    strcat(*out, parts[i]);
            }
        }
        for (i = 0; i < json_array_size(v); i++)
            free(parts[i]);
        free(parts);
        return rc;
    }
    case JSON_OBJECT:
        return -1;
    }
    if (!*out)
        abort();
    return 0;
}

static int emit(jr_t *j, const char *buf, size_t len, long line)
{
    json_error_t e;
    json_t *doc = json_loadb(buf, len, 0, &e);
    if (!doc)
        return fail(j, line + e.line - 1, "not valid JSON (%s)", e.text);
    int rc = 0;
    size_t n = json_object_size(doc);
    if (n > SRC_MAX_COLUMNS) {
        json_decref(doc);
        return fail(j, line, "more than %d members in a record", SRC_MAX_COLUMNS);
    }
    const char **names = calloc(n + 1, sizeof(char *));
    char **values = calloc(n + 1, sizeof(char *));
    if (!names || !values)
        abort();
    const char *key;
    json_t *v;
    size_t i = 0;
    json_object_foreach(doc, key, v)
    {
        names[i] = key;
        if (value_text(v, &values[i]) != 0) {
            rc = fail(j, line, "member '%.60s' holds a nested object; exports must be flat", key);
            break;
        }
        if (values[i] && strlen(values[i]) > SRC_MAX_FIELD) {
            rc = fail(j, line, "member '%.60s' is over %u KiB", key, SRC_MAX_FIELD >> 10);
            break;
        }
        i++;
    }
    if (rc == 0) {
        src_row_t row = {j->name, line, n, names, (const char *const *)values};
        rc = j->sink->on_row(j->sink->ctx, &row);
    }
    for (size_t k = 0; k < n; k++)
        free(values[k]);
    free(values);
    free(names);
    json_decref(doc);
    return rc;
}

int json_read(FILE *f, const char *name, const src_sink_t *sink, char *err, size_t err_len)
{
    jr_t j = {sink, name, err, err_len};
    enum { START, BETWEEN, IN_RECORD, AFTER_ARRAY } state = START;
    bool array = false, in_str = false, esc = false, seen_any = false, need_comma = false;
    int depth = 0;
    long line = 1, rec_line = 0;
    char *rec = NULL;
    size_t rec_len = 0, rec_cap = 0;
    char *buf = malloc(65536);
    if (!buf)
        abort();
    int rc = 0;
    size_t got;
    bool first = true;
    while (rc == 0 && (got = fread(buf, 1, 65536, f)) > 0) {
        size_t i = 0;
        if (first && got >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
            i = 3;
        first = false;
        for (; i < got && rc == 0; i++) {
            char c = buf[i];
            if (state == IN_RECORD) {
                if (rec_len + 1 >= rec_cap) {
                    if (rec_cap >= SRC_MAX_RECORD) {
                        rc = fail(&j, rec_line, "a record is over %u KiB", SRC_MAX_RECORD >> 10);
                        break;
                    }
                    rec_cap = rec_cap ? rec_cap * 2 : 4096;
                    rec = realloc(rec, rec_cap);
                    if (!rec)
                        abort();
                }
                rec[rec_len++] = c;
                if (c == '\n')
                    line++;
                if (in_str) {
                    if (esc)
                        esc = false;
                    else if (c == '\\')
                        esc = true;
                    else if (c == '"')
                        in_str = false;
                } else if (c == '"') {
                    in_str = true;
                } else if (c == '{' || c == '[') {
                    depth++;
                } else if (c == '}' || c == ']') {
                    if (--depth == 0) {
                        rc = emit(&j, rec, rec_len, rec_line);
                        rec_len = 0;
                        state = BETWEEN;
                        need_comma = array;
                    }
                }
                continue;
            }
            if (c == '\n')
                line++;
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
                continue;
            if (state == START && c == '[') {
                array = true;
                state = BETWEEN;
            } else if ((state == START || state == BETWEEN) && c == '{' && !need_comma) {
                state = IN_RECORD;
                seen_any = true;
                depth = 1;
                rec_line = line;
                rec_len = 0;
                if (rec_cap == 0) {
                    rec_cap = 4096;
                    rec = malloc(rec_cap);
                    if (!rec)
                        abort();
                }
                rec[rec_len++] = c;
            } else if (state == BETWEEN && array && c == ',' && need_comma) {
                need_comma = false;
            } else if (state == BETWEEN && array && c == ']' && (need_comma || !seen_any)) {
                state = AFTER_ARRAY;
            } else {
                rc = fail(&j, line, "%s",
                          state == AFTER_ARRAY ? "text after the end of the array"
                                               : "expected a record (a JSON object)");
            }
        }
    }
    if (rc == 0 && ferror(f))
        rc = fail(&j, line, "cannot read the file");
    if (rc == 0 && state == START)
        rc = fail(&j, line, "the file is empty (no JSON array or records)");
    if (rc == 0 && state == IN_RECORD)
        rc = fail(&j, rec_line, "the record is not closed before the end of the file");
    if (rc == 0 && array && state != AFTER_ARRAY)
        rc = fail(&j, line, "the array is not closed before the end of the file");
    free(rec);
    free(buf);
    return rc;
}
