/* Fuzz target for the agent's export readers and anonymiser: arbitrary bytes
 * as CSV and as JSON/NDJSON (client/csv_reader.c, client/json_reader.c),
 * each row through the example referral mapping (client/anonymise.c). A
 * reader either reads to the end or stops with a message naming a line;
 * every CSV value it hands on is UTF-8; the anonymiser never crashes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anonymise.h"
#include "csv_reader.h"
#include "json_reader.h"

#ifndef EXAMPLES_DIR
#define EXAMPLES_DIR "deploy/examples"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static mapping_t *map;
static anon_t *anon;

static int on_header(void *ctx, const char *const *names, size_t n, long line)
{
    char err[512];
    (void)anon_bind_header(anon, names, n, line, err, sizeof(err));
    return 0; /* carry on, to reach the rows whatever the header */
}

static int on_row(void *ctx, const src_row_t *row)
{
    if (row->line < 1)
        abort();
    for (size_t i = 0; i < row->n; i++)
        if (*(int *)ctx &&
            (!row->values[i] || !src_utf8_valid(row->values[i], strlen(row->values[i]))))
            abort();
    anon_out_t out;
    (void)anon_row(anon, row, &out);
    json_decref(out.records);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!map) {
        char err[512];
        map = mapping_load(EXAMPLES_DIR "/referrals.map", err, sizeof(err));
        if (!map) {
            fprintf(stderr, "%s\n", err);
            abort();
        }
        static const uint8_t secret[AGENT_SECRET_LEN] = {7};
        anon = anon_new(map, secret, "northside-womens-aid");
    }
    for (int as_csv = 0; as_csv < 2; as_csv++) {
        FILE *f = fmemopen(size ? (void *)data : (void *)"", size ? size : 1, "r");
        if (!f)
            abort();
        if (!size)
            fgetc(f); /* an empty stream */
        char err[512] = "";
        src_sink_t sink = {on_header, on_row, &as_csv};
        int rc = as_csv ? csv_read(f, "fuzz", &sink, err, sizeof(err))
                        : json_read(f, "fuzz", &sink, err, sizeof(err));
        fclose(f);
        if (rc == SRC_E_BAD && strncmp(err, "fuzz line ", 10) != 0)
            abort();
    }
    return 0;
}
