/* Anonymisation rules (tr_anon.h): dates, ages, districts, keyed ids and
 * the free-text checks the agent adds to the shared scanner. */
#include "tr_anon.h"

#include "tr_error.h"
#include "tr_pii.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int tr_date_order_parse(const char *fmt, tr_date_order_t *out)
{
    if (!fmt)
        return TR_E_INVAL;
    char norm[16];
    size_t n = strlen(fmt);
    if (n >= sizeof(norm))
        return TR_E_INVAL;
    for (size_t i = 0; i <= n; i++) {
        char c = (char)tolower((unsigned char)fmt[i]);
        norm[i] = (c == '-' || c == '.') ? '/' : c;
    }
    if (strcmp(norm, "dd/mm/yyyy") == 0)
        *out = TR_DATE_DMY;
    else if (strcmp(norm, "mm/dd/yyyy") == 0)
        *out = TR_DATE_MDY;
    else if (strcmp(norm, "yyyy/mm/dd") == 0)
        *out = TR_DATE_YMD;
    else
        return TR_E_INVAL;
    return 0;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Read 1..max digits; returns the count read, 0 if none. */
static int digits(const char **p, int max, int *val)
{
    int n = 0, v = 0;
    while (n < max && isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    if (n == max && isdigit((unsigned char)**p))
        return 0; /* too many digits */
    *val = v;
    return n;
}

int tr_date_parse(const char *s, tr_date_order_t order, tr_date_t *out)
{
    if (!s)
        return TR_E_INVAL;
    while (*s == ' ')
        s++;
    int a, b, c, na, nb, nc;
    const char *p = s;
    if ((na = digits(&p, 4, &a)) == 0 || !strchr("/-. ", *p) || !*p)
        return TR_E_INVAL;
    char sep = *p++;
    if ((nb = digits(&p, 2, &b)) == 0 || *p != sep)
        return TR_E_INVAL;
    p++;
    if ((nc = digits(&p, 4, &c)) == 0)
        return TR_E_INVAL;
    /* What may follow: nothing but spaces, or a time after a space or a 'T'. */
    if ((*p == ' ' || *p == 'T') && isdigit((unsigned char)p[1]))
        p = "";
    while (*p == ' ')
        p++;
    if (*p)
        return TR_E_INVAL;
    tr_date_t d;
    if (na == 4) { /* ISO, whatever the order */
        if (nc > 2)
            return TR_E_INVAL;
        d = (tr_date_t){a, b, c};
    } else if (nc == 4 && na <= 2 && order != TR_DATE_YMD) {
        d = order == TR_DATE_DMY ? (tr_date_t){c, b, a} : (tr_date_t){c, a, b};
    } else {
        return TR_E_INVAL; /* two-digit years, or the wrong order */
    }
    if (d.y < 1900 || d.y > 2100 || d.m < 1 || d.m > 12 || d.d < 1 || d.d > month_days(d.y, d.m))
        return TR_E_INVAL;
    *out = d;
    return 0;
}

long tr_date_days(tr_date_t d)
{
    /* Howard Hinnant's days_from_civil. */
    long y = d.m <= 2 ? d.y - 1 : d.y;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long mp = (d.m + 9) % 12;
    long doy = (153 * mp + 2) / 5 + d.d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int weekday_iso(tr_date_t d) /* 1 Monday .. 7 Sunday */
{
    long z = tr_date_days(d); /* 1970-01-01 was a Thursday (4) */
    long w = ((z % 7) + 7 + 3) % 7;
    return (int)w + 1;
}

static int iso_weeks_in_year(int y)
{
    /* A year has 53 ISO weeks when 1 January is a Thursday, or a Wednesday in a leap year. */
    int jan1 = weekday_iso((tr_date_t){y, 1, 1});
    return jan1 == 4 || (jan1 == 3 && leap(y)) ? 53 : 52;
}

void tr_date_iso_week(tr_date_t d, char out[9])
{
    int doy = (int)(tr_date_days(d) - tr_date_days((tr_date_t){d.y, 1, 1})) + 1;
    int week = (doy - weekday_iso(d) + 10) / 7;
    int year = d.y;
    if (week < 1) {
        year--;
        week = iso_weeks_in_year(year);
    } else if (week > iso_weeks_in_year(year)) {
        year++;
        week = 1;
    }
    snprintf(out, 9, "%04d-W%02d", year, week);
}

int tr_age_at(tr_date_t dob, tr_date_t at)
{
    if (tr_date_days(at) < tr_date_days(dob))
        return -1;
    int age = at.y - dob.y;
    if (at.m < dob.m || (at.m == dob.m && at.d < dob.d))
        age--;
    return age;
}

const char *tr_age_band(long age)
{
    if (age < 0 || age > 130)
        return NULL;
    if (age < 16)
        return "under_16";
    if (age < 18)
        return "16_17";
    if (age < 25)
        return "18_24";
    if (age < 35)
        return "25_34";
    if (age < 45)
        return "35_44";
    if (age < 55)
        return "45_54";
    if (age < 65)
        return "55_64";
    return "65_plus";
}

static bool is_la_code(const char *s)
{
    static const char *const entities[] = {"E06", "E07", "E08", "E09", "E10",
                                           "W06", "S12", "N09", NULL};
    if (strlen(s) != 9 || strspn(s + 3, "0123456789") != 6)
        return false;
    for (int i = 0; entities[i]; i++)
        if (strncmp(s, entities[i], 3) == 0)
            return true;
    return false;
}

int tr_anon_district(const char *in, char *out, size_t out_size)
{
    /* Upper case without spaces ("ls6 1aa" -> "LS61AA"), remembering whether
     * there was a space inside: "LS6 1" is a sector, not the district LS61. */
    char s[32];
    size_t n = 0;
    bool inner_space = false;
    for (const char *p = in; p && *p; p++) {
        if (*p == ' ' || *p == '\t') {
            if (n > 0)
                inner_space = true;
            continue;
        }
        if (n + 1 >= sizeof(s) || !isalnum((unsigned char)*p))
            return TR_E_INVAL;
        s[n++] = (char)toupper((unsigned char)*p);
    }
    s[n] = '\0';
    /* tr_pii_is_* pass their pattern before compiling it on a first call: compile first. */
    if (n == 0 || out_size < 16 || tr_pii_init() != 0)
        return TR_E_INVAL;
    if (is_la_code(s)) {
        snprintf(out, out_size, "%s", s);
        return 0;
    }
    if (tr_pii_is_full_postcode(s))
        s[n - 3] = '\0'; /* the inward code is always a digit and two letters */
    else if (inner_space && !tr_pii_is_full_postcode(in))
        return TR_E_INVAL;
    if (!tr_pii_is_postcode_district(s))
        return TR_E_INVAL;
    snprintf(out, out_size, "%s", s);
    return 0;
}

/* The UUID of an HMAC's first 16 bytes: version 8 (custom), variant 10. */
static void uuid_of(uint8_t md[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    md[6] = (uint8_t)((md[6] & 0x0f) | 0x80);
    md[8] = (uint8_t)((md[8] & 0x3f) | 0x80);
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[md[i] >> 4];
        *o++ = hex[md[i] & 15];
    }
    *o = '\0';
}

int tr_anon_hmac_uuid(const uint8_t *secret, size_t secret_len, const char *domain,
                      const char *value, char out[37])
{
    if (!secret || secret_len < 16 || !domain || !value)
        return TR_E_INVAL;
    tr_anon_key_t *k = tr_anon_key_new(secret, secret_len);
    if (!k)
        return TR_E_INVAL;
    int rc = tr_anon_key_uuid(k, domain, value, out);
    tr_anon_key_free(k);
    return rc;
}

struct tr_anon_key {
    EVP_MAC_CTX *ctx; /* keyed once; re-initialised with the same key per id */
};

static EVP_MAC *hmac_mac;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

tr_anon_key_t *tr_anon_key_new(const uint8_t *secret, size_t secret_len)
{
    if (!secret || secret_len < 16)
        return NULL;
    pthread_once(&hmac_once, hmac_fetch);
    if (!hmac_mac)
        return NULL;
    tr_anon_key_t *k = calloc(1, sizeof(*k));
    if (!k)
        abort();
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (!(k->ctx = EVP_MAC_CTX_new(hmac_mac)) || !EVP_MAC_init(k->ctx, secret, secret_len, params))
        goto fail;
    return k;
fail:
    tr_anon_key_free(k);
    return NULL;
}

void tr_anon_key_free(tr_anon_key_t *k)
{
    if (!k)
        return;
    EVP_MAC_CTX_free(k->ctx); /* cleanses the key it holds */
    free(k);
}

int tr_anon_key_uuid(tr_anon_key_t *k, const char *domain, const char *value, char out[37])
{
    if (!k || !domain || !value)
        return TR_E_INVAL;
    uint8_t md[EVP_MAX_MD_SIZE];
    size_t md_len = 0;
    /* A NULL key re-initialises with the key already set; domain, a NUL
     * byte and the value are one message, as tr_anon_hmac_uuid documents. */
    if (!EVP_MAC_init(k->ctx, NULL, 0, NULL) ||
        !EVP_MAC_update(k->ctx, (const uint8_t *)domain, strlen(domain) + 1) ||
        !EVP_MAC_update(k->ctx, (const uint8_t *)value, strlen(value)) ||
        !EVP_MAC_final(k->ctx, md, &md_len, sizeof(md)) || md_len < 16)
        return TR_E_INVAL;
    uuid_of(md, out);
    return 0;
}

/* ---- free text ---- */

/* A title and a capitalised word: "Mrs Okafor", "Dr. Shah", "Ms J Smith". */
static const char title_re[] =
    "\\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Mister|Missus)\\.?\\h+(?:[A-Z]\\.?\\h+)?\\p{Lu}\\p{Ll}+";
/* A house number, one to three capitalised words and a street word:
 * "14 Acacia Avenue", "3a Mill Lane", "Flat 2, 7 Hyde Park Road". */
static const char address_re[] =
    "\\b[0-9]{1,4}[A-Za-z]?,?\\h+(?:\\p{Lu}[\\p{L}']+\\h+){1,3}"
    "(?:Road|Rd|Street|St|Avenue|Ave|Lane|Ln|Close|Drive|Dr|Way|Crescent|Cres|Terrace|Place|Pl|"
    "Gardens|Gdns|Court|Ct|Grove|Square|Sq|Walk|Row|Hill|Mews|View|Parade|Rise|Green|Park|"
    "Boulevard|Vale|Wharf|Yard)\\b";

static pcre2_code *title_code, *address_code;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

static pcre2_code *compile(const char *re)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, NULL);
    if (code)
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    return code;
}

int tr_anon_init(void)
{
    int rc = tr_pii_init();
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&init_lock);
    if (!title_code)
        title_code = compile(title_re);
    if (!address_code)
        address_code = compile(address_re);
    rc = title_code && address_code ? 0 : TR_E_NOMEM;
    pthread_mutex_unlock(&init_lock);
    return rc;
}

void tr_anon_shutdown(void)
{
    pthread_mutex_lock(&init_lock);
    pcre2_code_free(title_code);
    pcre2_code_free(address_code);
    title_code = address_code = NULL;
    pthread_mutex_unlock(&init_lock);
}

static bool matches(pcre2_code *code, const char *text, size_t len)
{
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    if (!md)
        abort();
    int rc = pcre2_match(code, (PCRE2_SPTR)text, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    /* A match that hits a limit counts as found: refusing beats leaking. */
    return rc > 0 || (rc < 0 && rc != PCRE2_ERROR_NOMATCH);
}

static bool word_char(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

/* needle as a whole word of text, ASCII case-insensitively. */
static bool has_word(const char *text, size_t len, const char *needle, size_t n)
{
    if (n == 0 || n > len)
        return false;
    for (size_t i = 0; i + n <= len; i++) {
        if (i > 0 && word_char((unsigned char)text[i - 1]))
            continue;
        if (strncasecmp(text + i, needle, n) != 0)
            continue;
        if (i + n < len && word_char((unsigned char)text[i + n]))
            continue;
        return true;
    }
    return false;
}

/* The value itself, and each word of it of three or more characters ("Jane
 * Smith" -> "Jane", "Smith"): notes name people by one name as often as by
 * both. */
static bool has_row_value(const char *text, size_t len, const char *v)
{
    while (*v == ' ')
        v++;
    size_t vl = strlen(v);
    while (vl && v[vl - 1] == ' ')
        vl--;
    if (vl >= 3 && has_word(text, len, v, vl))
        return true;
    const char *p = v, *end = v + vl;
    while (p < end) {
        while (p < end && !word_char((unsigned char)*p))
            p++;
        const char *w = p;
        while (p < end && (word_char((unsigned char)*p) || *p == '\'' || *p == '-'))
            p++;
        if (p - w >= 3 && (size_t)(p - w) < vl && has_word(text, len, w, (size_t)(p - w)))
            return true;
    }
    return false;
}

tr_anon_finding_t tr_anon_scan_text(const char *text, size_t len, const char *const *row_values,
                                    size_t n_values, unsigned *pii, size_t *which)
{
    if (tr_anon_init() != 0)
        return TR_ANON_PII; /* cannot scan: treat as found */
    tr_pii_kind_t k = tr_pii_scan(text, len, TR_PII_ALL);
    if (k != TR_PII_NONE) {
        if (pii)
            *pii = (unsigned)k;
        return TR_ANON_PII;
    }
    for (size_t i = 0; i < n_values; i++) {
        if (row_values[i] && has_row_value(text, len, row_values[i])) {
            if (which)
                *which = i;
            return TR_ANON_ROW_VALUE;
        }
    }
    if (matches(title_code, text, len))
        return TR_ANON_TITLE_NAME;
    if (matches(address_code, text, len))
        return TR_ANON_ADDRESS;
    return TR_ANON_CLEAN;
}

static char shape_of(char c)
{
    if (isdigit((unsigned char)c))
        return '9';
    if (isalpha((unsigned char)c))
        return 'A';
    return c;
}

bool tr_anon_has_shape(const char *text, size_t len, const char *example)
{
    char shape[64];
    size_t n = 0, digits = 0, letters = 0;
    for (const char *p = example; *p && n < sizeof(shape); p++) {
        if (*p == ' ')
            continue;
        shape[n++] = shape_of(*p);
        digits += isdigit((unsigned char)*p) != 0;
        letters += isalpha((unsigned char)*p) != 0;
    }
    if (n == 0 || n >= sizeof(shape) || !((digits && letters) || digits >= 6))
        return false;
    for (size_t i = 0; i + n <= len; i++) {
        if (i > 0 && word_char((unsigned char)text[i - 1]))
            continue;
        if (i + n < len && word_char((unsigned char)text[i + n]))
            continue;
        size_t k;
        for (k = 0; k < n && shape_of(text[i + k]) == shape[k]; k++)
            ;
        if (k == n)
            return true;
    }
    return false;
}

const char *tr_anon_finding_name(tr_anon_finding_t f)
{
    switch (f) {
    case TR_ANON_CLEAN:
        return "nothing";
    case TR_ANON_PII:
        return "personal data";
    case TR_ANON_ROW_VALUE:
        return "a value of one of the row's identifying columns (a name or reference)";
    case TR_ANON_TITLE_NAME:
        return "a title followed by a name";
    case TR_ANON_ADDRESS:
        return "a street address";
    case TR_ANON_REFERENCE:
        return "something shaped like a case reference";
    }
    return "personal data";
}
