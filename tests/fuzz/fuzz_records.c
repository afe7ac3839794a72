/* Fuzz target for record validation (proto/tr_record.c and the validators of every kind): the
 * input is JSON; it is validated as sent, then with its kind set to each kind in turn, so every
 * validator sees every shape. Accepted means no error and a record filled; refused means at
 * least one error, each with a path from "$", a code and a message, and the record cleared. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tr_pii.h"
#include "tr_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(json_t *doc)
{
    tr_record_t rec;
    tr_verrors_t errs;
    memset(&rec, 0xa5, sizeof rec); /* validate must set it either way */
    tr_verrors_init(&errs);
    int rc = tr_record_validate(doc, &rec, &errs);
    if (rc == 0) {
        if (errs.n != 0 || rec.doc != doc || rec.kind >= TR_KIND_COUNT_ ||
            strlen(rec.id) != TR_UUID_LEN || rec.version < 1)
            abort();
        tr_record_clear(&rec);
    } else {
        if (errs.n == 0 || rec.doc != NULL)
            abort();
        for (size_t i = 0; i < errs.n; i++) {
            const tr_verror_t *e = &errs.items[i];
            if (e->path[0] != '$' || !e->code[0] || !e->message[0])
                abort();
        }
        json_t *j = tr_verrors_json(&errs);
        if (!json_is_array(j) || json_array_size(j) != errs.n)
            abort();
        json_decref(j);
    }
    tr_verrors_free(&errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        if (tr_pii_init() != 0)
            abort();
        ready = true;
    }
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (doc == NULL)
        return 0;
    check(doc);
    if (json_is_object(doc)) {
        for (int k = 0; k < TR_KIND_COUNT_; k++) {
            json_t *copy = json_deep_copy(doc);
            json_object_set_new(copy, "kind", json_string(tr_kind_name((tr_kind_t)k)));
            check(copy);
            json_decref(copy);
        }
    }
    json_decref(doc);
    return 0;
}
