/* A referral's current status: a deterministic fold over its pathway.event
 * records (DESIGN.md: shared state is an append-only log of events). The
 * state machine is documented in docs/records.md. An impossible or
 * out-of-order transition is kept and flagged, never dropped. */
#ifndef TR_FOLD_H
#define TR_FOLD_H

#include <jansson.h>
#include <stddef.h>

/* Statuses in lifecycle order; the names are pathway.event's "status" values. */
typedef enum {
    TR_REF_SENT = 0,
    TR_REF_RECEIVED,
    TR_REF_ACCEPTED,
    TR_REF_DECLINED,
    TR_REF_CONTACTED,
    TR_REF_CLOSED,
    TR_REF_WITHDRAWN,
    TR_REF_STATUS_COUNT_
} tr_ref_status_t;

const char *tr_ref_status_name(tr_ref_status_t s);
int tr_ref_status_parse(const char *name, tr_ref_status_t *out);

typedef struct {
    const char *id;     /* the event record's id (borrowed) */
    const char *origin; /* organisation that wrote it (borrowed) */
    tr_ref_status_t status;
    long long days; /* whole days since the referral */
} tr_fold_event_t;

typedef struct {
    tr_ref_status_t status; /* current status (TR_REF_SENT with no events) */
    long long days;         /* days of the event that set it */
    size_t n_events;
    json_t *flags; /* [{"event": id, "problem": "impossible_transition"|...}] (new reference) */
} tr_fold_result_t;

/* Fold events (any order: the fold sorts a copy by days, then lifecycle
 * order, then id, so every node computes the same result). 0 or TR_E_NOMEM. */
int tr_referral_fold(const tr_fold_event_t *events, size_t n, tr_fold_result_t *out);
void tr_fold_result_clear(tr_fold_result_t *r);

#endif
