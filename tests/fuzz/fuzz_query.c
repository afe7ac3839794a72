/* Fuzz target for server/query.c: the input is a query string (up to its first NUL), read with
 * every getter. A value found fits exactly the buffer its length needs and not one byte less;
 * an integer is within its bounds; a query of only allowed names is one query_only accepts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"since", "limit", "wait", "a", "", "status", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = malloc(size + 1);
    if (q == NULL)
        abort();
    memcpy(q, data, size);
    q[size] = '\0';

    bool all_known = true;
    for (const char *const *n = names; *n; n++) {
        char big[4096];
        int r = query_get(q, *n, big, sizeof big);
        if (r < -1 || r > 1)
            abort();
        if (r == 1) {
            size_t len = strlen(big);
            if (len >= sizeof big)
                abort();
            /* Exactly len + 1 bytes suffice, len do not; a heap buffer so ASan sees overruns. */
            char *exact = malloc(len + 1);
            if (exact == NULL)
                abort();
            if (query_get(q, *n, exact, len + 1) != 1 || strcmp(exact, big) != 0)
                abort();
            if (len > 0 && query_get(q, *n, exact, len) != -1)
                abort();
            free(exact);
        }
        int64_t v = 0;
        if (query_int(q, *n, -5, 1000, 7, &v) == 0) {
            if (v < -5 || v > 1000)
                abort();
            if (r == 0 && v != 7)
                abort();
        } else if (r == 0) {
            abort(); /* absent is the default, never an error */
        }
    }
    const char *bad = NULL;
    size_t bad_len = 0;
    if (!query_only(q, names, &bad, &bad_len)) {
        if (bad == NULL || bad < q || bad + bad_len > q + strlen(q))
            abort();
        all_known = false;
    }
    (void)all_known;
    free(q);
    return 0;
}
