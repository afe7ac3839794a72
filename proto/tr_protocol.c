/* Reading the Trellis-Protocol header. Bounded: a peer can announce nothing
 * longer than six digits, and nothing but digits. */
#include "tr_protocol.h"

#include <string.h>

#define MAX_DIGITS 6

int tr_protocol_parse(const char *value)
{
    if (!value)
        return TR_PROTOCOL_NONE;
    size_t n = strlen(value);
    if (n == 0 || n > MAX_DIGITS || strspn(value, "0123456789") != n)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (value[i] - '0');
    return v;
}

bool tr_protocol_supported(int v)
{
    return v >= TR_PROTOCOL_MIN && v <= TR_PROTOCOL_VERSION;
}
