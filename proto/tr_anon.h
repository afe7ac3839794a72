/* Anonymisation at source: the pure rules the agent applies to a charity's
 * export before anything leaves the row (docs/agent.md). Dates become ISO
 * weeks or whole days, ages and birth dates become age bands, postcodes
 * become districts, case references become UUIDs by HMAC under a local
 * secret, and free text is checked for personal data, including values of
 * the same row's identifying columns (a client's name in a note). No I/O. */
#ifndef TR_ANON_H
#define TR_ANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int y, m, d;
} tr_date_t;

/* The order of a date's numbers in an export: "dd/mm/yyyy" (the UK's, the
 * default), "mm/dd/yyyy" or "yyyy-mm-dd". */
typedef enum { TR_DATE_DMY = 0, TR_DATE_MDY, TR_DATE_YMD } tr_date_order_t;

/* "dd/mm/yyyy", "mm/dd/yyyy", "yyyy-mm-dd" (any of / - . as separator):
 * 0 or TR_E_INVAL. */
int tr_date_order_parse(const char *fmt, tr_date_order_t *out);

/* A date in the given order, separators / - . or space, day and month with
 * one or two digits, a four-digit year (a two-digit year is refused: a birth
 * date of "65" is ambiguous), optionally followed by a time (" 14:05",
 * "T14:05:00Z"), which is ignored. An ISO date (yyyy-mm-dd) is accepted
 * whatever the order. Years 1900-2100, real days only. 0 or TR_E_INVAL. */
int tr_date_parse(const char *s, tr_date_order_t order, tr_date_t *out);

/* Days since 1970-01-01 (negative before). */
long tr_date_days(tr_date_t d);

/* ISO 8601 week of d, "2026-W47", into out (9 bytes). */
void tr_date_iso_week(tr_date_t d, char out[9]);

/* Whole years from dob to at; -1 if at is before dob. */
int tr_age_at(tr_date_t dob, tr_date_t at);

/* The record age band of an age in whole years ("under_16" ... "65_plus"),
 * NULL for an age outside 0..130. */
const char *tr_age_band(long age);

/* A postcode or postcode district in any case and spacing ("ls6 1aa",
 * "LS61AA", "ls6") or a local authority GSS code, as the district a pathway
 * record may carry ("LS6", "E08000035"), into out (at least 16 bytes).
 * 0, or TR_E_INVAL for anything else. */
int tr_anon_district(const char *in, char *out, size_t out_size);

/* The record id of a value (a case reference) under a secret: HMAC-SHA256
 * over domain, a NUL byte and the value, its first 16 bytes formatted as a
 * lower-case UUID of RFC 9562 version 8 (custom). The domain keeps ids of
 * different uses apart ("pathway.referral", "pathway.event/accepted").
 * out: 37 bytes. 0 or TR_E_INVAL. */
int tr_anon_hmac_uuid(const uint8_t *secret, size_t secret_len, const char *domain,
                      const char *value, char out[37]);

/* The same under a key set once: the agent computes an id for every row of
 * an export, and a one-shot HMAC looks the algorithm up again (under a
 * lock) and hashes the key's two pads again on every call. A key is one
 * thread's at a time. new: NULL for a secret under 16 bytes (the secret is
 * copied into OpenSSL's context, and cleansed when freed). */
typedef struct tr_anon_key tr_anon_key_t;
tr_anon_key_t *tr_anon_key_new(const uint8_t *secret, size_t secret_len);
void tr_anon_key_free(tr_anon_key_t *k);
/* tr_anon_hmac_uuid's id of value in domain: 0 or TR_E_INVAL. */
int tr_anon_key_uuid(tr_anon_key_t *k, const char *domain, const char *value, char out[37]);

/* What tr_anon_scan_text found. */
typedef enum {
    TR_ANON_CLEAN = 0,
    TR_ANON_PII,        /* a kind of tr_pii_scan; see *pii */
    TR_ANON_ROW_VALUE,  /* a value of one of the row's identifying columns (a name) */
    TR_ANON_TITLE_NAME, /* a title followed by a name: "Mrs Okafor" */
    TR_ANON_ADDRESS,    /* a street address: "14 Acacia Avenue" */
    TR_ANON_REFERENCE,  /* a token shaped like the row's case reference */
} tr_anon_finding_t;

/* Compile the patterns (after tr_pii_init; idempotent). 0 or TR_E_NOMEM. */
int tr_anon_init(void);
void tr_anon_shutdown(void);

/* Scan free text for personal data: every kind of tr_pii_scan, the values
 * of the row's identifying columns (each value, and each word of three or
 * more letters in it, matched case-insensitively as whole words), a title
 * followed by a capitalised name, and a street address. *pii is set to the
 * tr_pii kind for TR_ANON_PII, *which to the index of the row value found
 * for TR_ANON_ROW_VALUE (either may be NULL). Never keeps the text. */
tr_anon_finding_t tr_anon_scan_text(const char *text, size_t len, const char *const *row_values,
                                    size_t n_values, unsigned *pii, size_t *which);

/* True if text holds a token shaped like example (digits as digits, letters
 * as letters, other characters as they are, case ignored): another case's
 * reference in a note, "NWA-2026-0777" when the row's own is "NWA-2026-0013".
 * Only for an example with both a letter and a digit, or six digits or more,
 * so that ordinary numbers never match. */
bool tr_anon_has_shape(const char *text, size_t len, const char *example);

/* People's words for a finding ("a name from column ...", "a street
 * address"): never the value. */
const char *tr_anon_finding_name(tr_anon_finding_t f);

#endif
