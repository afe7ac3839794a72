/* String formats the validators check: dates and times (ISO 8601 / RFC 3339),
 * http(s) URLs, email addresses, phone numbers, RFC 5545 recurrence lists and
 * ISO codes. Pure functions on NUL-terminated strings; no locale, no allocation. */
#include "tr_format.h"

#include <string.h>

static bool is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* YYYY-MM-DD, a real calendar day. Years are bounded so that PostgreSQL and
 * every JSON reader agree on the value. */
static bool date_ok(const char *s)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) < 10 || s[4] != '-' || s[7] != '-' || !is_digits(s, 4) || !is_digits(s + 5, 2) ||
        !is_digits(s + 8, 2))
        return false;
    int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
    if (y < 1900 || y > 2100 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
}

bool tr_is_date(const char *s)
{
    return strlen(s) == 10 && date_ok(s);
}

/* HH:MM:SS with an optional fraction; *end is where parsing stopped. */
static bool clock_ok(const char *s, bool need_seconds, const char **end)
{
    if (!is_digits(s, 2) || s[2] != ':' || !is_digits(s + 3, 2))
        return false;
    if (num(s, 2) > 23 || num(s + 3, 2) > 59)
        return false;
    s += 5;
    if (*s == ':') {
        if (!is_digits(s + 1, 2) || num(s + 1, 2) > 59)
            return false;
        s += 3;
        if (*s == '.') {
            size_t n = strspn(s + 1, "0123456789");
            if (n < 1 || n > 9)
                return false;
            s += 1 + n;
        }
    } else if (need_seconds) {
        return false;
    }
    *end = s;
    return true;
}

/* A time of day: "09:00" or "09:00:00" (HSDS opens_at, closes_at). */
bool tr_is_time(const char *s)
{
    const char *end;
    return clock_ok(s, false, &end) && *end == '\0';
}

/* RFC 3339 date-time: 2025-11-20T09:30:00Z, with a fraction or an offset. */
bool tr_is_datetime(const char *s)
{
    const char *end;
    if (strlen(s) < 20 || !date_ok(s) || s[10] != 'T' || !clock_ok(s + 11, true, &end))
        return false;
    if (strcmp(end, "Z") == 0)
        return true;
    return (end[0] == '+' || end[0] == '-') && strlen(end) == 6 && is_digits(end + 1, 2) &&
           end[3] == ':' && is_digits(end + 4, 2) && num(end + 1, 2) <= 23 && num(end + 4, 2) <= 59;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* An absolute http(s) URL in plain ASCII (RFC 3986 characters only): what
 * a browser opens and what the schema's format "uri" accepts. The authority
 * is a host name and an optional port, never user@host: a directory link
 * must read as where it goes ("https://helpline.org.uk@elsewhere.example"). */
bool tr_is_url(const char *s)
{
    size_t skip = strncmp(s, "https://", 8) == 0 ? 8 : strncmp(s, "http://", 7) == 0 ? 7 : 0;
    if (!skip)
        return false;
    const char *host = s + skip;
    size_t hlen = strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
    if (hlen == 0 || host[0] == '.' || host[0] == '-')
        return false;
    const char *p = host + hlen;
    if (*p == ':') {
        size_t port = strspn(p + 1, "0123456789");
        if (port < 1 || port > 5)
            return false;
        p += 1 + port;
    }
    if (*p && *p != '/' && *p != '?' && *p != '#')
        return false;
    for (; *p; p++) {
        if (*p == '%') {
            if (!is_hex(p[1]) || !is_hex(p[2]))
                return false;
            p += 2;
            continue;
        }
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-._~:/?#[]@!$&'()*+,;=", *p)))
            return false;
    }
    return true;
}

/* A plain address (local@domain.tld), no display name, no quoted local part. */
bool tr_is_email(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || strchr(at + 1, '@'))
        return false;
    size_t local = (size_t)(at - s);
    if (local < 1 || local > 64 || s[0] == '.' || at[-1] == '.' || strstr(s, ".."))
        return false;
    if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                  ".!#$%&'*+/=?^_`{|}~-") != local)
        return false;
    const char *d = at + 1;
    size_t labels = 0, tld_alpha = 0;
    while (*d) {
        size_t n = strspn(d, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
        if (n < 1 || n > 63 || d[0] == '-' || d[n - 1] == '-')
            return false;
        tld_alpha = strspn(d, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == n ? n : 0;
        labels++;
        d += n;
        if (*d == '.')
            d++;
        else if (*d)
            return false;
    }
    return labels >= 2 && tld_alpha >= 2 && d[-1] != '.';
}

/* A dialable number: digits with spaces, dashes or brackets, a leading + for
 * international form. Three digits (999) to E.164's fifteen. */
bool tr_is_phone(const char *s)
{
    size_t digits = 0;
    for (const char *p = s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '+' && p != s)
            return false;
        else if (!strchr("+ -()", *p))
            return false;
    }
    return digits >= 3 && digits <= 15 && (s[0] != '+' || digits >= 7);
}

/* Comma-separated items; ok() checks one item of n bytes. */
static bool list_ok(const char *s, bool (*ok)(const char *, size_t))
{
    if (!*s)
        return false;
    for (;;) {
        size_t n = strcspn(s, ",");
        if (!ok(s, n))
            return false;
        if (!s[n])
            return true;
        s += n + 1;
    }
}

/* RFC 5545 BYDAY item: MO, 1MO, -1FR. */
static bool byday_item(const char *s, size_t n)
{
    static const char *const days[] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU", NULL};
    if (n < 2)
        return false;
    size_t k = 0;
    if (s[k] == '+' || s[k] == '-')
        k++;
    if (n - 2 > k + 1 || (n - 2 == k + 1 && (s[k] < '1' || s[k] > '5')) || (k && n - 2 == k))
        return false;
    for (int i = 0; days[i]; i++)
        if (strncmp(s + n - 2, days[i], 2) == 0)
            return true;
    return false;
}

/* RFC 5545 BYMONTHDAY item: 1..31 or -31..-1. */
static bool bymonthday_item(const char *s, size_t n)
{
    size_t k = (n > 0 && s[0] == '-') ? 1 : 0;
    if (n - k < 1 || n - k > 2 || !is_digits(s + k, n - k))
        return false;
    int d = num(s + k, n - k);
    return d >= 1 && d <= 31;
}

bool tr_is_byday(const char *s)
{
    return list_ok(s, byday_item);
}

bool tr_is_bymonthday(const char *s)
{
    return list_ok(s, bymonthday_item);
}

/* ISO 639-1 or 639-3 code, lowercase ("en", "cy", "bfi" for BSL). */
bool tr_is_language_code(const char *s)
{
    size_t n = strlen(s);
    return (n == 2 || n == 3) && strspn(s, "abcdefghijklmnopqrstuvwxyz") == n;
}

/* ISO 3166-1 alpha-2 ("GB"). */
bool tr_is_country_code(const char *s)
{
    return strlen(s) == 2 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 2;
}
