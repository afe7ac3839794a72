/* The records count and tree-cost pre-pass for POST /v1/records; see batch_scan.h. */
#include "batch_scan.h"

#include <stdbool.h>

#define COST_OBJECT 240
#define COST_ARRAY 144
#define COST_STRING 96
#define COST_SCALAR 48
#define COST_MEMBER 64

batch_scan_result_t batch_scan(const char *text, size_t len, size_t max_records, size_t max_cost,
                               size_t *records)
{
    size_t depth = 0, n = 0, cost = 0;
    bool in_string = false, escaped = false, in_scalar = false;
    /* At depth 2 inside an array whose parent is the top-level object: an element has begun
     * since the last comma. */
    bool records_array = false, element = false;
    batch_scan_result_t rc = BATCH_SCAN_OK;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (in_string) {
            cost++;
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            goto check;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            in_scalar = false;
            continue;
        }
        /* A record begins: any value at depth 2 of such an array. */
        if (records_array && depth == 2 && c != ',' && c != ']' && !element) {
            element = true;
            if (++n > max_records) {
                rc = BATCH_SCAN_TOO_MANY;
                break;
            }
        }
        switch (c) {
        case '{':
        case '[':
            if (depth == 1) {
                records_array = c == '[';
                element = false;
            }
            depth++;
            cost += c == '{' ? COST_OBJECT : COST_ARRAY;
            in_scalar = false;
            break;
        case '}':
        case ']':
            if (depth > 0)
                depth--;
            if (depth == 1)
                records_array = false;
            in_scalar = false;
            break;
        case ',':
            if (depth == 2)
                element = false;
            in_scalar = false;
            break;
        case ':':
            cost += COST_MEMBER;
            in_scalar = false;
            break;
        case '"':
            in_string = true;
            cost += COST_STRING;
            in_scalar = false;
            break;
        default:
            /* 123, -1e5, true, null: one value however many bytes it has. */
            if (!in_scalar)
                cost += COST_SCALAR;
            in_scalar = true;
            break;
        }
    check:
        if (cost > max_cost) {
            rc = BATCH_SCAN_TOO_COSTLY;
            break;
        }
    }
    if (records)
        *records = n;
    return rc;
}
