/* String formats the validators check beyond tr_check.h's: each function
 * says whether a whole NUL-terminated string has the format. No allocation,
 * no locale; thread-safe. */
#ifndef TR_FORMAT_H
#define TR_FORMAT_H

#include <stdbool.h>

/* YYYY-MM-DD, a real calendar day, year 1900..2100. */
bool tr_is_date(const char *s);
/* A time of day: HH:MM or HH:MM:SS with an optional fraction. */
bool tr_is_time(const char *s);
/* RFC 3339 date-time: 2025-11-20T09:30:00Z, seconds required, optional
 * fraction, Z or a +HH:MM/-HH:MM offset. */
bool tr_is_datetime(const char *s);
/* An absolute http or https URL in RFC 3986 characters (no spaces, no
 * non-ASCII: percent-encode them). */
bool tr_is_url(const char *s);
/* local@domain.tld: no display name, no quoted local part. */
bool tr_is_email(const char *s);
/* Digits with spaces, dashes or brackets and an optional leading +: 3 (999)
 * to 15 (E.164) digits, at least 7 in international form. */
bool tr_is_phone(const char *s);
/* RFC 5545 BYDAY list: "MO,TU", "1MO", "-1FR". */
bool tr_is_byday(const char *s);
/* RFC 5545 BYMONTHDAY list: "1,15,-1" (1..31, -31..-1). */
bool tr_is_bymonthday(const char *s);
/* ISO 639-1 or 639-3 code in lowercase: "en", "cy", "bfi". */
bool tr_is_language_code(const char *s);
/* ISO 3166-1 alpha-2 code in capitals: "GB". */
bool tr_is_country_code(const char *s);

#endif
