/* Validation primitives: one member at a time, every error with its path,
 * never the refused value in a message. */
#include "tr_check.h"
#include "tr_record.h"
#include "tr_pii.h"

#include <stdio.h>
#include <string.h>

void tr_path_member(char *out, size_t len, const char *path, const char *key)
{
    snprintf(out, len, "%s.%s", path, key);
}

void tr_path_index(char *out, size_t len, const char *path, size_t index)
{
    snprintf(out, len, "%s[%zu]", path, index);
}

static bool in_list(const char *s, const char *const *list)
{
    for (; list && *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

bool tr_check_object(json_t *obj, const char *path, const char *const *allowed,
                     const char *const *required, tr_verrors_t *e)
{
    if (!json_is_object(obj)) {
        tr_verrors_add(e, path, "type", "must be an object, not %s",
                       obj ? type_name(obj) : "absent");
        return false;
    }
    const char *key;
    json_t *v;
    char p[128];
    json_object_foreach(obj, key, v)
    {
        if (!in_list(key, allowed)) {
            /* The member's name is the client's text: name it only if it is short and plain. */
            bool plain = strlen(key) <= 40 &&
                         strspn(key, "abcdefghijklmnopqrstuvwxyz"
                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == strlen(key);
            tr_path_member(p, sizeof(p), path, plain ? key : "?");
            tr_verrors_add(e, p, "unknown_field", "is not a field of this record");
        }
    }
    for (; required && *required; required++) {
        if (!json_object_get(obj, *required)) {
            tr_path_member(p, sizeof(p), path, *required);
            tr_verrors_add(e, p, "required", "is required");
        }
    }
    return true;
}

/* A member's path for a message, made only when there is one: every record
 * is validated (by the agent, on each row of an export) and nearly all are
 * good, so formatting each member's path up front was most of the cost. */
static const char *path_of(char *p, size_t plen, const char *path, const char *key)
{
    tr_path_member(p, plen, path, key);
    return p;
}

static const char *item_path(char *ip, size_t iplen, char *p, size_t plen, const char *path,
                             const char *key, size_t index)
{
    tr_path_index(ip, iplen, path_of(p, plen, path, key), index);
    return ip;
}

/* Present and of the right type? Reports and returns NULL otherwise. */
static json_t *member(json_t *obj, const char *key, const char *path, bool required, json_type type,
                      const char *want, tr_verrors_t *e, char *p, size_t plen)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required)
            tr_verrors_add(e, path_of(p, plen, path, key), "required", "is required");
        return NULL;
    }
    bool ok = json_typeof(v) == type || (type == JSON_TRUE && json_typeof(v) == JSON_FALSE);
    if (!ok) {
        tr_verrors_add(e, path_of(p, plen, path, key), "type", "must be %s, not %s", want,
                       type_name(v));
        return NULL;
    }
    return v;
}

static bool text_ok(const char *s, size_t len, bool multiline)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && !(multiline && (c == '\n' || c == '\t')))
            return false;
        if (c == 0x7f)
            return false;
    }
    return true;
}

static const char *string_member(json_t *obj, const char *key, const char *path, size_t max_len,
                                 bool required, bool multiline, tr_verrors_t *e, char *p,
                                 size_t plen)
{
    json_t *v = member(obj, key, path, required, JSON_STRING, "a string", e, p, plen);
    if (!v)
        return NULL;
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len > max_len) {
        tr_verrors_add(e, path_of(p, plen, path, key), "too_long", "is longer than %zu bytes",
                       max_len);
        return NULL;
    }
    if (required && len == 0) {
        tr_verrors_add(e, path_of(p, plen, path, key), "required", "must not be empty");
        return NULL;
    }
    if (!text_ok(s, len, multiline)) {
        tr_verrors_add(e, path_of(p, plen, path, key), "control_character",
                       "contains a control character");
        return NULL;
    }
    return s;
}

const char *tr_check_string(json_t *obj, const char *key, const char *path, size_t max_len,
                            bool required, tr_verrors_t *e)
{
    char p[128];
    return string_member(obj, key, path, max_len, required, false, e, p, sizeof(p));
}

const char *tr_check_text(json_t *obj, const char *key, const char *path, size_t max_len,
                          bool required, unsigned pii_mask, tr_verrors_t *e)
{
    char p[128];
    const char *s = string_member(obj, key, path, max_len, required, true, e, p, sizeof(p));
    if (!s || !pii_mask)
        return s;
    tr_pii_kind_t found = tr_pii_scan(s, strlen(s), pii_mask);
    if (found != TR_PII_NONE) {
        tr_verrors_add(e, path_of(p, sizeof(p), path, key), "personal_data",
                       "contains what looks like %s: personal data may not enter a shared record",
                       tr_pii_name(found));
        return NULL;
    }
    return s;
}

int tr_check_enum(json_t *obj, const char *key, const char *path, const char *const *values,
                  bool required, tr_verrors_t *e)
{
    char p[128];
    json_t *v = member(obj, key, path, required, JSON_STRING, "a string", e, p, sizeof(p));
    if (!v)
        return -1;
    for (int i = 0; values[i]; i++)
        if (strcmp(json_string_value(v), values[i]) == 0)
            return i;
    tr_verrors_add(e, path_of(p, sizeof(p), path, key), "enum", "is not one of the allowed values");
    return -1;
}

bool tr_check_enum_array(json_t *obj, const char *key, const char *path, const char *const *values,
                         size_t min_items, size_t max_items, bool required, tr_verrors_t *e)
{
    char p[128], ip[128];
    json_t *arr = member(obj, key, path, required, JSON_ARRAY, "an array", e, p, sizeof(p));
    if (!arr)
        return false;
    size_t n = json_array_size(arr);
    if (n < min_items || n > max_items) {
        tr_verrors_add(e, path_of(p, sizeof(p), path, key), "items", "must have %zu to %zu items",
                       min_items, max_items);
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) || !in_list(json_string_value(v), values)) {
            tr_verrors_add(e, item_path(ip, sizeof(ip), p, sizeof(p), path, key, i), "enum",
                           "is not one of the allowed values");
            ok = false;
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (json_equal(v, json_array_get(arr, j))) {
                tr_verrors_add(e, item_path(ip, sizeof(ip), p, sizeof(p), path, key, i),
                               "duplicate", "repeats an earlier item");
                ok = false;
                break;
            }
        }
    }
    return ok;
}

bool tr_check_int(json_t *obj, const char *key, const char *path, json_int_t min, json_int_t max,
                  bool required, json_int_t *out, tr_verrors_t *e)
{
    char p[128];
    json_t *v = member(obj, key, path, required, JSON_INTEGER, "an integer", e, p, sizeof(p));
    if (!v)
        return false;
    json_int_t n = json_integer_value(v);
    if (n < min || n > max) {
        tr_verrors_add(e, path_of(p, sizeof(p), path, key), "range",
                       "must be between %lld and %lld", (long long)min, (long long)max);
        return false;
    }
    if (out)
        *out = n;
    return true;
}

bool tr_check_bool(json_t *obj, const char *key, const char *path, bool required, bool *out,
                   tr_verrors_t *e)
{
    char p[128];
    json_t *v = member(obj, key, path, required, JSON_TRUE, "true or false", e, p, sizeof(p));
    if (!v)
        return false;
    if (out)
        *out = json_is_true(v);
    return true;
}

bool tr_is_uuid(const char *s)
{
    if (strlen(s) != TR_UUID_LEN)
        return false;
    for (int i = 0; i < TR_UUID_LEN; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

const char *tr_check_uuid(json_t *obj, const char *key, const char *path, bool required,
                          tr_verrors_t *e)
{
    char p[128];
    json_t *v = member(obj, key, path, required, JSON_STRING, "a string", e, p, sizeof(p));
    if (!v)
        return NULL;
    if (!tr_is_uuid(json_string_value(v))) {
        tr_verrors_add(e, path_of(p, sizeof(p), path, key), "uuid",
                       "must be a lowercase UUID (8-4-4-4-12 hex digits)");
        return NULL;
    }
    return json_string_value(v);
}

bool tr_is_iso_week(const char *s)
{
    if (strlen(s) != 8 || s[4] != '-' || s[5] != 'W')
        return false;
    for (int i = 0; i < 8; i++)
        if (i != 4 && i != 5 && (s[i] < '0' || s[i] > '9'))
            return false;
    /* Digits checked: read them directly rather than through sscanf. */
    int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int week = (s[6] - '0') * 10 + (s[7] - '0');
    return year >= 2000 && year <= 2100 && week >= 1 && week <= 53;
}

const char *tr_check_iso_week(json_t *obj, const char *key, const char *path, bool required,
                              tr_verrors_t *e)
{
    char p[128];
    json_t *v = member(obj, key, path, required, JSON_STRING, "a string", e, p, sizeof(p));
    if (!v)
        return NULL;
    if (!tr_is_iso_week(json_string_value(v))) {
        tr_verrors_add(e, path_of(p, sizeof(p), path, key), "iso_week",
                       "must be an ISO week like 2026-W47");
        return NULL;
    }
    return json_string_value(v);
}
