/* Fuzz target for canonical JSON (proto/tr_canon.c): what is canonicalised reads back as the
 * same value, and canonicalising that gives the same bytes and the same hash (a fixed point);
 * what is refused is refused for a real number or depth, never by accident. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tr_canon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (v == NULL)
        return 0;
    char *text = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    if (tr_canon_dump(v, &text, &len) != 0) {
        json_decref(v);
        return 0;
    }
    if (text == NULL || strlen(text) > len || text[len] != '\0')
        abort();
    json_t *back = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (back == NULL || !json_equal(back, v))
        abort();
    if (tr_canon_dump(back, &again, &len2) != 0 || len2 != len || memcmp(text, again, len) != 0)
        abort();
    char h1[65], h2[65];
    if (tr_canon_hash(v, h1) != 0 || tr_canon_hash(back, h2) != 0 || strcmp(h1, h2) != 0)
        abort();
    free(text);
    free(again);
    json_decref(back);
    json_decref(v);
    return 0;
}
