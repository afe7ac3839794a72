/* The pathways page's tables: built from the query's JSON document, then
 * passed through the small-number rule together. Four tables share figures
 * (an organisation's referrals received are a column total of the flows and
 * a row total of the outcomes; all declines are the outcomes' declined total
 * and the reasons' total; the services of a pair add up to the pair's flow),
 * so the rule runs on all of them until every shared cell is hidden in all
 * or shown in all: one table must never give away what another protects. */
#include "view_pathways_model.h"
#include "tr_error.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAYS_MAX 3650 /* pathway.event's days are 0 .. 3650 (docs/records.md) */

typedef struct {
    const char *key, *label;
    long long w;
} ent_t;

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const ent_t *)a)->key, ((const ent_t *)b)->key);
}

static int cmp_weight(const void *a, const void *b)
{
    const ent_t *x = a, *y = b;
    if (x->w != y->w)
        return x->w > y->w ? -1 : 1;
    return strcmp(x->key, y->key);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* The axis of the distinct keys of e (n entries, reordered here). */
static void axis_build(pw_axis_t *ax, ent_t *e, size_t n, const char *other_label)
{
    memset(ax, 0, sizeof(*ax));
    if (n == 0)
        return;
    qsort(e, n, sizeof(*e), cmp_key);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && strcmp(e[m - 1].key, e[i].key) == 0)
            e[m - 1].w += e[i].w;
        else
            e[m++] = e[i];
    }
    qsort(e, m, sizeof(*e), cmp_weight);
    size_t keep = m > PW_AXIS_MAX ? PW_AXIS_MAX : m;
    ax->other = m > PW_AXIS_MAX;
    ax->n = keep + (ax->other ? 1 : 0);
    ax->keys = calloc(ax->n, sizeof(*ax->keys));
    ax->labels = calloc(ax->n, sizeof(*ax->labels));
    if (!ax->keys || !ax->labels)
        abort();
    for (size_t i = 0; i < keep; i++) {
        ax->keys[i] = xstrdup(e[i].key);
        ax->labels[i] = e[i].label && e[i].label[0] ? e[i].label : ax->keys[i];
    }
    if (ax->other) {
        ax->keys[keep] = xstrdup("");
        ax->labels[keep] = other_label;
    }
}

static void axis_free(pw_axis_t *ax)
{
    for (size_t i = 0; i < ax->n; i++)
        free(ax->keys[i]);
    free(ax->keys);
    free(ax->labels);
    memset(ax, 0, sizeof(*ax));
}

/* The index of key on the axis (the "Other" entry for one not kept). */
static size_t axis_index(const pw_axis_t *ax, const char *key)
{
    size_t kept = ax->n - (ax->other ? 1 : 0);
    for (size_t i = 0; i < kept; i++)
        if (strcmp(ax->keys[i], key) == 0)
            return i;
    return ax->other ? ax->n - 1 : SIZE_MAX;
}

static const char *str_of(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static long long int_of(json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v < 0 ? 0 : v > TR_SMALLNUM_COUNT_MAX ? TR_SMALLNUM_COUNT_MAX : v;
}

/* A table of axis rows x cols from sums in acc (freed here). */
static int table_from(tr_smallnum_table_t **out, size_t rows, size_t cols, long long *acc)
{
    int rc = tr_smallnum_table_new(rows, cols, out);
    for (size_t i = 0; rc == 0 && i < rows; i++)
        for (size_t j = 0; rc == 0 && j < cols; j++)
            rc = tr_smallnum_set(*out, i, j,
                                 acc[i * cols + j] > TR_SMALLNUM_COUNT_MAX ? TR_SMALLNUM_COUNT_MAX
                                                                           : acc[i * cols + j]);
    free(acc);
    return rc;
}

static long long *sums(size_t rows, size_t cols)
{
    size_t n = rows * cols;
    long long *acc = calloc(n ? n : 1, sizeof(*acc));
    if (!acc)
        abort();
    return acc;
}

static int build_orgs(pw_model_t *m, json_t *orgs)
{
    size_t n = json_array_size(orgs);
    if (n == 0)
        return 0;
    ent_t *f = calloc(n, sizeof(*f)), *t = calloc(n, sizeof(*t));
    if (!f || !t)
        abort();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(orgs, i);
        f[i] = (ent_t){str_of(o, "from"), NULL, int_of(o, "n")};
        t[i] = (ent_t){str_of(o, "to"), NULL, int_of(o, "n")};
    }
    axis_build(&m->from_orgs, f, n, "Other organisations");
    axis_build(&m->to_orgs, t, n, "Other organisations");
    free(f);
    free(t);
    long long *flows = sums(m->from_orgs.n, m->to_orgs.n);
    long long *outs = sums(m->to_orgs.n, PW_OUTCOMES);
    static const char *const outcome_keys[PW_OUTCOMES] = {"accepted", "declined", "withdrawn",
                                                          "waiting"};
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(orgs, i);
        size_t r = axis_index(&m->from_orgs, str_of(o, "from"));
        size_t c = axis_index(&m->to_orgs, str_of(o, "to"));
        flows[r * m->to_orgs.n + c] += int_of(o, "n");
        for (int k = 0; k < PW_OUTCOMES; k++)
            outs[c * PW_OUTCOMES + k] += int_of(o, outcome_keys[k]);
    }
    int rc = table_from(&m->flows, m->from_orgs.n, m->to_orgs.n, flows);
    int rc2 = table_from(&m->outcomes, m->to_orgs.n, PW_OUTCOMES, outs);
    return rc ? rc : rc2;
}

static int build_reasons(pw_model_t *m, json_t *reasons)
{
    size_t n = json_array_size(reasons);
    if (n == 0)
        return 0;
    ent_t *e = calloc(n, sizeof(*e));
    if (!e)
        abort();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(reasons, i);
        e[i] = (ent_t){str_of(o, "reason"), NULL, int_of(o, "n")};
    }
    axis_build(&m->reasons, e, n, "Other reasons");
    free(e);
    long long *acc = sums(m->reasons.n, 1);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(reasons, i);
        acc[axis_index(&m->reasons, str_of(o, "reason"))] += int_of(o, "n");
    }
    return table_from(&m->reasons_t, m->reasons.n, 1, acc);
}

static int build_services(pw_model_t *m, json_t *svcs)
{
    size_t n = json_array_size(svcs);
    if (n == 0 || !m->pair_from || !m->pair_to)
        return 0;
    ent_t *f = calloc(n, sizeof(*f)), *t = calloc(n, sizeof(*t));
    if (!f || !t)
        abort();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(svcs, i);
        f[i] = (ent_t){str_of(o, "from"), str_of(o, "from_name"), int_of(o, "n")};
        t[i] = (ent_t){str_of(o, "to"), str_of(o, "to_name"), int_of(o, "n")};
    }
    axis_build(&m->from_svcs, f, n, "Other services");
    axis_build(&m->to_svcs, t, n, "Other services");
    free(f);
    free(t);
    long long *acc = sums(m->from_svcs.n, m->to_svcs.n);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(svcs, i);
        size_t r = axis_index(&m->from_svcs, str_of(o, "from"));
        size_t c = axis_index(&m->to_svcs, str_of(o, "to"));
        acc[r * m->to_svcs.n + c] += int_of(o, "n");
    }
    return table_from(&m->services, m->from_svcs.n, m->to_svcs.n, acc);
}

/* Make a shared cell hidden in both tables if it is hidden in either. */
static int link(tr_smallnum_table_t *a, size_t ar, size_t ac, tr_smallnum_table_t *b, size_t br,
                size_t bc, bool *changed)
{
    if (!a || !b)
        return 0;
    bool ha = tr_smallnum_get(a, ar, ac).state != TR_SN_SHOWN;
    bool hb = tr_smallnum_get(b, br, bc).state != TR_SN_SHOWN;
    if (ha == hb)
        return 0;
    *changed = true;
    return ha ? tr_smallnum_hide(b, br, bc) : tr_smallnum_hide(a, ar, ac);
}

static int apply_all(pw_model_t *m)
{
    tr_smallnum_table_t *all[] = {m->flows, m->outcomes, m->reasons_t, m->services};
    size_t F = m->from_orgs.n, T = m->to_orgs.n;
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
            int rc = all[i] ? tr_smallnum_apply(all[i], &m->rule) : 0;
            if (rc != 0)
                return rc;
        }
        int rc = 0;
        /* Received by each organisation: a column total of the flows, a row
         * total of the outcomes; and the grand totals. */
        for (size_t j = 0; rc == 0 && j <= T; j++)
            rc = link(m->flows, F, j, m->outcomes, j, PW_OUTCOMES, &changed);
        /* Every decline: the outcomes' declined total, the reasons' total
         * (twice: the reasons table has one column, and its row total). */
        if (rc == 0)
            rc = link(m->outcomes, T, PW_DECLINED, m->reasons_t, m->reasons.n, 0, &changed);
        if (rc == 0)
            rc = link(m->outcomes, T, PW_DECLINED, m->reasons_t, m->reasons.n, 1, &changed);
        /* The chosen pair's services add up to its flow. */
        if (rc == 0 && m->services) {
            size_t r = axis_index(&m->from_orgs, m->pair_from);
            size_t c = axis_index(&m->to_orgs, m->pair_to);
            if (r == SIZE_MAX || c == SIZE_MAX)
                return TR_E_INVAL;
            rc = link(m->flows, r, c, m->services, m->from_svcs.n, m->to_svcs.n, &changed);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The "days" rows, read once: the page asks for ~60 medians. */
static void read_days(pw_model_t *m, json_t *days)
{
    size_t n = json_array_size(days), i;
    json_t *row;
    m->days = calloc(n ? n : 1, sizeof(*m->days));
    if (!m->days)
        abort();
    json_array_foreach(days, i, row)
    {
        const char *measure = str_of(row, "measure");
        int k = strcmp(measure, "accepted") == 0 ? 0 : strcmp(measure, "contact") == 0 ? 1 : -1;
        json_int_t d = json_integer_value(json_object_get(row, "days"));
        if (k < 0 || d < 0 || d > DAYS_MAX)
            continue;
        m->days[m->n_days++] = (pw_day_t){str_of(row, "org"), k, (int)d, int_of(row, "n")};
    }
}

int pw_model_build(pw_model_t *m, const char *json_text, const tr_smallnum_rule_t *rule)
{
    return pw_model_build_doc(m, json_loads(json_text, 0, NULL), rule);
}

int pw_model_build_doc(pw_model_t *m, json_t *doc, const tr_smallnum_rule_t *rule)
{
    memset(m, 0, sizeof(*m));
    m->rule = *rule;
    m->doc = doc;
    if (!json_is_object(m->doc) || !json_is_array(json_object_get(m->doc, "orgs")))
        return TR_E_INVAL;
    json_t *pair = json_object_get(m->doc, "pair");
    m->pair_from = json_string_value(json_object_get(pair, "from"));
    m->pair_to = json_string_value(json_object_get(pair, "to"));
    read_days(m, json_object_get(m->doc, "days"));
    int rc = build_orgs(m, json_object_get(m->doc, "orgs"));
    if (rc == 0)
        rc = build_reasons(m, json_object_get(m->doc, "reasons"));
    if (rc == 0 && m->flows)
        rc = build_services(m, json_object_get(m->doc, "services"));
    if (rc == 0)
        rc = apply_all(m);
    if (rc == 0 && m->flows && m->pair_from && m->pair_to) {
        size_t r = axis_index(&m->from_orgs, m->pair_from);
        size_t c = axis_index(&m->to_orgs, m->pair_to);
        m->pair_hidden = r == SIZE_MAX || c == SIZE_MAX ||
                         tr_smallnum_get(m->flows, r, c).state != TR_SN_SHOWN ||
                         (m->from_orgs.other && r == m->from_orgs.n - 1) ||
                         (m->to_orgs.other && c == m->to_orgs.n - 1);
    }
    return rc;
}

void pw_model_free(pw_model_t *m)
{
    axis_free(&m->from_orgs);
    axis_free(&m->to_orgs);
    axis_free(&m->from_svcs);
    axis_free(&m->to_svcs);
    axis_free(&m->reasons);
    tr_smallnum_table_free(m->flows);
    tr_smallnum_table_free(m->outcomes);
    tr_smallnum_table_free(m->reasons_t);
    tr_smallnum_table_free(m->services);
    json_decref(m->doc);
    free(m->days);
    memset(m, 0, sizeof(*m));
}

long long pw_median_days(const pw_model_t *m, const char *org, const char *measure, long long *n)
{
    int k = strcmp(measure, "accepted") == 0 ? 0 : strcmp(measure, "contact") == 0 ? 1 : -1;
    long long *hist = calloc(DAYS_MAX + 1, sizeof(*hist));
    if (!hist)
        abort();
    long long total = 0;
    for (size_t i = 0; k >= 0 && i < m->n_days; i++) {
        const pw_day_t *d = &m->days[i];
        if (d->measure != k || (org && strcmp(d->org, org) != 0))
            continue;
        hist[d->days] += d->n;
        total += d->n;
    }
    long long median = -1, upto = 0;
    for (long long d = 0; total > 0 && d <= DAYS_MAX; d++) {
        upto += hist[d];
        if (upto * 2 >= total) {
            median = d;
            break;
        }
    }
    free(hist);
    *n = total;
    return median;
}

/* Set member k of entry to the name names holds for origin/id, if any. */
static void put_name(json_t *entry, const char *k, json_t *names, const char *origin,
                     const char *id)
{
    char key[512];
    if (!origin || !id || (size_t)snprintf(key, sizeof(key), "%s/%s", origin, id) >= sizeof(key))
        return;
    json_t *name = json_object_get(names, key);
    if (json_is_string(name))
        json_object_set(entry, k, name);
}

int pw_doc_put_names(json_t *doc, const char *names_text)
{
    json_t *names = json_loads(names_text, 0, NULL);
    if (!json_is_object(doc) || !json_is_object(names)) {
        json_decref(names);
        return TR_E_INVAL;
    }
    json_t *pair = json_object_get(doc, "pair");
    const char *pf = json_string_value(json_object_get(pair, "from"));
    const char *pt = json_string_value(json_object_get(pair, "to"));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "services"), i, e)
    {
        put_name(e, "from_name", names, pf, json_string_value(json_object_get(e, "from")));
        put_name(e, "to_name", names, pt, json_string_value(json_object_get(e, "to")));
    }
    json_array_foreach(json_object_get(doc, "waiting"), i, e)
    {
        put_name(e, "name", names, json_string_value(json_object_get(e, "org")),
                 json_string_value(json_object_get(e, "service")));
    }
    json_decref(names);
    return 0;
}
