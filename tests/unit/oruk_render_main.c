/* oruk_render: reads one record (JSON) on stdin, validates it as the node
 * does and prints its Open Referral UK view, for tests/integration/test_oruk_schema.py.
 *   oruk_render [--public] [--summary] < record.json
 * Exit 0 with the ORUK object; 1 with {"errors": [...]} if the record is
 * refused; 2 on a usage or parse error. */
#include "tr_oruk.h"
#include "tr_pii.h"
#include "tr_record.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    bool public_view = false, summary = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--public") == 0) {
            public_view = true;
        } else if (strcmp(argv[i], "--summary") == 0) {
            summary = true;
        } else {
            fprintf(stderr, "usage: oruk_render [--public] [--summary] < record.json\n");
            return 2;
        }
    }
    if (tr_pii_init() != 0) {
        fprintf(stderr, "oruk_render: the PII scanner did not start\n");
        return 2;
    }
    json_error_t jerr;
    json_t *doc = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        fprintf(stderr, "oruk_render: line %d: %s\n", jerr.line, jerr.text);
        return 2;
    }
    int rc = 0;
    tr_record_t rec;
    tr_verrors_t errs;
    tr_verrors_init(&errs);
    json_t *out;
    if (tr_record_validate(doc, &rec, &errs) != 0) {
        out = json_pack("{s:o}", "errors", tr_verrors_json(&errs));
        rc = 1;
    } else if (rec.kind != TR_KIND_DIRECTORY_SERVICE) {
        fprintf(stderr, "oruk_render: not a directory.service record\n");
        rc = 2;
        out = NULL;
    } else {
        out = summary ? tr_oruk_service_summary(rec.body, public_view)
                      : tr_oruk_service(rec.body, public_view);
    }
    if (out) {
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
    }
    json_decref(out);
    tr_record_clear(&rec);
    tr_verrors_free(&errs);
    json_decref(doc);
    tr_pii_shutdown();
    return rc;
}
