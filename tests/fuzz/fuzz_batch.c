/* Fuzz target for server/batch_scan.c, against jansson: for any body jansson reads as an object,
 * the scan counts exactly the elements of its top-level arrays, and its cost estimate is never
 * below what the tree's values imply. Whatever the bytes, a lower record limit stops it sooner. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "batch_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Values in v, each at least 48 bytes of tree to jansson. */
static size_t values(const json_t *v)
{
    size_t n = 1;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            n += values(json_array_get(v, i));
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) n += 1 + values(x);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t n = 0, n_limited = 0;
    if (batch_scan(text, size, (size_t)-1, (size_t)-1, &n) != BATCH_SCAN_OK)
        abort();
    if (n > 0 && batch_scan(text, size, n - 1, (size_t)-1, &n_limited) != BATCH_SCAN_TOO_MANY)
        abort();
    json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    if (root == NULL)
        return 0;
    if (json_is_object(root)) {
        size_t want = 0;
        const char *k;
        json_t *x;
        json_object_foreach(root, k, x)
        {
            if (json_is_array(x))
                want += json_array_size(x);
        }
        if (n != want)
            abort();
        if (batch_scan(text, size, (size_t)-1, 48 * values(root) - 1, NULL) == BATCH_SCAN_OK &&
            values(root) > 0)
            abort();
    }
    json_decref(root);
    return 0;
}
