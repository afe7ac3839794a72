/* Name-based organisation UUIDs (RFC 9562 section 5.5): SHA-1 over the
 * namespace's 16 bytes and the name, version 5, variant 10. */
#include "tr_org.h"

#include "tr_error.h"
#include "tr_identity.h"

#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int tr_org_uuid(const char *origin, char *out, size_t out_size)
{
    if (!origin || !tr_name_valid(origin) || out_size < 37)
        return TR_E_INVAL;
    uint8_t buf[16 + 64];
    size_t n = 0;
    for (const char *p = TR_ORG_NAMESPACE; *p; p++) {
        if (*p == '-')
            continue;
        buf[n / 2] = (uint8_t)(n % 2 ? buf[n / 2] | hexval(*p) : hexval(*p) << 4);
        n++;
    }
    size_t len = strlen(origin);
    memcpy(buf + 16, origin, len);
    uint8_t md[SHA_DIGEST_LENGTH];
    SHA1(buf, 16 + len, md);
    md[6] = (uint8_t)((md[6] & 0x0f) | 0x50);
    md[8] = (uint8_t)((md[8] & 0x3f) | 0x80);
    snprintf(out, out_size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11],
             md[12], md[13], md[14], md[15]);
    return 0;
}
