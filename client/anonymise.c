/* From a row to anonymised records (anonymise.h). */
#include "anonymise.h"

#include "anonymise_directory.h"
#include "tr_check.h"
#include "tr_pii.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The columns a mapping reads, and where they are in the current row. */
#define MAX_COLS 96
#define VAL_MAX 512 /* bytes of a value that free text is checked for */

struct anon {
    const mapping_t *m;
    uint8_t secret[AGENT_SECRET_LEN];
    tr_anon_key_t *key; /* the secret, keyed once for every row's ids */
    const char *origin;
    const char *cols[MAX_COLS];
    size_t n_cols;
    long idx[MAX_COLS];
    bool is_text[MAX_COLS];   /* read by a text rule: not a value free text must not repeat */
    bool any_text;            /* the mapping has a text rule: the row's values are kept for it */
    char *vals;               /* the row's values free text must not repeat, VAL_MAX bytes each */
    const char *const *bound; /* the names array idx was computed for */
    size_t bound_n;
    char *buf; /* one value at a time, SRC_MAX_FIELD + 1 bytes */
};

static void add_col(anon_t *a, const char *name)
{
    if (!name)
        return;
    for (size_t i = 0; i < a->n_cols; i++)
        if (strcmp(a->cols[i], name) == 0)
            return;
    if (a->n_cols < MAX_COLS)
        a->cols[a->n_cols++] = name;
}

anon_t *anon_new(const mapping_t *m, const uint8_t secret[AGENT_SECRET_LEN], const char *origin)
{
    anon_t *a = calloc(1, sizeof(*a));
    if (!a)
        abort();
    a->m = m;
    memcpy(a->secret, secret, AGENT_SECRET_LEN);
    if (!(a->key = tr_anon_key_new(secret, AGENT_SECRET_LEN)))
        abort(); /* only out of memory: the secret's length is fixed */
    a->origin = origin;
    a->buf = malloc(SRC_MAX_FIELD + 1);
    a->vals = malloc((size_t)MAX_COLS * VAL_MAX);
    if (!a->buf || !a->vals)
        abort();
    add_col(a, m->case_reference);
    add_col(a, m->date_column);
    for (size_t i = 0; i < m->n_fields; i++)
        add_col(a, m->fields[i].column);
    for (size_t i = 0; i < m->n_events; i++) {
        add_col(a, m->events[i].column);
        add_col(a, m->events[i].reason_column);
    }
    for (size_t i = 0; i < m->n_identifiers; i++)
        add_col(a, m->identifiers[i]);
    for (size_t c = 0; c < a->n_cols; c++)
        for (size_t i = 0; i < m->n_fields; i++)
            if (m->fields[i].rule == RULE_TEXT && m->fields[i].column &&
                strcmp(m->fields[i].column, a->cols[c]) == 0)
                a->is_text[c] = a->any_text = true;
    return a;
}

void anon_free(anon_t *a)
{
    if (!a)
        return;
    OPENSSL_cleanse(a->secret, sizeof(a->secret));
    tr_anon_key_free(a->key);
    free(a->buf);
    free(a->vals);
    free(a);
}

/* Header names are matched without regard to case or surrounding spaces. */
static bool same_name(const char *header, const char *want)
{
    while (*header == ' ')
        header++;
    size_t n = strlen(want);
    if (strncasecmp(header, want, n) != 0)
        return false;
    for (const char *p = header + n; *p; p++)
        if (*p != ' ')
            return false;
    return true;
}

static void bind(anon_t *a, const char *const *names, size_t n)
{
    for (size_t c = 0; c < a->n_cols; c++) {
        a->idx[c] = -1;
        for (size_t i = 0; i < n; i++)
            if (names[i] && same_name(names[i], a->cols[c])) {
                a->idx[c] = (long)i;
                break;
            }
    }
    a->bound = names;
    a->bound_n = n;
}

int anon_bind_header(anon_t *a, const char *const *names, size_t n, long line, char *err,
                     size_t err_len)
{
    bind(a, names, n);
    for (size_t c = 0; c < a->n_cols; c++) {
        if (a->idx[c] < 0) {
            snprintf(err, err_len,
                     "line %ld: the header has no column '%.80s', which the mapping %s reads", line,
                     a->cols[c], a->m->path);
            return -1;
        }
    }
    return 0;
}

typedef struct {
    anon_t *a;
    const src_row_t *row;
    anon_out_t *out;
    bool failed;
    const char *case_ref; /* the row's, for the shape of other cases' references */
} ctx_t;

static bool row_fail(ctx_t *x, const char *column, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool row_fail(ctx_t *x, const char *column, const char *fmt, ...)
{
    if (x->failed)
        return false;
    x->failed = true;
    snprintf(x->out->column, sizeof(x->out->column), "%s", column ? column : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->out->why, sizeof(x->out->why), fmt, ap);
    va_end(ap);
    return false;
}

/* The trimmed value of a mapped column: "" for an empty one, NULL (after a
 * row error) for a column this row lacks. buf holds the copy. */
static const char *cell(ctx_t *x, const char *column, char *buf, size_t len)
{
    anon_t *a = x->a;
    if (x->row->names != a->bound || x->row->n != a->bound_n)
        bind(a, x->row->names, x->row->n);
    /* Callers pass the mapping's own strings, which add_col kept: a pointer
     * compare finds nearly every column without a string compare. */
    size_t c = 0;
    while (c < a->n_cols && a->cols[c] != column)
        c++;
    if (c == a->n_cols)
        for (c = 0; c < a->n_cols && strcmp(a->cols[c], column) != 0; c++)
            ;
    if (c == a->n_cols || a->idx[c] < 0) {
        row_fail(x, column, "the mapped column is missing");
        return NULL;
    }
    const char *v = x->row->values[a->idx[c]];
    if (!v)
        v = "";
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strnlen(v, len - 1); /* cut at len - 1 bytes, as snprintf would */
    memcpy(buf, v, n);
    buf[n] = '\0';
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return buf;
}

static bool row_date(ctx_t *x, tr_date_t *d)
{
    char buf[128];
    const char *col = x->a->m->date_column;
    const char *v = cell(x, col, buf, sizeof(buf));
    if (!v)
        return false;
    if (!v[0])
        return row_fail(x, col, "the date is empty");
    if (tr_date_parse(v, x->a->m->date_order, d) != 0)
        return row_fail(x, col, "not a date in the mapping's date_format");
    return true;
}

static json_t *one_value(ctx_t *x, const map_field_t *f, const char *v, const char **pii_cols,
                         size_t n_pii, bool *quarantine)
{
    const mapping_t *m = x->a->m;
    switch (f->rule) {
    case RULE_CONST:
        return mapping_typed(f->type, f->value); /* checked when the mapping loaded */
    case RULE_COPY:
        return json_string(v);
    case RULE_NUMBER: {
        json_t *n = mapping_typed(MAP_INT, v);
        if (!n)
            row_fail(x, f->column, "not a whole number");
        return n;
    }
    case RULE_YESNO: {
        int yn = mapping_yesno(v);
        if (yn < 0) {
            row_fail(x, f->column, "neither yes nor no (Yes, Y, True, 1 / No, N, False, 0)");
            return NULL;
        }
        return json_boolean(yn);
    }
    case RULE_CODE: {
        const char *code = mapping_lookup(f->table, v);
        if (!code) {
            row_fail(x, f->column,
                     "a value that [codes %s] does not list (add it, or a "
                     "'= *' line for any other value)",
                     f->table->name);
            return NULL;
        }
        return json_string(code);
    }
    case RULE_CODES: {
        json_t *arr = json_array();
        char *copy = strdup(v), *save = NULL;
        char sep[2] = {m->list_separator, '\0'};
        if (!copy)
            abort();
        for (char *tok = strtok_r(copy, sep, &save); tok; tok = strtok_r(NULL, sep, &save)) {
            mapping_normalise(tok);
            if (!tok[0])
                continue;
            const char *code = mapping_lookup(f->table, tok);
            if (!code) {
                row_fail(x, f->column,
                         "a value that [codes %s] does not list (add it, or a "
                         "'= *' line for any other value)",
                         f->table->name);
                break;
            }
            bool dup = false;
            size_t i;
            json_t *it;
            json_array_foreach(arr, i, it) dup = dup || strcmp(json_string_value(it), code) == 0;
            if (!dup)
                json_array_append_new(arr, json_string(code));
        }
        free(copy);
        if (x->failed || json_array_size(arr) == 0) {
            if (!x->failed)
                row_fail(x, f->column, "no value in the list");
            json_decref(arr);
            return NULL;
        }
        return arr;
    }
    case RULE_WEEK: {
        tr_date_t d;
        if (tr_date_parse(v, m->date_order, &d) != 0) {
            row_fail(x, f->column, "not a date in the mapping's date_format");
            return NULL;
        }
        char w[9];
        tr_date_iso_week(d, w);
        return json_string(w);
    }
    case RULE_DISTRICT: {
        char d[16];
        if (tr_anon_district(v, d, sizeof(d)) != 0) {
            row_fail(x, f->column,
                     "not a UK postcode, postcode district or local authority "
                     "code");
            return NULL;
        }
        return json_string(d);
    }
    case RULE_AGE: {
        char *end;
        long age = strtol(v, &end, 10);
        const char *band = end != v && *end == '\0' ? tr_age_band(age) : NULL;
        if (!band) {
            row_fail(x, f->column, "not an age in whole years (0 to 130)");
            return NULL;
        }
        return json_string(band);
    }
    case RULE_DOB: {
        tr_date_t dob, at;
        if (tr_date_parse(v, m->date_order, &dob) != 0) {
            row_fail(x, f->column, "not a date in the mapping's date_format");
            return NULL;
        }
        if (!row_date(x, &at))
            return NULL;
        const char *band = tr_age_band(tr_age_at(dob, at));
        if (!band) {
            row_fail(x, f->column, "the date of birth is after the row's date");
            return NULL;
        }
        return json_string(band);
    }
    case RULE_TEXT: {
        unsigned pii = 0;
        size_t which = 0;
        tr_anon_finding_t found = tr_anon_scan_text(v, strlen(v), pii_cols, n_pii, &pii, &which);
        if (found == TR_ANON_CLEAN && x->case_ref && tr_anon_has_shape(v, strlen(v), x->case_ref))
            found = TR_ANON_REFERENCE;
        if (found != TR_ANON_CLEAN && !*quarantine) {
            *quarantine = true;
            snprintf(x->out->column, sizeof(x->out->column), "%s", f->column);
            if (found == TR_ANON_PII)
                snprintf(x->out->why, sizeof(x->out->why), "the text contains what looks like %s",
                         tr_pii_name((tr_pii_kind_t)pii));
            else
                snprintf(x->out->why, sizeof(x->out->why), "the text contains %s",
                         tr_anon_finding_name(found));
        }
        return json_string(v);
    }
    case RULE_UUID: {
        char u[40];
        snprintf(u, sizeof(u), "%s", v);
        for (char *p = u; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (!tr_is_uuid(u)) {
            row_fail(x, f->column, "not a UUID");
            return NULL;
        }
        return json_string(u);
    }
    }
    return NULL;
}

/* The envelope around body (taken). Built member by member rather than by
 * json_pack, which parses its format again for every record; kind and id
 * are ASCII by construction. */
static json_t *envelope(anon_t *a, tr_kind_t kind, const char *id, json_t *body)
{
    json_t *e = json_object();
    if (!e || json_object_set_new_nocheck(e, "kind", json_string_nocheck(tr_kind_name(kind))) ||
        json_object_set_new_nocheck(e, "id", json_string_nocheck(id)) ||
        json_object_set_new_nocheck(e, "origin", json_string(a->origin)) ||
        json_object_set_new_nocheck(e, "version", json_integer(1)) ||
        json_object_set_new_nocheck(e, "body", body))
        abort(); /* only out of memory: every value here is well formed */
    return e;
}

static bool add_events(ctx_t *x, const char *case_ref, const char *referral_id, json_t *records)
{
    anon_t *a = x->a;
    const mapping_t *m = a->m;
    tr_date_t at;
    bool have_date = false;
    for (size_t i = 0; i < m->n_events; i++) {
        const map_event_t *e = &m->events[i];
        char buf[256];
        const char *v = cell(x, e->column, buf, sizeof(buf));
        if (!v)
            return false;
        if (!v[0])
            continue; /* the referral has not reached this status */
        if (!have_date && !(have_date = row_date(x, &at)))
            return false;
        tr_date_t d;
        if (tr_date_parse(v, m->date_order, &d) != 0)
            return row_fail(x, e->column, "not a date in the mapping's date_format");
        long days = tr_date_days(d) - tr_date_days(at);
        if (days < 0 || days > 3650)
            return row_fail(x, e->column, "the date is %s the referral date",
                            days < 0 ? "before" : "more than ten years after");
        json_t *body = json_pack("{s:s, s:s, s:I}", "referral", referral_id, "status", e->status,
                                 "days", (json_int_t)days);
        const char *reason = e->reason_default;
        if (e->reason_column) {
            char rbuf[256];
            const char *rv = cell(x, e->reason_column, rbuf, sizeof(rbuf));
            if (!rv) {
                json_decref(body);
                return false;
            }
            const char *code = rv[0] ? mapping_lookup(e->reason_table, rv) : NULL;
            if (code)
                reason = code;
            else if (rv[0] && !reason) {
                json_decref(body);
                return row_fail(x, e->reason_column, "a value that [codes %s] does not list",
                                e->reason_table->name);
            }
        }
        if (reason)
            json_object_set_new(body, "reason", json_string(reason));
        char domain[64], id[37];
        snprintf(domain, sizeof(domain), "pathway.event/%s", e->status);
        if (tr_anon_key_uuid(a->key, domain, case_ref, id) != 0)
            abort();
        json_array_append_new(records, envelope(a, TR_KIND_PATHWAY_EVENT, id, body));
    }
    return true;
}

static bool validate_all(ctx_t *x, json_t *records)
{
    size_t i;
    json_t *doc;
    json_array_foreach(records, i, doc)
    {
        tr_record_t rec;
        tr_verrors_t errs;
        tr_verrors_init(&errs);
        int rc = tr_record_validate(doc, &rec, &errs);
        if (rc == 0) {
            tr_record_clear(&rec);
        } else {
            char why[320] = "";
            size_t off = 0;
            for (size_t k = 0; k < errs.n && k < 3 && off < sizeof(why); k++)
                off += (size_t)snprintf(why + off, sizeof(why) - off, "%s%s: %s", k ? "; " : "",
                                        errs.items[k].path, errs.items[k].message);
            tr_verrors_free(&errs);
            return row_fail(x, "", "the %s would be refused: %s",
                            json_string_value(json_object_get(doc, "kind")), why);
        }
        tr_verrors_free(&errs);
    }
    return true;
}

anon_result_t anon_row(anon_t *a, const src_row_t *row, anon_out_t *out)
{
    const mapping_t *m = a->m;
    memset(out, 0, sizeof(*out));
    ctx_t x = {a, row, out, false, NULL};
    char ref[256];
    if (!cell(&x, m->case_reference, ref, sizeof(ref)))
        return ANON_ROW_ERROR;
    if (!ref[0]) {
        row_fail(&x, m->case_reference, "the case reference is empty");
        return ANON_ROW_ERROR;
    }
    x.case_ref = ref;
    /* What free text must not repeat: the identifying columns, the case
     * reference and every other mapped value of the row that is not text,
     * copied into one buffer kept from row to row. A mapping without a text
     * rule needs none of them, only every mapped column to be there. */
    const char *pii_vals[MAX_COLS];
    size_t n_pii = 0;
    for (size_t c = 0; c < a->n_cols; c++) {
        if (a->is_text[c])
            continue;
        if (!a->any_text) {
            if (a->idx[c] < 0) {
                row_fail(&x, a->cols[c], "the mapped column is missing");
                break;
            }
            continue;
        }
        const char *v = cell(&x, a->cols[c], a->vals + n_pii * VAL_MAX, VAL_MAX);
        if (!v)
            break;
        if (strlen(v) >= 3)
            pii_vals[n_pii++] = v;
    }
    json_t *body = json_object();
    bool quarantine = false;
    for (size_t i = 0; i < m->n_fields && !x.failed; i++) {
        const map_field_t *f = &m->fields[i];
        char *buf = a->buf;
        const char *v =
            f->rule == RULE_CONST ? f->value : cell(&x, f->column, buf, SRC_MAX_FIELD + 1);
        if (v && !v[0]) {
            if (f->def) {
                json_object_set_new(body, f->member, mapping_typed(f->type, f->def));
            } else if (!f->optional) {
                row_fail(&x, f->column, "the value is empty");
            }
        } else if (v) {
            json_t *jv = one_value(&x, f, v, pii_vals, n_pii, &quarantine);
            if (jv)
                json_object_set_new(body, f->member, jv);
        }
    }
    if (x.failed) {
        json_decref(body);
        return ANON_ROW_ERROR;
    }
    char id[37];
    const char *given = json_string_value(json_object_get(body, "id"));
    if (m->kind == TR_KIND_DIRECTORY_SERVICE && given)
        snprintf(id, sizeof(id), "%s", given); /* the spreadsheet's own service UUID */
    else if (tr_anon_key_uuid(a->key, tr_kind_name(m->kind), ref, id) != 0)
        abort();
    if (m->kind == TR_KIND_DIRECTORY_SERVICE) {
        json_t *flat = body;
        int rc = anon_directory_body(m, a->secret, a->origin, ref, id, flat, &body, out);
        json_decref(flat);
        if (rc != 0)
            return ANON_ROW_ERROR;
    }
    /* Keep the quarantine's column and reason apart from row errors. */
    anon_out_t q = *out;
    out->records = json_array();
    json_array_append_new(out->records, envelope(a, m->kind, id, body));
    if (m->kind == TR_KIND_PATHWAY_REFERRAL && !add_events(&x, ref, id, out->records))
        return ANON_ROW_ERROR;
    if (quarantine) {
        snprintf(out->column, sizeof(out->column), "%s", q.column);
        snprintf(out->why, sizeof(out->why), "%s", q.why);
        return ANON_QUARANTINE;
    }
    if (!validate_all(&x, out->records))
        return ANON_ROW_ERROR;
    return ANON_OK;
}
