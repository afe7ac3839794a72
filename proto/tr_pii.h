/* Personal-data detectors: what must never enter a synced record outside a
 * public service contact. Patterns are PCRE2, compiled once with JIT. Every
 * detector is tuned so that ordinary text ("week 12 of the course", prices,
 * times, counts) passes. */
#ifndef TR_PII_H
#define TR_PII_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    TR_PII_NONE = 0,
    TR_PII_EMAIL = 1 << 0,
    TR_PII_PHONE = 1 << 1,    /* UK phone numbers, national or +44 */
    TR_PII_POSTCODE = 1 << 2, /* full UK postcodes (an outward code alone is not one) */
    TR_PII_NHS = 1 << 3,      /* NHS numbers passing the modulus-11 check */
    TR_PII_NINO = 1 << 4,     /* National Insurance numbers */
    TR_PII_DOB = 1 << 5,      /* full dates that could be a date of birth */
} tr_pii_kind_t;

#define TR_PII_ALL                                                                                 \
    (TR_PII_EMAIL | TR_PII_PHONE | TR_PII_POSTCODE | TR_PII_NHS | TR_PII_NINO | TR_PII_DOB)

/* Compile the patterns (idempotent, call once before threads use the scanner).
 * 0 or TR_E_NOMEM / TR_E_INVAL. */
int tr_pii_init(void);
void tr_pii_shutdown(void);

/* Scan text (UTF-8, not necessarily NUL-terminated) for the kinds in mask.
 * Returns the first kind found, TR_PII_NONE if clean. Safe from several
 * threads after tr_pii_init. Never keeps or logs the text. */
tr_pii_kind_t tr_pii_scan(const char *text, size_t len, unsigned mask);

/* "email address", "UK phone number", ... for error messages. */
const char *tr_pii_name(tr_pii_kind_t kind);
/* "email", "phone", "postcode", "nhs_number", "ni_number", "date_of_birth": error codes. */
const char *tr_pii_code(tr_pii_kind_t kind);

/* True if s is a full UK postcode (e.g. "SW1A 1AA", "sw1a1aa"), whole string. */
int tr_pii_is_full_postcode(const char *s);
/* A full UK postcode in any case and spacing as the postcode lookup keys
 * it: capitals, no space ("sw1a 1aa" -> "SW1A1AA"). True with the key in
 * out; false (out "") for anything else, or a key longer than out. The
 * directory's postcode filter and the lookup's loader both key by it. */
bool tr_pii_postcode_key(const char *in, char *out, size_t out_len);
/* True if s is a UK postcode district / outward code alone (e.g. "SW1A", "M1", "LS6"). */
int tr_pii_is_postcode_district(const char *s);

#endif
