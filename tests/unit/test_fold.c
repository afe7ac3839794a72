/* The referral fold: every (status, event) pair of the state machine in
 * docs/records.md, late and impossible events, duplicates, terminal states,
 * and the same answer whatever order the events come in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_error.h"
#include "tr_fold.h"

#define S TR_REF_SENT
#define R TR_REF_RECEIVED
#define A TR_REF_ACCEPTED
#define D TR_REF_DECLINED
#define C TR_REF_CONTACTED
#define X TR_REF_CLOSED
#define W TR_REF_WITHDRAWN
#define END -1

/* Events from a compact list {status, days, status, days, ..., END}; ids are
 * "e00", "e01", ... in list order. */
typedef struct {
    tr_fold_event_t ev[32];
    char ids[32][8];
    size_t n;
} events_t;

static void make_events(events_t *e, const int *spec)
{
    memset(e, 0, sizeof(*e));
    for (size_t i = 0; spec[2 * i] != END; i++) {
        snprintf(e->ids[i], sizeof(e->ids[i]), "e%02zu", i);
        e->ev[i].id = e->ids[i];
        e->ev[i].origin = "northside-refuge";
        e->ev[i].status = (tr_ref_status_t)spec[2 * i];
        e->ev[i].days = spec[2 * i + 1];
        e->n++;
    }
}

static const char *problem_of(const tr_fold_result_t *r, const char *id)
{
    size_t i;
    json_t *f;
    json_array_foreach(r->flags, i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "event")), id) == 0)
            return json_string_value(json_object_get(f, "problem"));
    }
    return NULL;
}

static void test_names(void **state)
{
    static const char *names[] = {"sent",      "received", "accepted", "declined",
                                  "contacted", "closed",   "withdrawn"};
    for (int i = 0; i < TR_REF_STATUS_COUNT_; i++) {
        assert_string_equal(tr_ref_status_name((tr_ref_status_t)i), names[i]);
        tr_ref_status_t s;
        assert_int_equal(tr_ref_status_parse(names[i], &s), 0);
        assert_int_equal(s, i);
    }
    tr_ref_status_t s;
    assert_int_equal(tr_ref_status_parse("Accepted", &s), TR_E_INVAL);
    assert_int_equal(tr_ref_status_parse("", &s), TR_E_INVAL);
    assert_string_equal(tr_ref_status_name(TR_REF_STATUS_COUNT_), "unknown");
}

static void test_no_events(void **state)
{
    tr_fold_result_t r;
    assert_int_equal(tr_referral_fold(NULL, 0, &r), 0);
    assert_int_equal(r.status, S);
    assert_int_equal(r.days, 0);
    assert_int_equal(r.n_events, 0);
    assert_non_null(r.flags);
    assert_int_equal(json_array_size(r.flags), 0);
    tr_fold_result_clear(&r);
}

/* Every status a referral can be in, each reached by the plainest path. */
static const int paths[TR_REF_STATUS_COUNT_][10] = {
    [S] = {END},
    [R] = {R, 1, END},
    [A] = {R, 1, A, 2, END},
    [D] = {R, 1, D, 2, END},
    [C] = {R, 1, A, 2, C, 3, END},
    [X] = {R, 1, A, 2, C, 3, X, 4, END},
    [W] = {W, 1, END},
};

#define OK NULL
#define DUP "duplicate"
#define LATE "out_of_order"
#define IMP "impossible_transition"
#define TERM "after_terminal"

/* expected[from][event]: NULL if the event moves the status to its own,
 * else the problem it is flagged with (the status then stays at from). */
static const char *const expected[TR_REF_STATUS_COUNT_][TR_REF_STATUS_COUNT_] = {
    /*           sent  received accepted declined contacted closed withdrawn */
    [S] = {OK, OK, OK, OK, IMP, IMP, OK},
    [R] = {LATE, DUP, OK, OK, IMP, IMP, OK},
    [A] = {LATE, DUP, DUP, IMP, OK, OK, OK},
    [D] = {TERM, DUP, TERM, DUP, TERM, TERM, TERM},
    [C] = {LATE, DUP, DUP, IMP, DUP, OK, OK},
    [X] = {TERM, DUP, DUP, TERM, DUP, DUP, TERM},
    [W] = {TERM, TERM, TERM, TERM, TERM, TERM, DUP},
};

static void test_every_transition(void **state)
{
    for (int from = 0; from < TR_REF_STATUS_COUNT_; from++) {
        for (int to = 0; to < TR_REF_STATUS_COUNT_; to++) {
            int spec[12];
            size_t k = 0;
            for (; paths[from][k] != END; k++)
                spec[k] = paths[from][k];
            spec[k++] = to;
            spec[k++] = 10; /* later than every step of the path */
            spec[k] = END;
            events_t e;
            make_events(&e, spec);
            tr_fold_result_t r;
            assert_int_equal(tr_referral_fold(e.ev, e.n, &r), 0);
            const char *want = expected[from][to];
            const char *got = problem_of(&r, e.ids[e.n - 1]);
            if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0))
                fail_msg("%s -> %s: want %s, got %s", tr_ref_status_name(from),
                         tr_ref_status_name(to), want ? want : "ok", got ? got : "ok");
            assert_int_equal(r.status, want ? from : to);
            assert_int_equal(r.days, want ? (e.n > 1 ? e.ev[e.n - 2].days : 0) : 10);
            assert_int_equal(r.n_events, e.n);
            /* The path itself never raises a flag. */
            assert_int_equal(json_array_size(r.flags), want ? 1 : 0);
            tr_fold_result_clear(&r);
        }
    }
}

/* Scenarios: events, the status and days the fold must end at, and the flags
 * ("eNN problem") in the order the fold meets them. */
static const struct {
    const char *name;
    int events[24];
    tr_ref_status_t status;
    long long days;
    const char *flags[6];
} scenarios[] = {
    {"whole lifecycle", {R, 0, A, 1, C, 3, X, 90, END}, X, 90, {NULL}},
    {"received may be skipped", {A, 2, C, 4, X, 30, END}, X, 30, {NULL}},
    {"declined without received", {D, 1, END}, D, 1, {NULL}},
    {"contacted may be skipped before closing", {A, 2, X, 40, END}, X, 40, {NULL}},
    {"withdrawn straight from sent", {W, 0, END}, W, 0, {NULL}},
    {"withdrawn after contact", {A, 1, C, 2, W, 5, END}, W, 5, {NULL}},
    {"a sent event confirms the referral", {S, 0, R, 1, END}, R, 1, {NULL}},
    {"same day: lifecycle order decides", {C, 2, A, 2, R, 2, END}, C, 2, {NULL}},
    {"contacted before accepted",
     {R, 1, C, 3, A, 5, END},
     A,
     5,
     {"e01 impossible_transition", NULL}},
    {"received reported after accepted", {A, 2, R, 4, C, 5, END}, C, 5, {"e01 out_of_order", NULL}},
    {"accepted and declined", {A, 2, D, 3, END}, A, 2, {"e01 impossible_transition", NULL}},
    {"declined then accepted", {D, 2, A, 3, END}, D, 2, {"e01 after_terminal", NULL}},
    {"same day accepted and declined: accepted ranks first",
     {D, 2, A, 2, END},
     A,
     2,
     {"e00 impossible_transition", NULL}},
    {"duplicate accepted: the lower id wins",
     {A, 2, A, 2, C, 3, END},
     C,
     3,
     {"e01 duplicate", NULL}},
    {"duplicate on a later day", {A, 2, A, 9, END}, A, 2, {"e01 duplicate", NULL}},
    {"everything after closed",
     {A, 1, X, 5, C, 6, W, 7, X, 8, END},
     X,
     5,
     {"e02 after_terminal", "e03 after_terminal", "e04 duplicate", NULL}},
    {"closed straight from sent", {X, 3, END}, S, 0, {"e00 impossible_transition", NULL}},
    {"a second sent event", {S, 0, S, 1, END}, S, 0, {"e01 duplicate", NULL}},
    {"sent after received", {R, 0, S, 1, END}, R, 0, {"e01 out_of_order", NULL}},
    {"sent again after received", {S, 0, R, 1, S, 2, END}, R, 1, {"e02 duplicate", NULL}},
    {"sent again after closing", {S, 0, A, 1, X, 2, S, 3, END}, X, 2, {"e03 duplicate", NULL}},
    {"unknown status", {99, 1, A, 2, END}, A, 2, {"e00 invalid_status", NULL}},
};

static void test_scenarios(void **state)
{
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
        events_t e;
        make_events(&e, scenarios[i].events);
        tr_fold_result_t r;
        assert_int_equal(tr_referral_fold(e.ev, e.n, &r), 0);
        if (r.status != scenarios[i].status || r.days != scenarios[i].days)
            fail_msg("%s: got %s at day %lld", scenarios[i].name, tr_ref_status_name(r.status),
                     r.days);
        assert_int_equal(r.n_events, e.n);
        size_t nflags = 0;
        for (; scenarios[i].flags[nflags]; nflags++) {
            json_t *f = json_array_get(r.flags, nflags);
            if (!f)
                fail_msg("%s: flag %zu missing", scenarios[i].name, nflags);
            char got[64];
            snprintf(got, sizeof(got), "%s %s", json_string_value(json_object_get(f, "event")),
                     json_string_value(json_object_get(f, "problem")));
            if (strcmp(got, scenarios[i].flags[nflags]) != 0)
                fail_msg("%s: flag %zu is \"%s\", want \"%s\"", scenarios[i].name, nflags, got,
                         scenarios[i].flags[nflags]);
            assert_int_equal(json_object_size(f), 2);
        }
        if (json_array_size(r.flags) != nflags)
            fail_msg("%s: %zu flags, want %zu", scenarios[i].name, json_array_size(r.flags),
                     nflags);
        tr_fold_result_clear(&r);
    }
}

/* A messy log with every kind of problem, folded in many orders. */
static const int messy[] = {R, 1, C, 1, A, 3, A, 3, R, 4,  D,  5, C,  6,
                            S, 6, X, 9, W, 9, X, 9, C, 12, 99, 2, END};

/* The fold of messy, worked out by hand from docs/records.md (not from tr_fold.c). Sorted by
 * days, then lifecycle order, then id:
 *   day 1  e00 received   sent -> received
 *          e01 contacted  received: contacted before acceptance    impossible_transition
 *   day 2  e12 status 99                                           invalid_status
 *   day 3  e02 accepted   received -> accepted
 *          e03 accepted   accepted already set by e02              duplicate
 *   day 4  e04 received   received already set by e00              duplicate
 *   day 5  e05 declined   declined after acceptance                impossible_transition
 *   day 6  e07 sent       no sent event set sent; past it          out_of_order
 *          e06 contacted  accepted -> contacted
 *   day 9  e08 closed     contacted -> closed (closed ranks before withdrawn)
 *          e10 closed     closed already set by e08                duplicate
 *          e09 withdrawn  terminal, withdrawn never set            after_terminal
 *   day 12 e11 contacted  contacted already set by e06             duplicate
 * Ends closed at day 9, 13 events. */
static const char *const messy_flags[] = {
    "e01 impossible_transition",
    "e12 invalid_status",
    "e03 duplicate",
    "e04 duplicate",
    "e05 impossible_transition",
    "e07 out_of_order",
    "e10 duplicate",
    "e09 after_terminal",
    "e11 duplicate",
};

static void test_messy_by_hand(void **state)
{
    events_t e;
    make_events(&e, messy);
    tr_fold_result_t r;
    assert_int_equal(tr_referral_fold(e.ev, e.n, &r), 0);
    assert_int_equal(r.status, X);
    assert_int_equal(r.days, 9);
    assert_int_equal(r.n_events, 13);
    size_t n = sizeof(messy_flags) / sizeof(messy_flags[0]);
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(r.flags, i);
        if (!f)
            fail_msg("flag %zu missing, want \"%s\"", i, messy_flags[i]);
        char got[64];
        snprintf(got, sizeof(got), "%s %s", json_string_value(json_object_get(f, "event")),
                 json_string_value(json_object_get(f, "problem")));
        if (strcmp(got, messy_flags[i]) != 0)
            fail_msg("flag %zu is \"%s\", want \"%s\"", i, got, messy_flags[i]);
    }
    assert_int_equal(json_array_size(r.flags), n);
    tr_fold_result_clear(&r);
}

/* The same log shuffled: the same result as the order worked out by hand. */
static void test_shuffled_input(void **state)
{
    events_t base;
    make_events(&base, messy);
    tr_fold_result_t want;
    assert_int_equal(tr_referral_fold(base.ev, base.n, &want), 0);
    assert_int_equal(want.status, X);
    assert_int_equal(want.days, 9);
    assert_int_equal(json_array_size(want.flags), sizeof(messy_flags) / sizeof(messy_flags[0]));
    for (size_t i = 0; i < json_array_size(want.flags); i++) {
        json_t *f = json_array_get(want.flags, i);
        char got[64];
        snprintf(got, sizeof(got), "%s %s", json_string_value(json_object_get(f, "event")),
                 json_string_value(json_object_get(f, "problem")));
        assert_string_equal(got, messy_flags[i]);
    }

    unsigned seed = 12345;
    for (int round = 0; round < 500; round++) {
        events_t e = base;
        for (size_t i = 0; i < e.n; i++)
            e.ev[i].id = e.ids[i]; /* the copy's own ids */
        for (size_t i = e.n - 1; i > 0; i--) {
            seed = seed * 1103515245u + 12345u;
            size_t j = (seed >> 8) % (i + 1);
            tr_fold_event_t t = e.ev[i];
            e.ev[i] = e.ev[j];
            e.ev[j] = t;
        }
        tr_fold_event_t before[32];
        memcpy(before, e.ev, sizeof(before));
        tr_fold_result_t r;
        assert_int_equal(tr_referral_fold(e.ev, e.n, &r), 0);
        /* The fold sorts a copy: the caller's array is untouched. */
        assert_memory_equal(before, e.ev, sizeof(before));
        assert_int_equal(r.status, want.status);
        assert_int_equal(r.days, want.days);
        assert_int_equal(r.n_events, want.n_events);
        assert_true(json_equal(r.flags, want.flags));
        tr_fold_result_clear(&r);
    }
    tr_fold_result_clear(&want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_no_events),
        cmocka_unit_test(test_every_transition),
        cmocka_unit_test(test_scenarios),
        cmocka_unit_test(test_messy_by_hand),
        cmocka_unit_test(test_shuffled_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
