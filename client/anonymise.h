/* Anonymisation at source: one row of an export in, the Trellis records it
 * stands for out, before anything is written anywhere. Only the columns the
 * mapping names are read; the case reference becomes the record id by HMAC
 * under the local secret; dates, ages and postcodes are coarsened by the
 * rules of proto/tr_anon.h; free text is scanned and a row whose text
 * carries personal data is quarantined. Every record is validated with the
 * node's own validator before it may be spooled. Errors name the column and
 * never the value. */
#ifndef ANONYMISE_H
#define ANONYMISE_H

#include "agent_secret.h"
#include "mapping.h"
#include "source.h"

#include <jansson.h>

typedef struct anon anon_t;

/* m and origin are borrowed; the secret is copied. */
anon_t *anon_new(const mapping_t *m, const uint8_t secret[AGENT_SECRET_LEN], const char *origin);
void anon_free(anon_t *a);

/* A CSV header: every column the mapping reads must be in it. 0, or -1 with
 * the line and the first missing column in err. */
int anon_bind_header(anon_t *a, const char *const *names, size_t n, long line, char *err,
                     size_t err_len);

typedef enum {
    ANON_OK = 0,     /* records are ready to spool */
    ANON_QUARANTINE, /* records built, but free text carries personal data: keep locally */
    ANON_ROW_ERROR,  /* the row cannot become a record (a missing value, an unknown code) */
} anon_result_t;

typedef struct {
    json_t *records;  /* the envelopes (a new reference), for ANON_OK and ANON_QUARANTINE */
    char column[128]; /* the column at fault */
    char why[320];    /* what is wrong, in words, never the value */
} anon_out_t;

/* Turn one row into records. out->records must be released by the caller
 * (json_decref) whatever the result. */
anon_result_t anon_row(anon_t *a, const src_row_t *row, anon_out_t *out);

#endif
