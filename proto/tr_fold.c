/* The referral state machine (docs/records.md, "Referral lifecycle"): a fold
 * over a referral's pathway.event records that every node computes alike,
 * whatever order the events arrived in. */
#include "tr_fold.h"
#include "tr_error.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[TR_REF_STATUS_COUNT_] = {
    [TR_REF_SENT] = "sent",           [TR_REF_RECEIVED] = "received",
    [TR_REF_ACCEPTED] = "accepted",   [TR_REF_DECLINED] = "declined",
    [TR_REF_CONTACTED] = "contacted", [TR_REF_CLOSED] = "closed",
    [TR_REF_WITHDRAWN] = "withdrawn",
};

const char *tr_ref_status_name(tr_ref_status_t s)
{
    return (unsigned)s < TR_REF_STATUS_COUNT_ ? status_names[s] : "unknown";
}

int tr_ref_status_parse(const char *name, tr_ref_status_t *out)
{
    for (int i = 0; i < TR_REF_STATUS_COUNT_; i++) {
        if (strcmp(name, status_names[i]) == 0) {
            *out = (tr_ref_status_t)i;
            return 0;
        }
    }
    return TR_E_INVAL;
}

#define S TR_REF_SENT
#define R TR_REF_RECEIVED
#define A TR_REF_ACCEPTED
#define D TR_REF_DECLINED
#define C TR_REF_CONTACTED
#define X TR_REF_CLOSED
#define W TR_REF_WITHDRAWN

/* allowed[from][to]: the transitions that move the status. received may be
 * skipped (not every service records receipt; accepting or declining implies
 * it), and so may contacted (a referral accepted but never reached is closed,
 * typically "disengaged"). accepted may not: contact before acceptance is
 * out of the lifecycle. Terminal statuses allow nothing. */
static const bool allowed[TR_REF_STATUS_COUNT_][TR_REF_STATUS_COUNT_] = {
    [S] = {[R] = true, [A] = true, [D] = true, [W] = true},
    [R] = {[A] = true, [D] = true, [W] = true},
    [A] = {[C] = true, [X] = true, [W] = true},
    [C] = {[X] = true, [W] = true},
};

static bool terminal(tr_ref_status_t s)
{
    return s == D || s == X || s == W;
}

#undef S
#undef R
#undef A
#undef D
#undef C
#undef X
#undef W

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

/* days, then lifecycle order (the enum's), then event id, then origin: a
 * total order on distinct events, so the result never depends on input order. */
static int event_cmp(const void *pa, const void *pb)
{
    const tr_fold_event_t *a = pa, *b = pb;
    if (a->days != b->days)
        return a->days < b->days ? -1 : 1;
    if (a->status != b->status)
        return a->status < b->status ? -1 : 1;
    int c = cmp_str(a->id, b->id);
    return c ? c : cmp_str(a->origin, b->origin);
}

/* Why ev cannot move the status from cur (NULL: it can). seen[s] is whether an
 * event has already set status s. */
static const char *problem_of(tr_ref_status_t cur, const bool *seen, tr_ref_status_t to)
{
    if ((unsigned)to >= TR_REF_STATUS_COUNT_)
        return "invalid_status";
    if (seen[to])
        return "duplicate";
    if (terminal(cur))
        return "after_terminal";
    if (to == TR_REF_SENT)
        /* The referral record is the sending; one "sent" event may confirm it
         * before anything else has happened. */
        return cur == TR_REF_SENT ? NULL : "out_of_order";
    if (allowed[cur][to])
        return NULL;
    /* A step of the main line (sent, received, accepted) that the referral has
     * already gone past arrived late; anything else contradicts the path
     * taken (declined after accepted, contacted before accepted). */
    bool behind = (to == TR_REF_RECEIVED || to == TR_REF_ACCEPTED) && to < cur;
    return behind ? "out_of_order" : "impossible_transition";
}

static int add_flag(json_t *flags, const char *id, const char *problem)
{
    json_t *f = json_pack("{s:s, s:s}", "event", id ? id : "", "problem", problem);
    if (!f || json_array_append_new(flags, f) != 0)
        return TR_E_NOMEM;
    return 0;
}

int tr_referral_fold(const tr_fold_event_t *events, size_t n, tr_fold_result_t *out)
{
    memset(out, 0, sizeof(*out));
    out->status = TR_REF_SENT;
    out->n_events = n;
    out->flags = json_array();
    if (!out->flags)
        return TR_E_NOMEM;
    if (n == 0)
        return 0;

    tr_fold_event_t *sorted = malloc(n * sizeof(*sorted));
    if (!sorted)
        goto fail;
    memcpy(sorted, events, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), event_cmp);

    bool seen[TR_REF_STATUS_COUNT_] = {false};
    for (size_t i = 0; i < n; i++) {
        const tr_fold_event_t *ev = &sorted[i];
        const char *problem = problem_of(out->status, seen, ev->status);
        if (problem) {
            if (add_flag(out->flags, ev->id, problem) != 0)
                goto fail;
            continue;
        }
        seen[ev->status] = true;
        out->status = ev->status;
        out->days = ev->days;
    }
    free(sorted);
    return 0;

fail:
    free(sorted);
    tr_fold_result_clear(out);
    return TR_E_NOMEM;
}

void tr_fold_result_clear(tr_fold_result_t *r)
{
    json_decref(r->flags);
    memset(r, 0, sizeof(*r));
}
