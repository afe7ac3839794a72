/* The figures of the pathways page (view_pathways.c), from the one JSON
 * document its query returns: the tables of counts with the small-number
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

/* A row of the document's "days": referrals of org (borrowed from doc)
 * that took days days to measure (0 acceptance, 1 first contact). */
typedef struct {
    const char *org;
    int measure;
    int days;
    long long n;
} pw_day_t;

typedef struct {
    json_t *doc;    /* the query's document (owned) */
    pw_day_t *days; /* doc's "days", read once (owned) */
    size_t n_days;
    tr_smallnum_rule_t rule;
    pw_axis_t from_orgs, to_orgs; /* flows matrix rows and columns; to_orgs also outcomes rows */
    pw_axis_t from_svcs, to_svcs; /* services matrix of the chosen pair */
    pw_axis_t reasons;
    tr_smallnum_table_t *flows;      /* from_orgs x to_orgs, NULL when no referral */
    tr_smallnum_table_t *outcomes;   /* to_orgs x PW_OUTCOMES */
    tr_smallnum_table_t *reasons_t;  /* reasons x 1, NULL when no decline */
    tr_smallnum_table_t *services;   /* NULL when the pair has no referral or is hidden */
    const char *pair_from, *pair_to; /* the chosen pair (borrowed from doc), or NULL */
    bool pair_hidden;                /* its flow is not shown: neither are its services */
} pw_model_t;

/* Put the names of the document's services in (doc borrowed, changed
 * here) from names_text, an object of "origin/id": name
 * (trellis_pathway_page, trellis_pathway_names): "from_name" and "to_name"
 * on each of "services" (the pair's organisations' services), "name" on
 * each of "waiting". A service without a name gets none (the page shows
 * its id). 0, or TR_E_INVAL when doc or names_text is not such an object. */
int pw_doc_put_names(json_t *doc, const char *names_text);

/* Build the model from the query's text (taken: parsed here) under rule.
 * 0, TR_E_INVAL when the text is not the document the query makes,
 * TR_E_LIMIT past TR_SMALLNUM_MAX_CELLS, TR_E_NOMEM. */
int pw_model_build(pw_model_t *m, const char *json_text, const tr_smallnum_rule_t *rule);
/* The same from the parsed document (taken, even on failure: the model
 * frees it), so that a document is parsed once. */
int pw_model_build_doc(pw_model_t *m, json_t *doc, const tr_smallnum_rule_t *rule);
void pw_model_free(pw_model_t *m);

/* Lower median of a histogram of days: the rows of doc's "days" for org
 * (NULL: every organisation) and measure; *n gets how many referrals. -1
 * when there are none. */
long long pw_median_days(const pw_model_t *m, const char *org, const char *measure, long long *n);

#endif
