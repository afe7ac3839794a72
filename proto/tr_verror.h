/* Validation errors: every error a validator finds, each with its JSON path,
 * a stable code and a message for people that never holds the refused value
 * (docs/records.md, "Errors"). Apart from tr_record.h so that the checks and
 * the validators need not include the record API that calls them. */
#ifndef TR_VERROR_H
#define TR_VERROR_H

#include <jansson.h>
#include <stddef.h>

/* One validation error. path is a JSON path from the record's root
 * ("$.body.needs[2]"); code a stable machine word ("unknown_field",
 * "required", "type", "enum", "too_long", "personal_data", ...); message is
 * for people and never contains the refused value. */
typedef struct {
    char path[128];
    char code[32];
    char message[192];
} tr_verror_t;

typedef struct {
    tr_verror_t *items;
    size_t n, cap;
    size_t max; /* stop collecting past this many (0: 64) */
} tr_verrors_t;

void tr_verrors_init(tr_verrors_t *e);
void tr_verrors_free(tr_verrors_t *e);
void tr_verrors_add(tr_verrors_t *e, const char *path, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* [{"path","code","message"}, ...] (new reference). */
json_t *tr_verrors_json(const tr_verrors_t *e);

#endif
