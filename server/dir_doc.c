/* The directory index's kept documents as text. A page is assembled from
 * the bodies as PostgreSQL wrote them (jsonb's text: members in its
 * order), so that the reply a renderer makes of it is the SQL path's,
 * byte for byte, without parsing anything here. The scanner below only
 * walks valid JSON it was handed by the database; on anything else it
 * says "not found", never reads past the end. */
#include "dir_doc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Past the string whose opening quote is at p; NULL when unterminated. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Past the JSON value starting at p; NULL when malformed or cut. Nesting
 * is counted, not recursed into: the depth costs no stack. */
static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < end) {
            if (*p == '"') {
                if (!(p = skip_string(p, end)))
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    const char *s = p; /* a number, true, false or null */
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r')
        p++;
    return p > s ? p : NULL;
}

/* The value of the member key of the object at p, as [*val, returned end);
 * NULL when absent or malformed. */
static const char *member(const char *p, const char *end, const char *key, const char **val)
{
    size_t klen = strlen(key);
    p = ws(p, end);
    if (p >= end || *p != '{')
        return NULL;
    p = ws(p + 1, end);
    while (p < end && *p == '"') {
        const char *k = p + 1, *kend = skip_string(p, end);
        if (!kend)
            return NULL;
        p = ws(kend, end);
        if (p >= end || *p != ':')
            return NULL;
        p = ws(p + 1, end);
        const char *vend = skip_value(p, end);
        if (!vend)
            return NULL;
        if ((size_t)(kend - 1 - k) == klen && memcmp(k, key, klen) == 0) {
            *val = p;
            return vend;
        }
        p = ws(vend, end);
        if (p < end && *p == ',')
            p = ws(p + 1, end);
    }
    return NULL;
}

bool dir_doc_find_sal(const char *body, size_t body_len, const char *sal_id, size_t *off,
                      size_t *len)
{
    const char *end = body + body_len, *arr;
    const char *arr_end = member(body, end, "service_at_locations", &arr);
    if (!arr_end || *arr != '[')
        return false;
    size_t id_len = strlen(sal_id);
    const char *p = ws(arr + 1, arr_end);
    while (p < arr_end && *p != ']') {
        const char *el_end = skip_value(p, arr_end), *id;
        if (!el_end)
            return false;
        const char *id_end = *p == '{' ? member(p, el_end, "id", &id) : NULL;
        /* x->>'id' = sal_id: a string member, the same characters */
        if (id_end && *id == '"' && (size_t)(id_end - id) == id_len + 2 &&
            memcmp(id + 1, sal_id, id_len) == 0) {
            *off = (size_t)(p - body);
            *len = (size_t)(el_end - p);
            return true;
        }
        p = ws(el_end, arr_end);
        if (p < arr_end && *p == ',')
            p = ws(p + 1, arr_end);
    }
    return false;
}

void dir_doc_json_string(strbuf_t *out, const char *s)
{
    strbuf_add(out, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        strbuf_add(out, run, (size_t)(s - run));
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof(esc), "\\%c", c);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", c);
        strbuf_puts(out, esc);
        run = s + 1;
    }
    strbuf_add(out, run, (size_t)(s - run));
    strbuf_add(out, "\"", 1);
}

bool dir_doc_summaries(strbuf_t *out, const dir_page_t *pg)
{
    for (size_t i = 0; i < pg->n; i++)
        if (!pg->hits[i].summary)
            return false;
    strbuf_add(out, "[", 1);
    for (size_t i = 0; i < pg->n; i++) {
        if (i)
            strbuf_add(out, ",", 1);
        strbuf_add(out, pg->hits[i].summary, pg->hits[i].summary_len);
    }
    strbuf_add(out, "]", 1);
    return true;
}

void dir_doc_items(strbuf_t *out, const dir_page_t *pg, bool sals, bool near)
{
    strbuf_add(out, "[", 1);
    for (size_t i = 0; i < pg->n; i++) {
        const dir_hit_t *h = &pg->hits[i];
        strbuf_puts(out, i ? ",{\"origin\":" : "{\"origin\":");
        dir_doc_json_string(out, h->origin);
        strbuf_puts(out, ",\"received_at\":");
        dir_doc_json_string(out, h->received_at);
        strbuf_puts(out, ",\"body\":");
        if (h->body_len)
            strbuf_add(out, h->body, h->body_len);
        else
            strbuf_puts(out, "null");
        if (sals) {
            strbuf_puts(out, ",\"sal\":");
            if (h->sal)
                strbuf_add(out, h->sal, h->sal_len);
            else
                strbuf_puts(out, "null");
        }
        if (near && h->has_dist) /* PostgreSQL's dround() is rint() */
            strbuf_printf(out, ",\"distance\":%.0f", rint(h->dist));
        else if (near)
            strbuf_puts(out, ",\"distance\":null");
        strbuf_add(out, "}", 1);
    }
    strbuf_add(out, "]", 1);
}
