/* Personal-data detectors (see tr_pii.h): one PCRE2 pattern per kind finds candidates, and a C
 * check per kind decides what a pattern cannot (check digits, calendar dates, prefix rules). They
 * catch accidental leaks in free text; a determined user can always spell a number out in words. */
#include "tr_pii.h"
#include "tr_error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Every scan pattern starts at a token boundary: never inside a word or a number. */
#define NOT_AFTER_ALNUM "(?<![\\p{L}\\p{N}])"
/* ... nor right after "3." or "3-", so "1.12.03.1985" or "98-0113..." are not cut in half. */
#define NOT_AFTER_NUMSEP "(?<![0-9][.,/-])"

/* EMAIL. Local part and domain in the forms people type: plain addresses (dots, plus, hyphens,
 * any case, Unicode letters), "@" with spaces around it, "(at)"/"[at]" and "(dot)"/" dot "
 * obfuscations, and a bare " at " ("jane at gmail dot com"). The looser forms collide with
 * English ("find us at refuge.org.uk"), so check_email() refuses them unless they look like a
 * mailbox; see there. Groups: 1 local, 2 "@", 3 "@" with spaces, 4 "(at)", 5 " at ", 6 domain
 * without its top-level label, 7 top-level label. */
#define EM_WORD "[\\p{L}\\p{N}_%+'\\-]{1,64}+"
#define EM_LABEL "[\\p{L}\\p{N}]{1,63}+(?:-++[\\p{L}\\p{N}]{1,63}+){0,8}+"
#define EM_DOT "(?:\\.|\\h{0,3}[(\\[{<]\\h{0,2}dot\\h{0,2}[)\\]}>]\\h{0,3}|\\h{1,3}dot\\h{1,3})"
#define EM_DOMAIN                                                                                  \
    "(" EM_LABEL "(?:" EM_DOT EM_LABEL "){0,7})" EM_DOT "(\\p{L}{2,24})(?![\\p{L}\\p{N}\\-])"
static const char email_re[] =
    "(?i)(?<![\\p{L}\\p{N}._%+'\\-])(" EM_WORD "(?:" EM_DOT EM_WORD "){0,8})"
    "(?:(@)|(\\h{1,3}@\\h{0,3}|@\\h{1,3})|(\\h{0,3}[(\\[{<]\\h{0,2}at\\h{0,2}[)\\]}>]\\h{0,3})"
    "|(\\h{1,3}at\\h{1,3}))" EM_DOMAIN;
/* The same address read from its "@" or "at" on: cheap to search for, since it starts at one of
 * a few characters; only where it matches is email_re run (see find_one). */
static const char email_at_re[] = "(?i)(?:@\\h{0,3}|[(\\[{<]\\h{0,2}at\\h{0,2}[)\\]}>]\\h{0,3}|(?<!"
                                  "[\\p{L}\\p{N}])at\\h{1,3})" EM_DOMAIN;

/* PHONE (UK). A run of digits with spaces, hyphens, dots or brackets between them, national
 * (starting 0, "(0113) 496 0000") or international ("+44 7700 900123", "0044 ...",
 * "+44 (0)20 ..."). The pattern only bounds the run; check_phone() counts the digits. Nothing
 * without a leading 0 or +44 can match, so prices, times, years and counts never reach it.
 * Group 1 is set for the international forms. */
static const char phone_re[] = "(?<![\\p{L}\\p{N}+])" NOT_AFTER_NUMSEP
                               "(?:((?:\\+|00)\\h?44\\h?(?:\\(\\h?0\\h?\\)\\h?)?\\(?)|\\(?(?=0))"
                               "[0-9](?:[\\h.()\\-]{0,3}[0-9]){7,13}(?![0-9])";

/* POSTCODE. Royal Mail's formats over the real postcode areas (not any letter pair: "A1 1ST"
 * or "XY1 2AB" in a sentence are not postcodes), with the letter rules of each position, the
 * space optional (at most two), any case; plus GIR 0AA. An outward code alone never matches.
 * Group 1 is the inward code, for check_postcode(). */
#define PC_AREA1 "[BEGLMNSW]"
#define PC_AREA2                                                                                   \
    "(?:A[BL]|B[ABDHLNRSTX]|C[ABFHMORTVW]|D[ADEGHLNTY]|E[CHNX]|F[KY]|G[LUY]|H[ADGPRSUX]"           \
    "|I[GMPV]|JE|K[ATWY]|L[ADELNSU]|M[EKL]|N[EGNPRW]|O[LX]|P[AEHLOR]|R[GHM]"                       \
    "|S[AEGKLMNOPRSTWY]|T[ADFNQRSW]|UB|W[ACDFNRSV]|YO|ZE)"
#define PC_OUTWARD                                                                                 \
    "(?:" PC_AREA2 "[0-9](?:[0-9]|[ABEHMNPRVWXY])?|" PC_AREA1 "[0-9](?:[0-9]|[A-HJKPSTUW])?)"
#define PC_INWARD "[0-9][ABD-HJLNP-UW-Z]{2}"
#define PC_FULL "(?:GIR\\h{0,2}0AA|" PC_OUTWARD "\\h{0,2}(" PC_INWARD "))"
static const char postcode_re[] = "(?i)" NOT_AFTER_ALNUM PC_FULL "(?![\\p{L}\\p{N}])";
static const char postcode_whole_re[] = "(?i)\\A\\s*" PC_FULL "\\s*\\z";
static const char district_whole_re[] = "(?i)\\A\\s*" PC_OUTWARD "\\s*\\z";

/* NHS. Ten digits as 3-3-4 with optional space or hyphen separators (mixed too: the check
 * digit, not the typing, is the filter). About one random 10-digit number in eleven passes
 * modulus 11, so check_nhs() also refuses repdigit placeholders ("000 000 0000"). */
static const char nhs_re[] =
    "(?<![0-9])" NOT_AFTER_NUMSEP "([0-9]{3})[\\h\\-]?([0-9]{3})[\\h\\-]?([0-9]{4})(?![0-9])";

/* NINO. Prefix letters per HMRC: neither is D F I Q U V, the second is not O (the classes below);
 * the unallocated pairs BG GB KN NK NT TN ZZ are refused in check_nino(). Six digits, suffix A-D,
 * optional single spaces anywhere between the parts. The suffix is required: "AB 12 34 56" alone
 * is too close to ordinary references to call. HMRC's specimen "QQ 12 34 56 C" is not a NINO by
 * these rules, and passes. Group 1 is the prefix. */
static const char nino_re[] =
    "(?i)" NOT_AFTER_ALNUM "([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])\\h?[0-9]{2}\\h?[0-9]{2}\\h?"
    "[0-9]{2}\\h?[A-D](?![\\p{L}\\p{N}])";

/* DOB. A full date: day, month and year together, in four shapes:
 *   1-4   d/m/y with one separator kind (/ . -), year of 2 or 4 digits ("12/03/1985", "3-4-90")
 *   5-8   y-m-d, ISO order ("1985-03-12", "1985/3/12")
 *   9-11  d month y ("12 March 1985", "12th of Mar '85", "12-Mar-85", "12 March, 1985")
 *   12-14 month d, y ("March 12, 1985", "Mar 12th 1985"): 4-digit or apostrophe years only,
 *         because "May 5, 10 people" is far likelier than a 2-digit year here.
 * check_dob() then requires a real calendar date, a year from 1900, and not in the future. A
 * number that runs on ("1.2.3.4", "10:30") or an ISO week ("2026-W47") never matches. A d/m/y
 * that is no date is tried as m/d/y ("03/25/1985") only with a four-digit year. Two-digit years
 * count, so "on 3 May 25 people came" is refused: a rare false alarm, judged better than a leak. */
#define DOB_MONTH                                                                                  \
    "(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"                \
    "|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?!\\p{L})"
#define DOB_END "(?![0-9])(?![.:/\\-][0-9])"
static const char dob_re[] =
    "(?i)" NOT_AFTER_ALNUM NOT_AFTER_NUMSEP "(?:"
    "([0-9]{1,2})([/.\\-])([0-9]{1,2})\\2([0-9]{4}|[0-9]{2})" DOB_END
    "|([0-9]{4})([/.\\-])([0-9]{1,2})\\6([0-9]{1,2})" DOB_END
    "|([0-9]{1,2})(?:st|nd|rd|th)?(?:\\h{1,3}of)?[\\h\\-]{1,3}" DOB_MONTH
    "\\.?(?:,?\\h{1,3}(?:of\\h{1,3})?|[\\-/])([0-9]{4}|'?[0-9]{2})" DOB_END "|" DOB_MONTH
    "\\.?\\h{1,3}([0-9]{1,2})(?:st|nd|rd|th)?,?\\h{1,3}([0-9]{4}|'[0-9]{2})" DOB_END ")";

enum { OVEC_PAIRS = 20 };
/* Backstop against pathological input (the patterns are bounded, so this is never reached on
 * real text). A match that hits it counts as found: refusing a record beats leaking one. */
enum { MATCH_LIMIT = 1000000 };

typedef struct {
    const char *s;
    const PCRE2_SIZE *ov;
    struct tm today; /* filled on first use by check_dob */
    bool have_today;
} cand_t;

static pcre2_code *email_at, *postcode_whole, *district_whole;
static pcre2_match_context *match_ctx;
/* Set once the patterns are compiled. Not a pthread_once: tr_pii_shutdown must be able to undo
 * it, because a process may close one node and start another (tests do). */
static atomic_bool ready;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- helpers over a candidate's capture groups ---- */

static bool group_set(const cand_t *c, int g)
{
    return c->ov[2 * g] != PCRE2_UNSET;
}

static size_t group_len(const cand_t *c, int g)
{
    return group_set(c, g) ? c->ov[2 * g + 1] - c->ov[2 * g] : 0;
}

static const char *group_ptr(const cand_t *c, int g)
{
    return c->s + c->ov[2 * g];
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int lower_ascii(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

/* Parse an all-ASCII-digit group; -1 when unset or not plain digits. */
static int group_int(const cand_t *c, int g)
{
    if (!group_set(c, g))
        return -1;
    const char *p = group_ptr(c, g);
    size_t n = group_len(c, g);
    int v = 0;
    if (n > 0 && *p == '\'')
        p++, n--;
    if (n == 0 || n > 4)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* Is [p, p+n), lowercased, one of the words of list ("|a|b|")? */
static bool word_in(const char *p, size_t n, const char *list)
{
    char w[26] = "|";
    if (n == 0 || n > sizeof(w) - 3)
        return false;
    for (size_t i = 0; i < n; i++)
        w[i + 1] = (char)lower_ascii((unsigned char)p[i]);
    w[n + 1] = '|';
    w[n + 2] = '\0';
    return strstr(list, w) != NULL;
}

/* The ASCII word just before position pos, skipping spaces and one '.' or ':'. */
static bool preceded_by_word(const cand_t *c, size_t pos, const char *list)
{
    size_t i = pos;
    while (i > 0 && c->s[i - 1] == ' ')
        i--;
    if (i > 0 && (c->s[i - 1] == '.' || c->s[i - 1] == ':'))
        i--;
    size_t end = i;
    while (i > 0 && ((c->s[i - 1] | 32) >= 'a' && (c->s[i - 1] | 32) <= 'z'))
        i--;
    return end > i && word_in(c->s + i, end - i, list);
}

/* ---- EMAIL ---- */

/* Word lists are "|"-separated, lowercase. Words that sit before "at" in English ("find us at",
 * "visit @") far more often than a mailbox name does; only the spaced and bare forms look. */
static const char email_stop[] = "|us|me|you|him|her|them|we|it|i|online|here|there|find|look|visit"
                                 "|available|open|meet|see|email|mail|call|contact|reach|write"
                                 "|website|site|web|page|more|based|located|office|centre|center"
                                 "|details|info|is|are|was|be|or|and|also|only|";
/* Top-level labels a bare " at ... dot <tld>" must end in (or any two-letter country code):
 * "Jane at reception dot desk" is a sentence, not an address. */
static const char email_tlds[] = "|com|org|net|info|biz|edu|gov|nhs|scot|wales|cymru|email|mail|me"
                                 "|online|";
/* Personal-mail providers: "jane at gmail.com" is an address even with a literal dot. */
static const char email_webmail[] = "|gmail|googlemail|hotmail|outlook|live|yahoo|ymail|icloud|me"
                                    "|aol|msn|protonmail|proton|btinternet|sky|virginmedia"
                                    "|talktalk|tiscali|gmx|mail|";

static bool check_email(cand_t *c)
{
    const char *local = group_ptr(c, 1), *dom = group_ptr(c, 6);
    size_t nlocal = group_len(c, 1), ndom = group_len(c, 6);
    if (group_set(c, 2) || group_set(c, 4))
        return true; /* "a@b.c" and "a (at) b (dot) c" are never English */
    if (word_in(local, nlocal, email_stop))
        return false;
    if (group_set(c, 3))
        return true;
    /* Bare " at ": a literal dot in the domain makes it read as "at <website>" unless the
     * local part looks like a mailbox (dots, digits, _ or +) or the provider is a webmail. */
    size_t first = 0;
    while (first < ndom && dom[first] != '.' && dom[first] != ' ' && dom[first] != '(' &&
           dom[first] != '[')
        first++;
    bool webmail = word_in(dom, first, email_webmail);
    bool literal_dot = memchr(dom, '.', ndom) != NULL || (c->s[c->ov[2 * 7] - 1] == '.');
    bool mailboxy = false;
    for (size_t i = 0; i < nlocal; i++)
        if (strchr("._+0123456789", local[i]) != NULL)
            mailboxy = true;
    if (literal_dot)
        return mailboxy || webmail;
    return group_len(c, 7) == 2 || word_in(group_ptr(c, 7), group_len(c, 7), email_tlds) || webmail;
}

/* ---- PHONE ---- */

/* Count the national digits (with the trunk 0 put back for +44 forms) and accept when the run,
 * cut at a group boundary, is a UK number: 11 digits starting 01 02 03 05 07 08 09, or 10
 * digits starting 01 (some areas) or 08 (0800 xxx xxx). Cutting at boundaries means
 * "0113 496 0000 12 times" still counts. A national first group shorter than 3 digits
 * ("01-02-2024 10") is a date or a list, never how a UK number is written. */
static bool check_phone(cand_t *c)
{
    const char *p = c->s + c->ov[0], *end = c->s + c->ov[1];
    bool intl = group_set(c, 1);
    int skip = intl ? (*p == '+' ? 2 : 4) : 0; /* the digits of "+44" or "0044" */
    size_t n = intl, first_group = 0;          /* national digits, the trunk 0 included */
    char second = 0;                           /* the national digit after the 0 */
    for (; p < end; p++) {
        if (!is_digit(*p)) {
            if (n > 0 && first_group == 0)
                first_group = n;
            continue;
        }
        if (skip > 0) {
            skip--;
            continue;
        }
        if (intl && n == 1 && *p == '0')
            continue; /* "+44 (0)20 ...", or "+44 020 ..." typed by mistake */
        if (++n == 2)
            second = *p;
        if (n < 10 || (p + 1 < end && is_digit(p[1])))
            continue; /* only whole groups count */
        if (!intl && (first_group ? first_group : n) < 3)
            return false;
        if ((n == 11 && strchr("1235789", second) != NULL) ||
            (n == 10 && (second == '1' || second == '8')))
            return true;
    }
    return false;
}

/* ---- POSTCODE ---- */

/* "W1 2nd floor", "B2 3rd": an inward code in lowercase that spells the ordinal of its digit is
 * an ordinal. A postcode typed in lowercase with exactly that inward ("m1 2nd") is missed. */
static bool check_postcode(cand_t *c)
{
    if (!group_set(c, 1) || group_len(c, 1) != 3)
        return true; /* GIR 0AA */
    const char *in = group_ptr(c, 1);
    static const char *const ord[10] = {"th", "st", "nd", "rd", "th", "th", "th", "th", "th", "th"};
    return !(in[1] == ord[in[0] - '0'][0] && in[2] == ord[in[0] - '0'][1]);
}

/* ---- NHS ---- */

static bool check_nhs(cand_t *c)
{
    char d[10];
    memcpy(d, group_ptr(c, 1), 3);
    memcpy(d + 3, group_ptr(c, 2), 3);
    memcpy(d + 6, group_ptr(c, 3), 4);
    int sum = 0, same = 0;
    for (int i = 0; i < 9; i++) {
        sum += (d[i] - '0') * (10 - i);
        same += d[i] == d[9];
    }
    int check = (11 - sum % 11) % 11; /* 11 becomes 0; 10 matches no digit */
    return check == d[9] - '0' && same < 9;
}

/* ---- NINO ---- */

static bool check_nino(cand_t *c)
{
    /* A prefix that is not two ASCII bytes got there by Unicode case folding (the Kelvin sign
     * matches K): odd enough to refuse. */
    return group_len(c, 1) != 2 || !word_in(group_ptr(c, 1), 2, "|bg|gb|kn|nk|nt|tn|zz|");
}

/* ---- DOB ---- */

/* A real calendar date, from 1900, not after today (local time). */
static bool plausible_birth(cand_t *c, int y, int m, int d)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!c->have_today) {
        time_t now = time(NULL);
        localtime_r(&now, &c->today);
        c->have_today = true;
    }
    int ty = c->today.tm_year + 1900, tm = c->today.tm_mon + 1, td = c->today.tm_mday;
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return false;
    return y < ty || (y == ty && (m < tm || (m == tm && d <= td)));
}

/* Two-digit years are whichever century makes a plausible birth date ("85" is 1985, "24"
 * is 2024 if that date has passed, else 1924): every two-digit year can be a living person's. */
static bool plausible_birth_yy(cand_t *c, int y, int ylen, int m, int d)
{
    if (ylen >= 4)
        return plausible_birth(c, y, m, d);
    return plausible_birth(c, 2000 + y, m, d) || plausible_birth(c, 1900 + y, m, d);
}

static int month_number(const char *p, size_t n)
{
    static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    char m[4] = {0};
    for (size_t i = 0; i < 3 && i < n; i++)
        m[i] = (char)lower_ascii((unsigned char)p[i]);
    const char *hit = n >= 3 ? strstr(names, m) : NULL;
    return hit != NULL && (hit - names) % 3 == 0 ? (int)(hit - names) / 3 + 1 : -1;
}

/* Words before a dotted triple that make it a version or a reference ("version 1.2.30",
 * "section 10.12.14"), not a date. */
static const char dotted_not_date[] = "|v|ver|version|release|rel|build|section|sec|para"
                                      "|paragraph|clause|chapter|fig|figure|table|step|rule|item|";

static bool check_dob(cand_t *c)
{
    int ylen;
    if (group_set(c, 1)) { /* d/m/y, or m/d/y when the year has four digits */
        if (*group_ptr(c, 2) == '.' && preceded_by_word(c, c->ov[0], dotted_not_date))
            return false;
        int a = group_int(c, 1), b = group_int(c, 3), y = group_int(c, 4);
        ylen = (int)group_len(c, 4);
        return plausible_birth_yy(c, y, ylen, b, a) || (ylen == 4 && plausible_birth(c, y, a, b));
    }
    if (group_set(c, 5)) {
        if (*group_ptr(c, 6) == '.' && preceded_by_word(c, c->ov[0], dotted_not_date))
            return false;
        return plausible_birth(c, group_int(c, 5), group_int(c, 7), group_int(c, 8));
    }
    if (group_set(c, 9)) {
        ylen = (int)group_len(c, 11) - (*group_ptr(c, 11) == '\'');
        /* "12 March, 25 people came": a comma before a two-digit year ends the date. */
        const char *mend = c->s + c->ov[2 * 10 + 1];
        if (ylen == 2 && memchr(mend, ',', (size_t)(group_ptr(c, 11) - mend)) != NULL)
            return false;
        return plausible_birth_yy(c, group_int(c, 11), ylen,
                                  month_number(group_ptr(c, 10), group_len(c, 10)),
                                  group_int(c, 9));
    }
    ylen = (int)group_len(c, 14) - (*group_ptr(c, 14) == '\'');
    return plausible_birth_yy(c, group_int(c, 14), ylen,
                              month_number(group_ptr(c, 12), group_len(c, 12)), group_int(c, 13));
}

typedef bool (*check_fn)(cand_t *c);

/* Where a detector's pattern runs (see find_one): over the whole text when it starts with a digit
 * or "+" (PCRE2 skips ahead to those by itself), else only near digits or an "@"/"at". */
typedef enum { RUN_WHOLE, RUN_NEAR_DIGITS, RUN_NEAR_AT } run_t;

/* In tie order: when two kinds match at the same place with the same length, the stricter
 * (check-digit, fixed-format) one names the finding. */
static struct detector {
    tr_pii_kind_t kind;
    const char *re;
    check_fn check;
    run_t run;
    pcre2_code *code; /* compiled by tr_pii_init */
} detectors[] = {
    {TR_PII_NHS, nhs_re, check_nhs, RUN_WHOLE, NULL},
    {TR_PII_NINO, nino_re, check_nino, RUN_NEAR_DIGITS, NULL},
    {TR_PII_EMAIL, email_re, check_email, RUN_NEAR_AT, NULL},
    {TR_PII_POSTCODE, postcode_re, check_postcode, RUN_NEAR_DIGITS, NULL},
    {TR_PII_DOB, dob_re, check_dob, RUN_NEAR_DIGITS, NULL},
    {TR_PII_PHONE, phone_re, check_phone, RUN_WHOLE, NULL},
};
#define N_DETECTORS (sizeof(detectors) / sizeof(detectors[0]))

/* ---- set-up ---- */

static pcre2_code *compile(const char *re, int *err)
{
    PCRE2_SIZE off;
    /* MATCH_INVALID_UTF: arbitrary bytes are scanned safely, invalid sequences never match a
     * character, and no separate UTF-8 validation pass is needed. */
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, err, &off, NULL);
    if (code == NULL)
        return NULL;
    /* Without JIT (an exotic CPU, or W^X policy) the interpreter gives the same answers. */
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    return code;
}

static void free_all(void)
{
    for (size_t i = 0; i < N_DETECTORS; i++) {
        pcre2_code_free(detectors[i].code);
        detectors[i].code = NULL;
    }
    pcre2_code_free(email_at);
    pcre2_code_free(postcode_whole);
    pcre2_code_free(district_whole);
    pcre2_match_context_free(match_ctx);
    email_at = postcode_whole = district_whole = NULL;
    match_ctx = NULL;
}

static int compile_all(void)
{
    int err = PCRE2_ERROR_NOMEMORY;
    match_ctx = pcre2_match_context_create(NULL);
    if (match_ctx == NULL)
        goto fail;
    pcre2_set_match_limit(match_ctx, MATCH_LIMIT);
    for (size_t i = 0; i < N_DETECTORS; i++)
        if ((detectors[i].code = compile(detectors[i].re, &err)) == NULL)
            goto fail;
    if ((email_at = compile(email_at_re, &err)) == NULL ||
        (postcode_whole = compile(postcode_whole_re, &err)) == NULL ||
        (district_whole = compile(district_whole_re, &err)) == NULL)
        goto fail;
    return 0;
fail:
    free_all();
    /* Anything but lack of memory is a bad pattern here, which the unit tests catch. */
    return err == PCRE2_ERROR_NOMEMORY ? TR_E_NOMEM : TR_E_INVAL;
}

/* Double-checked: after the first call, the scanners' threads only read the flag. */
int tr_pii_init(void)
{
    if (atomic_load_explicit(&ready, memory_order_acquire))
        return 0;
    pthread_mutex_lock(&init_lock);
    int rc = 0;
    if (!atomic_load_explicit(&ready, memory_order_relaxed) && (rc = compile_all()) == 0)
        atomic_store_explicit(&ready, true, memory_order_release);
    pthread_mutex_unlock(&init_lock);
    return rc;
}

/* Only once no thread scans any more (at exit, or between two nodes in one process): the next
 * tr_pii_init or scan compiles the patterns again. */
void tr_pii_shutdown(void)
{
    pthread_mutex_lock(&init_lock);
    free_all();
    atomic_store_explicit(&ready, false, memory_order_relaxed);
    pthread_mutex_unlock(&init_lock);
}

/* ---- scanning ---- */

/* Where to look. Most text has few digits and fewer "@"/"at" tokens, and running every pattern
 * over all of it is slow (about 30 MB/s for the six), so the detectors whose matches start with a
 * letter but hold digits run only in windows around digits: from WIN_BEFORE bytes before a digit to
 * WIN_AFTER after it, merged. Both exceed what any match holds before its first digit, between two
 * digits or after its last one, lookarounds included (the longest gap is "12th of September, '85",
 * under 70 bytes even with 3-byte spaces). */
enum { WIN_BEFORE = 32, WIN_AFTER = 80 };
/* An email's local part (at most 9 words of 64 characters and 8 "(dot)"s) ends within this many
 * bytes before its "@" or "at". */
enum { EMAIL_BACK = 2600 };

typedef struct {
    size_t start, end;
} span_t;

/* The next window at or after *pos (windows never overlap), or false when no digit is left. */
static bool next_window(const char *text, size_t len, size_t *pos, span_t *w)
{
    size_t i = *pos, j;
    while (i < len && !is_digit(text[i]))
        i++;
    if (i >= len)
        return false;
    w->start = i > WIN_BEFORE ? i - WIN_BEFORE : 0;
    for (j = i + 1; j < len && j - i <= WIN_BEFORE + WIN_AFTER; j++)
        if (is_digit(text[j]))
            i = j; /* close enough to share the window */
    w->end = len - i > WIN_AFTER ? i + WIN_AFTER : len;
    *pos = j;
    return true;
}

/* First match of d starting in [from, end] (and no later than limit) that its check accepts,
 * seen with the text cut at end. A candidate the check refuses does not end the search: the next
 * may start one character later. A match that hits a resource limit counts as found. */
static bool find_in(const struct detector *d, const char *text, size_t from, size_t end,
                    size_t limit, pcre2_match_data *md, span_t *found)
{
    while (from <= end && from <= limit) {
        int rc = pcre2_match(d->code, (PCRE2_SPTR)text, end, from, 0, md, match_ctx);
        if (rc == PCRE2_ERROR_NOMATCH)
            return false;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (rc < 0) {
            *found = (span_t){from, from};
            return true;
        }
        if (ov[0] > limit)
            return false;
        cand_t c = {.s = text, .ov = ov};
        if (d->check(&c)) {
            *found = (span_t){ov[0], ov[1]};
            return true;
        }
        from = ov[0] + 1; /* to the next character: skip UTF-8 continuation bytes */
        while (from < end && ((unsigned char)text[from] & 0xC0) == 0x80)
            from++;
    }
    return false;
}

static bool find_one(const struct detector *d, const char *text, size_t len, size_t limit,
                     pcre2_match_data *md, span_t *found)
{
    if (d->run == RUN_WHOLE)
        return find_in(d, text, 0, len, limit, md, found);
    if (d->run == RUN_NEAR_DIGITS) {
        span_t w;
        for (size_t pos = 0; next_window(text, len, &pos, &w) && w.start <= limit;)
            if (find_in(d, text, w.start, w.end, limit, md, found))
                return true;
        return false;
    }
    /* Each "@"/"at" followed by a domain brings the text before it, up to that domain's end,
     * to the full pattern. */
    for (size_t at = 0; at <= len;) {
        int rc = pcre2_match(email_at, (PCRE2_SPTR)text, len, at, 0, md, match_ctx);
        if (rc == PCRE2_ERROR_NOMATCH)
            return false;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (rc < 0) {
            *found = (span_t){at, at};
            return true;
        }
        size_t p = ov[0], end = ov[1], from = p > EMAIL_BACK ? p - EMAIL_BACK : 0;
        if (from > limit)
            return false;
        if (find_in(d, text, from, end, limit, md, found))
            return true;
        at = p + 1;
    }
    return false;
}

tr_pii_kind_t tr_pii_scan(const char *text, size_t len, unsigned mask)
{
    if (text == NULL || len == 0 || (mask & TR_PII_ALL) == 0)
        return TR_PII_NONE;
    int rc = tr_pii_init();
    if (rc == TR_E_NOMEM)
        abort(); /* the project's rule for out of memory */
    if (rc != 0) /* a pattern that does not compile: fail closed, report the mask's first kind */
        return (tr_pii_kind_t)(mask & TR_PII_ALL & -(mask & TR_PII_ALL));
    pcre2_match_data *md = pcre2_match_data_create(OVEC_PAIRS, NULL);
    if (md == NULL)
        abort();
    /* Report the finding that starts first in the text; on a tie the longer one ("ls61aa@x.com"
     * is an email address), then detector order. */
    tr_pii_kind_t best = TR_PII_NONE;
    size_t best_start = len, best_end = 0;
    for (size_t i = 0; i < N_DETECTORS; i++) {
        span_t f;
        if (!(detectors[i].kind & mask) || !find_one(&detectors[i], text, len, best_start, md, &f))
            continue;
        if (best == TR_PII_NONE || f.start < best_start ||
            (f.start == best_start && f.end > best_end)) {
            best = detectors[i].kind;
            best_start = f.start;
            best_end = f.end;
        }
    }
    pcre2_match_data_free(md);
    return best;
}

/* code is the address of the pattern: it is compiled by tr_pii_init, which
 * a first call in a process runs here. */
static int whole_match(pcre2_code *const *code_at, const char *s)
{
    if (s == NULL || tr_pii_init() != 0)
        return 0;
    pcre2_code *code = *code_at;
    pcre2_match_data *md = pcre2_match_data_create(OVEC_PAIRS, NULL);
    if (md == NULL)
        abort();
    int rc = pcre2_match(code, (PCRE2_SPTR)s, strlen(s), 0, 0, md, match_ctx);
    pcre2_match_data_free(md);
    return rc > 0;
}

/* Whole-string checks for single fields: surrounding whitespace is ignored, and there is no
 * ordinal rule (a field holding just "m1 2nd" is a postcode). */
int tr_pii_is_full_postcode(const char *s)
{
    return whole_match(&postcode_whole, s);
}

bool tr_pii_postcode_key(const char *in, char *out, size_t out_len)
{
    size_t n = 0;
    for (; *in; in++) {
        if (*in == ' ')
            continue;
        if (!isalnum((unsigned char)*in) || n + 1 >= out_len) {
            out[0] = '\0';
            return false;
        }
        out[n++] = (char)toupper((unsigned char)*in);
    }
    out[n] = '\0';
    /* The patterns are compiled on first use (a node did at start-up). */
    if (tr_pii_init() == 0 && tr_pii_is_full_postcode(out))
        return true;
    out[0] = '\0';
    return false;
}

int tr_pii_is_postcode_district(const char *s)
{
    return whole_match(&district_whole, s);
}

/* Name and code of each kind, by bit number. */
static const char *const kind_text[][2] = {
    {"email address", "email"},
    {"UK phone number", "phone"},
    {"full UK postcode", "postcode"},
    {"NHS number", "nhs_number"},
    {"National Insurance number", "ni_number"},
    {"date of birth", "date_of_birth"},
};

static const char *kind_field(tr_pii_kind_t kind, int field, const char *none, const char *other)
{
    if (kind == TR_PII_NONE)
        return none;
    for (unsigned i = 0; i < sizeof(kind_text) / sizeof(kind_text[0]); i++)
        if ((unsigned)kind == 1u << i)
            return kind_text[i][field];
    return other;
}

const char *tr_pii_name(tr_pii_kind_t kind)
{
    return kind_field(kind, 0, "no personal data", "personal data");
}

const char *tr_pii_code(tr_pii_kind_t kind)
{
    return kind_field(kind, 1, "none", "personal_data");
}
