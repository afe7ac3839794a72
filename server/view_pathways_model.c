/* The pathways page's tables: built from the query's sums (lines of
 * tab-separated fields, read here), then passed through the small-number rule together. Four tables
 * share figures (an organisation's referrals received are a column total of the flows and a row
 * total of the outcomes; all declines are the outcomes' declined total and the reasons' total; the
 * services of a pair add up to the pair's flow), so the rule runs on all of them until every shared
 * cell is hidden in all or shown in all: one table must never give away what another protects. */
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

/* Days rows by organisation: a median reads one organisation's run. */
static int cmp_day(const void *a, const void *b)
{
    const pw_day_t *x = a, *y = b;
    return strcmp(x->org, y->org);
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

/* A count: a decimal number, clamped to what the rule takes (a sum that
 * went below 0 counts as 0). false when f is not a number. */
static bool count_of(const char *f, long long *out)
{
    char *end;
    if (!*f)
        return false;
    long long v = strtoll(f, &end, 10);
    if (*end)
        return false;
    *out = v < 0 ? 0 : v > TR_SMALLNUM_COUNT_MAX ? TR_SMALLNUM_COUNT_MAX : v;
    return true;
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

static int build_orgs(pw_model_t *m)
{
    size_t n = m->n_orgs;
    if (n == 0)
        return 0;
    ent_t *f = calloc(n, sizeof(*f)), *t = calloc(n, sizeof(*t));
    if (!f || !t)
        abort();
    for (size_t i = 0; i < n; i++) {
        f[i] = (ent_t){m->orgs[i].from, NULL, m->orgs[i].n};
        t[i] = (ent_t){m->orgs[i].to, NULL, m->orgs[i].n};
    }
    axis_build(&m->from_orgs, f, n, "Other organisations");
    axis_build(&m->to_orgs, t, n, "Other organisations");
    free(f);
    free(t);
    long long *flows = sums(m->from_orgs.n, m->to_orgs.n);
    long long *outs = sums(m->to_orgs.n, PW_OUTCOMES);
    for (size_t i = 0; i < n; i++) {
        const pw_org_row_t *o = &m->orgs[i];
        size_t r = axis_index(&m->from_orgs, o->from);
        size_t c = axis_index(&m->to_orgs, o->to);
        flows[r * m->to_orgs.n + c] += o->n;
        for (int k = 0; k < PW_OUTCOMES; k++)
            outs[c * PW_OUTCOMES + k] += o->outcomes[k];
    }
    int rc = table_from(&m->flows, m->from_orgs.n, m->to_orgs.n, flows);
    int rc2 = table_from(&m->outcomes, m->to_orgs.n, PW_OUTCOMES, outs);
    return rc ? rc : rc2;
}

static int build_reasons(pw_model_t *m)
{
    size_t n = m->n_reasons;
    if (n == 0)
        return 0;
    ent_t *e = calloc(n, sizeof(*e));
    if (!e)
        abort();
    for (size_t i = 0; i < n; i++)
        e[i] = (ent_t){m->reasons_rows[i].reason, NULL, m->reasons_rows[i].n};
    axis_build(&m->reasons, e, n, "Other reasons");
    free(e);
    long long *acc = sums(m->reasons.n, 1);
    for (size_t i = 0; i < n; i++)
        acc[axis_index(&m->reasons, m->reasons_rows[i].reason)] += m->reasons_rows[i].n;
    return table_from(&m->reasons_t, m->reasons.n, 1, acc);
}

/* The name of origin's service id (borrowed from m->names), or NULL. */
static const char *name_of(const pw_model_t *m, const char *origin, const char *id)
{
    char key[512];
    if (!m->names || !origin || !id ||
        (size_t)snprintf(key, sizeof(key), "%s/%s", origin, id) >= sizeof(key))
        return NULL;
    return json_string_value(json_object_get(m->names, key));
}

/* The shown services' labels: their names (looked up for these only). */
static void name_axis(const pw_model_t *m, pw_axis_t *ax, const char *origin)
{
    size_t kept = ax->n - (ax->other ? 1 : 0);
    for (size_t i = 0; i < kept; i++) {
        const char *name = name_of(m, origin, ax->keys[i]);
        if (name && name[0])
            ax->labels[i] = name;
    }
}

static int build_services(pw_model_t *m)
{
    size_t n = m->n_svcs;
    if (n == 0 || !m->pair_from || !m->pair_to)
        return 0;
    ent_t *f = calloc(n, sizeof(*f)), *t = calloc(n, sizeof(*t));
    if (!f || !t)
        abort();
    for (size_t i = 0; i < n; i++) {
        f[i] = (ent_t){m->svcs[i].from, NULL, m->svcs[i].n};
        t[i] = (ent_t){m->svcs[i].to, NULL, m->svcs[i].n};
    }
    axis_build(&m->from_svcs, f, n, "Other services");
    axis_build(&m->to_svcs, t, n, "Other services");
    free(f);
    free(t);
    name_axis(m, &m->from_svcs, m->pair_from);
    name_axis(m, &m->to_svcs, m->pair_to);
    long long *acc = sums(m->from_svcs.n, m->to_svcs.n);
    for (size_t i = 0; i < n; i++) {
        size_t r = axis_index(&m->from_svcs, m->svcs[i].from);
        size_t c = axis_index(&m->to_svcs, m->svcs[i].to);
        acc[r * m->to_svcs.n + c] += m->svcs[i].n;
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

#define FIELDS_MAX 8

/* Cut line into its tab-separated fields; how many (FIELDS_MAX + 1: more). */
static size_t fields_of(char *line, char **f)
{
    size_t n = 0;
    for (char *p = line;; p++) {
        if (n == FIELDS_MAX)
            return FIELDS_MAX + 1;
        f[n++] = p;
        p = strchr(p, '\t');
        if (!p)
            return n;
        *p = '\0';
    }
}

/* One line of the sums into its row. */
static int read_line(pw_model_t *m, char *line)
{
    char *f[FIELDS_MAX] = {0};
    size_t n = fields_of(line, f);
    bool ok = true;
    if (strcmp(f[0], "o") == 0 && n == 8) {
        pw_org_row_t *o = &m->orgs[m->n_orgs++];
        o->from = f[1];
        o->to = f[2];
        ok = count_of(f[3], &o->n);
        for (int k = 0; ok && k < PW_OUTCOMES; k++)
            ok = count_of(f[4 + k], &o->outcomes[k]);
    } else if (strcmp(f[0], "p") == 0 && n == 3) {
        m->pair_from = f[1];
        m->pair_to = f[2];
    } else if (strcmp(f[0], "s") == 0 && n == 4) {
        pw_svc_row_t *r = &m->svcs[m->n_svcs++];
        r->from = f[1];
        r->to = f[2];
        ok = count_of(f[3], &r->n);
    } else if (strcmp(f[0], "r") == 0 && n == 3) {
        pw_reason_row_t *r = &m->reasons_rows[m->n_reasons++];
        r->reason = f[1];
        ok = count_of(f[2], &r->n);
    } else if (strcmp(f[0], "d") == 0 && n == 5) {
        char *end;
        long long days = strtoll(f[3], &end, 10), count;
        int k = strcmp(f[2], "accepted") == 0 ? 0 : strcmp(f[2], "contact") == 0 ? 1 : -1;
        ok = f[3][0] && !*end && count_of(f[4], &count);
        /* Another measure, or days an event may not say: not counted. */
        if (ok && k >= 0 && days >= 0 && days <= DAYS_MAX) {
            m->days[m->n_days++] = (pw_day_t){f[1], k, (int)days, count};
            m->days_max = days > m->days_max ? (int)days : m->days_max;
        }
    } else if (strcmp(f[0], "w") == 0 && n == 5) {
        char *end;
        pw_wait_t *w = &m->waiting[m->n_waiting++];
        *w = (pw_wait_t){f[1], f[2], f[3], name_of(m, f[1], f[2]), strtoll(f[4], &end, 10)};
        ok = f[4][0] && !*end;
    } else {
        ok = false;
    }
    return ok ? 0 : TR_E_INVAL;
}

/* The sums' text into the model's rows: a copy, cut in place. */
static int read_sums(pw_model_t *m, const char *sums)
{
    size_t lines = 1;
    for (const char *p = sums; *p; p++)
        lines += *p == '\n';
    m->text = xstrdup(sums);
    m->orgs = calloc(lines, sizeof(*m->orgs));
    m->svcs = calloc(lines, sizeof(*m->svcs));
    m->reasons_rows = calloc(lines, sizeof(*m->reasons_rows));
    m->days = calloc(lines, sizeof(*m->days));
    m->waiting = calloc(lines, sizeof(*m->waiting));
    if (!m->orgs || !m->svcs || !m->reasons_rows || !m->days || !m->waiting)
        abort();
    char *line = m->text, *next = strchr(line, '\n');
    if (!next || (size_t)(next - line) != strlen("pathways") ||
        strncmp(line, "pathways", (size_t)(next - line)) != 0)
        return TR_E_INVAL;
    for (line = next + 1; *line; line = next + 1) {
        next = strchr(line, '\n');
        if (!next) /* every line ends with one */
            return TR_E_INVAL;
        *next = '\0';
        int rc = read_line(m, line);
        if (rc != 0)
            return rc;
    }
    qsort(m->days, m->n_days, sizeof(*m->days), cmp_day);
    return 0;
}

int pw_model_build(pw_model_t *m, const char *sums, const char *names,
                   const tr_smallnum_rule_t *rule)
{
    memset(m, 0, sizeof(*m));
    m->rule = *rule;
    if (names) {
        m->names = json_loads(names, 0, NULL);
        if (!json_is_object(m->names))
            return TR_E_INVAL;
    }
    int rc = sums ? read_sums(m, sums) : TR_E_INVAL;
    if (rc == 0)
        rc = build_orgs(m);
    if (rc == 0)
        rc = build_reasons(m);
    if (rc == 0 && m->flows)
        rc = build_services(m);
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
    json_decref(m->names);
    free(m->text);
    free(m->orgs);
    free(m->svcs);
    free(m->reasons_rows);
    free(m->days);
    free(m->waiting);
    memset(m, 0, sizeof(*m));
}

/* The first of m->days (sorted) whose organisation is not before org. */
static size_t days_from(const pw_model_t *m, const char *org)
{
    size_t lo = 0, hi = m->n_days;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(m->days[mid].org, org) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

long long pw_median_days(const pw_model_t *m, const char *org, const char *measure, long long *n)
{
    int k = strcmp(measure, "accepted") == 0 ? 0 : strcmp(measure, "contact") == 0 ? 1 : -1;
    long long *hist = calloc((size_t)m->days_max + 1, sizeof(*hist));
    if (!hist)
        abort();
    long long total = 0;
    for (size_t i = org ? days_from(m, org) : 0; k >= 0 && i < m->n_days; i++) {
        const pw_day_t *d = &m->days[i];
        if (org && strcmp(d->org, org) != 0)
            break;
        if (d->measure != k)
            continue;
        hist[d->days] += d->n;
        total += d->n;
    }
    long long median = -1, upto = 0;
    for (long long d = 0; total > 0 && d <= m->days_max; d++) {
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
