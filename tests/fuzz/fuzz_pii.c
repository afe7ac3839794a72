/* Fuzz target for proto/tr_pii.c: arbitrary bytes (invalid UTF-8, embedded NULs, huge digit runs)
 * through every detector, alone and together, and through the whole-string postcode helpers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tr_pii.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    tr_pii_kind_t all = tr_pii_scan(text, size, TR_PII_ALL);
    /* The answer is one kind of the mask, and a kind found under ALL is found on its own. */
    if (all != TR_PII_NONE && (all & TR_PII_ALL) != all)
        abort();
    if (all != TR_PII_NONE && tr_pii_scan(text, size, all) != all)
        abort();
    for (unsigned k = TR_PII_EMAIL; k & TR_PII_ALL; k <<= 1) {
        tr_pii_kind_t one = tr_pii_scan(text, size, k);
        if (one != TR_PII_NONE && one != (tr_pii_kind_t)k)
            abort();
        if (one != TR_PII_NONE && all == TR_PII_NONE)
            abort();
    }
    /* The helpers take a C string: scan a NUL-terminated copy (stops at the first NUL). */
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    if (tr_pii_is_full_postcode(s) && tr_pii_is_postcode_district(s))
        abort();
    free(s);
    return 0;
}
