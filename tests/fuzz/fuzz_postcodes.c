/* Fuzz target for server/postcode_read.c: any bytes as an ONSPD or Code-Point Open file, read
 * as either or as Code-Point Open only. Every postcode handed on is a full postcode in the
 * lookup's form with its district and a GSS code of letters and digits, its point a finite one
 * over Great Britain; a refusal names the file; a callback's failure stops the reading at once. */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postcode_read.h"
#include "tr_error.h"
#include "tr_pii.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    long long calls, fail_at; /* the callback fails on call fail_at (0: never) */
} sink_t;

static void check_row(const postcode_row_t *r)
{
    size_t n = strlen(r->postcode), d = strlen(r->district), l = strlen(r->lad);
    if (!tr_pii_is_full_postcode(r->postcode) || n < 5 || n > 7 || d != n - 3 ||
        strncmp(r->postcode, r->district, d) != 0 || l > 15)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!isupper((unsigned char)r->postcode[i]) && !isdigit((unsigned char)r->postcode[i]))
            abort();
    for (size_t i = 0; i < l; i++)
        if (!isalnum((unsigned char)r->lad[i]))
            abort();
    /* ONSPD points are taken within 49..61 N, 9 W..3 E; grid references within the grid's
     * 700 km by 1300 km fall a little wider. */
    if (!isfinite(r->lat) || !isfinite(r->lng) || r->lat < 48 || r->lat > 63 || r->lng < -12 ||
        r->lng > 5)
        abort();
}

static int on_row(const postcode_row_t *row, void *ud, char *err, size_t err_len)
{
    sink_t *s = ud;
    check_row(row);
    if (++s->calls == s->fail_at) {
        snprintf(err, err_len, "stopped");
        return TR_E_DB;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int pass = 0; pass < 3; pass++) {
        FILE *f = fmemopen((void *)data, size, "rb");
        if (!f)
            return 0; /* an empty input, on an older glibc */
        sink_t sink = {.fail_at = pass == 2 ? 2 : 0};
        postcode_counts_t counts = {0};
        postcode_format_t format;
        char err[256] = "";
        int rc = postcode_read(f, "fuzz.csv", pass == 1 ? POSTCODE_CODEPOINT : POSTCODE_ANY,
                               &format, on_row, &sink, &counts, err, sizeof(err));
        fclose(f);
        if (counts.kept !=
                (sink.fail_at && sink.calls == sink.fail_at ? sink.calls - 1 : sink.calls) ||
            counts.kept > counts.rows)
            abort();
        if (rc == 0 && (format == POSTCODE_ANY || (pass == 1 && format != POSTCODE_CODEPOINT)))
            abort();
        if (sink.fail_at && sink.calls == sink.fail_at && (rc != TR_E_DB || strcmp(err, "stopped")))
            abort();
        if (rc != 0 && rc != TR_E_DB && (rc != TR_E_IO || strncmp(err, "fuzz.csv", 8) != 0))
            abort();
    }
    return 0;
}
