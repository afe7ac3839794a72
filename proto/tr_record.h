/* Records: the envelope every kind shares ({kind, id, origin, version, body},
 * plus audience, signed_at, signer and sig once signed), the kinds, and validation. A validator
 * returns every error with its JSON path, refuses unknown fields, and never
 * echoes a refused value. This is the wire contract of DESIGN.md's data model. */
#ifndef TR_RECORD_H
#define TR_RECORD_H

#include "tr_verror.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    TR_KIND_DIRECTORY_SERVICE = 0,
    TR_KIND_PATHWAY_REFERRAL,
    TR_KIND_PATHWAY_EVENT,
    TR_KIND_FEEDBACK_ENTRY,
    TR_KIND_FEEDBACK_RESPONSE,
    TR_KIND_COUNT_
} tr_kind_t;

/* "directory.service", ... */
const char *tr_kind_name(tr_kind_t kind);
/* 0, or TR_E_INVAL for an unknown name. */
int tr_kind_parse(const char *name, tr_kind_t *out);
/* Mutable kinds are replaced by a higher version; the others are written once. */
bool tr_kind_mutable(tr_kind_t kind);

#define TR_UUID_LEN 36
/* audience: who the origin shares a record with (docs/records.md). */
#define TR_AUDIENCE_CONSORTIUM "consortium"
#define TR_AUDIENCE_MAX 64
#define TR_MAX_VERSION INT64_C(9007199254740991) /* 2^53-1: exact in every JSON reader */

/* A validated record. doc is the whole envelope (a reference is held);
 * body borrows from it. */
typedef struct {
    tr_kind_t kind;
    char id[TR_UUID_LEN + 1];
    char origin[64];
    int64_t version;
    json_t *doc;
    json_t *body;
} tr_record_t;

/* Validate an envelope and its body. On success (0) rec is filled and holds a
 * reference to doc (free with tr_record_clear). On failure returns TR_E_INVAL
 * with every error in errs and rec cleared. Thread-safe (validation runs on
 * the server's thread pool). */
int tr_record_validate(json_t *doc, tr_record_t *rec, tr_verrors_t *errs);
void tr_record_clear(tr_record_t *rec);

/* Body validators, one per kind (tr_validate_<kind>.c). path is the body's
 * path ("$.body"); id and origin are the envelope's, for cross-checks. */
void tr_validate_directory_service(json_t *body, const char *id, const char *origin,
                                   tr_verrors_t *errs);
void tr_validate_pathway_referral(json_t *body, tr_verrors_t *errs);
void tr_validate_pathway_event(json_t *body, tr_verrors_t *errs);
void tr_validate_feedback_entry(json_t *body, tr_verrors_t *errs);
void tr_validate_feedback_response(json_t *body, tr_verrors_t *errs);

/* The code lists the validators accept (NULL-terminated, static), for /v1
 * filters and docs; NULL for an unknown name. Pathway: "needs", "risk",
 * "age_band", "route", "status", "reason.declined", "reason.closed",
 * "reason.withdrawn". Feedback: "source_role", "themes", "level", "status"
 * (a response's). Directory: "status", "for_genders", "risk_levels",
 * "accessibility", "needs" (the pathway's). Documented in docs/records.md
 * and docs/directory.md. */
const char *const *tr_pathway_codes(const char *field);
const char *const *tr_feedback_codes(const char *field);
const char *const *tr_directory_codes(const char *field);

#endif
