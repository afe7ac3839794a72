/* The figures of the pathways page (view_pathways.c), from the sums its
 * query returns: the tables of counts with the small-number
 * rule applied to them together, so that a cell one table hides is hidden
 * in every table that shares it (docs/small-numbers.md). No I/O. */
#ifndef TRELLIS_VIEW_PATHWAYS_MODEL_H
#define TRELLIS_VIEW_PATHWAYS_MODEL_H

#include "tr_smallnum.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Organisations or services along one side of a matrix: the busiest
 * PW_AXIS_MAX by their count, then one "Other ..." for the rest. */
#define PW_AXIS_MAX 30

typedef struct {
    char **keys;         /* ids, busiest first (owned) */
    const char **labels; /* what the page shows for each (borrowed from the JSON, or keys) */
    size_t n;            /* entries, the "Other" one included */
    bool other;          /* the last entry lumps the rest together */
} pw_axis_t;

/* The outcome columns of the outcomes table, in order. */
enum { PW_ACCEPTED, PW_DECLINED, PW_WITHDRAWN, PW_WAITING, PW_OUTCOMES };

/* The rows of the query's sums (sql/functions/17_trellis_pathway_page.sql:
 * lines of tab-separated fields), strings borrowed from the model's copy of
 * the text. */
typedef struct {
    const char *from, *to;
    long long n, outcomes[PW_OUTCOMES];
} pw_org_row_t; /* "o" */
typedef struct {
    const char *from, *to;
    long long n;
} pw_svc_row_t; /* "s" */
typedef struct {
    const char *reason;
    long long n;
} pw_reason_row_t; /* "r" */
typedef struct {
    const char *org;
    int measure; /* 0 days to acceptance, 1 to first contact */
    int days;
    long long n;
} pw_day_t; /* "d" */
typedef struct {
    const char *org, *service, *week;
    const char *name; /* the service's name (borrowed from the names), or NULL */
    long long weeks;
} pw_wait_t; /* "w", oldest first */

typedef struct {
    char *text;    /* the sums' text, cut into the rows' strings (owned) */
    json_t *names; /* "origin/id": name of the services shown (owned), or NULL */
    pw_org_row_t *orgs;
    pw_svc_row_t *svcs;
    pw_reason_row_t *reasons_rows;
    pw_day_t *days;
    pw_wait_t *waiting;
    size_t n_orgs, n_svcs, n_reasons, n_days, n_waiting;
    int days_max; /* the most days of a "d" row (days sorted by organisation) */
    tr_smallnum_rule_t rule;
    pw_axis_t from_orgs, to_orgs; /* flows matrix rows and columns; to_orgs also outcomes rows */
    pw_axis_t from_svcs, to_svcs; /* services matrix of the chosen pair */
    pw_axis_t reasons;
    tr_smallnum_table_t *flows;      /* from_orgs x to_orgs, NULL when no referral */
    tr_smallnum_table_t *outcomes;   /* to_orgs x PW_OUTCOMES */
    tr_smallnum_table_t *reasons_t;  /* reasons x 1, NULL when no decline */
    tr_smallnum_table_t *services;   /* NULL when the pair has no referral or is hidden */
    const char *pair_from, *pair_to; /* the chosen pair (borrowed from text), or NULL */
    bool pair_hidden;                /* its flow is not shown: neither are its services */
} pw_model_t;

/* Build the model from the query's sums (sums, copied) and the names of
 * the services it shows (names: a JSON object of "origin/id": name, as
 * trellis_pathway_shown_names makes it, or NULL for none; a service
 * without a name is shown by its id) under rule. 0; TR_E_INVAL when sums
 * is not the query's text (a line of another kind or with other fields, a
 * count that is not a number) or names not such an object; TR_E_LIMIT past
 * TR_SMALLNUM_MAX_CELLS, TR_E_NOMEM. */
int pw_model_build(pw_model_t *m, const char *sums, const char *names,
                   const tr_smallnum_rule_t *rule);
void pw_model_free(pw_model_t *m);

/* Lower median of a histogram of days: the "d" rows for org (NULL: every
 * organisation) and measure ("accepted" or "contact"); *n gets how many
 * referrals. -1 when there are none. */
long long pw_median_days(const pw_model_t *m, const char *org, const char *measure, long long *n);

#endif
