/* Reading and checking mapping files (mapping.h). */
#include "mapping.h"

#include "tr_check.h"
#include "tr_format.h"
#include "tr_identity.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FIELDS 48
#define MAX_EVENTS 8
#define MAX_TABLES 32
#define MAX_CODES 2000
#define MAX_IDENTIFIERS 32

static const struct {
    const char *name;
    map_rule_t rule;
} rules[] = {
    {"code", RULE_CODE},         {"codes", RULE_CODES},   {"week", RULE_WEEK},
    {"district", RULE_DISTRICT}, {"age", RULE_AGE},       {"dob", RULE_DOB},
    {"text", RULE_TEXT},         {"uuid", RULE_UUID},     {"const", RULE_CONST},
    {"copy", RULE_COPY},         {"number", RULE_NUMBER}, {"yesno", RULE_YESNO},
};

/* What each kind's body takes from a mapping, with the rules that fit. */
typedef struct {
    const char *member;
    unsigned rules;       /* bit per map_rule_t */
    const char *codes_of; /* code list for RULE_CODE/CODES targets ("uuid": UUIDs, "org":
                             organisation ids, "lang": language codes) */
    map_type_t type;
    bool optional; /* a mapping may leave it out */
} member_t;

#define R(x) (1u << (x))
static const member_t referral_members[] = {
    {"from_service", R(RULE_CODE) | R(RULE_UUID) | R(RULE_CONST), "uuid", MAP_STRING, false},
    {"to_service", R(RULE_CODE) | R(RULE_UUID) | R(RULE_CONST), "uuid", MAP_STRING, false},
    /* The organisation to_service belongs to: service ids are owned per
     * origin, so a referral names its receiver (docs/records.md). */
    {"to_org", R(RULE_CODE) | R(RULE_CONST), "org", MAP_STRING, false},
    {"week", R(RULE_WEEK), NULL, MAP_STRING, false},
    {"needs", R(RULE_CODES), "needs", MAP_LIST, false},
    {"risk", R(RULE_CODE) | R(RULE_CONST), "risk", MAP_STRING, false},
    {"age_band", R(RULE_AGE) | R(RULE_DOB) | R(RULE_CODE) | R(RULE_CONST), "age_band", MAP_STRING,
     false},
    {"district", R(RULE_DISTRICT) | R(RULE_CONST), NULL, MAP_STRING, false},
    {"route", R(RULE_CODE) | R(RULE_CONST), "route", MAP_STRING, false},
    {NULL, 0, NULL, MAP_STRING, false},
};
static const member_t feedback_members[] = {
    {"week", R(RULE_WEEK), NULL, MAP_STRING, false},
    {"source_role", R(RULE_CODE) | R(RULE_CONST), "source_role", MAP_STRING, false},
    {"themes", R(RULE_CODES), "themes", MAP_LIST, false},
    {"summary", R(RULE_TEXT), NULL, MAP_STRING, false},
    {"easy_read", R(RULE_TEXT), NULL, MAP_STRING, false},
    {"level", R(RULE_CODE) | R(RULE_CONST), "level", MAP_STRING, false},
    {NULL, 0, NULL, MAP_STRING, false},
};

/* A services spreadsheet: one service a row, with ORUK's names (dotted for
 * the nested objects anonymise_directory.c builds, docs/agent.md). The
 * organisation's id is never mapped: it is derived from the origin. */
#define TXT (R(RULE_COPY) | R(RULE_CONST))
#define OPT_TXT(name)                                                                              \
    {                                                                                              \
        name, TXT, NULL, MAP_STRING, true                                                          \
    }
#define OPT_LIST(name, codes)                                                                      \
    {                                                                                              \
        name, R(RULE_CODES), codes, MAP_LIST, true                                                 \
    }
#define OPT_BOOL(name)                                                                             \
    {                                                                                              \
        name, R(RULE_YESNO) | R(RULE_CONST), NULL, MAP_BOOL, true                                  \
    }
static const member_t directory_members[] = {
    {"id", R(RULE_UUID), NULL, MAP_STRING, true},
    {"name", TXT, NULL, MAP_STRING, false},
    {"status", R(RULE_CODE) | R(RULE_CONST), "status", MAP_STRING, false},
    OPT_TXT("description"),
    OPT_TXT("url"),
    OPT_TXT("email"),
    OPT_TXT("fees"),
    OPT_TXT("accreditations"),
    OPT_TXT("alert"),
    {"minimum_age", R(RULE_NUMBER) | R(RULE_CONST), NULL, MAP_INT, true},
    {"maximum_age", R(RULE_NUMBER) | R(RULE_CONST), NULL, MAP_INT, true},
    {"organization.name", TXT, NULL, MAP_STRING, false},
    {"organization.description", TXT, NULL, MAP_STRING, false},
    OPT_TXT("organization.email"),
    OPT_TXT("organization.website"),
    OPT_TXT("phones.number"),
    OPT_TXT("service_areas.name"),
    OPT_TXT("service_areas.uri"),
    OPT_TXT("schedules.description"),
    {"languages.code", R(RULE_CODES), "lang", MAP_LIST, true},
    OPT_TXT("location.name"),
    OPT_TXT("location.description"),
    OPT_TXT("addresses.address_1"),
    OPT_TXT("addresses.address_2"),
    OPT_TXT("addresses.city"),
    OPT_TXT("addresses.state_province"),
    OPT_TXT("addresses.postal_code"),
    OPT_TXT("addresses.country"),
    {"trellis.location_confidential", R(RULE_YESNO) | R(RULE_CONST), NULL, MAP_BOOL, false},
    OPT_BOOL("trellis.self_referral"),
    OPT_BOOL("trellis.taking_referrals"),
    OPT_LIST("trellis.for_genders", "for_genders"),
    OPT_LIST("trellis.risk_levels", "risk_levels"),
    OPT_LIST("trellis.accessibility", "accessibility"),
    OPT_LIST("trellis.needs", "needs"),
    {NULL, 0, NULL, MAP_STRING, false},
};

static const member_t *members_of(tr_kind_t kind)
{
    if (kind == TR_KIND_PATHWAY_REFERRAL)
        return referral_members;
    if (kind == TR_KIND_FEEDBACK_ENTRY)
        return feedback_members;
    if (kind == TR_KIND_DIRECTORY_SERVICE)
        return directory_members;
    return NULL;
}

static const char *const *code_list(tr_kind_t kind, const char *name)
{
    if (!name)
        return NULL;
    if (kind == TR_KIND_DIRECTORY_SERVICE)
        return tr_directory_codes(name);
    return kind == TR_KIND_FEEDBACK_ENTRY ? tr_feedback_codes(name) : tr_pathway_codes(name);
}

typedef struct {
    mapping_t *m;
    char *err;
    size_t err_len;
    int failed;
    /* Names of tables referenced, resolved after the whole file is read. */
    char *field_table[MAX_FIELDS];
    char *event_table[MAX_EVENTS];
} load_t;

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static int fail(load_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(load_t *x, const char *fmt, ...)
{
    if (x->failed)
        return 0;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(x->err, x->err_len, "%s: %s", x->m->path, msg);
    x->failed = 1;
    return 0;
}

void mapping_normalise(char *s)
{
    char *w = s;
    bool space = false;
    for (char *p = s; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            space = w != s;
            continue;
        }
        if (space)
            *w++ = ' ';
        space = false;
        *w++ = *p;
    }
    *w = '\0';
}

int mapping_yesno(const char *value)
{
    static const char *const yes_words[] = {"yes", "y", "true", "1", NULL};
    static const char *const no_words[] = {"no", "n", "false", "0", NULL};
    char buf[16];
    snprintf(buf, sizeof(buf), "%s", value);
    mapping_normalise(buf);
    for (size_t i = 0; yes_words[i]; i++)
        if (strcasecmp(buf, yes_words[i]) == 0)
            return 1;
    for (size_t i = 0; no_words[i]; i++)
        if (strcasecmp(buf, no_words[i]) == 0)
            return 0;
    return -1;
}

json_t *mapping_typed(map_type_t type, const char *value)
{
    switch (type) {
    case MAP_STRING:
        return json_string(value);
    case MAP_LIST:
        return json_pack("[s]", value);
    case MAP_BOOL: {
        int yn = mapping_yesno(value);
        return yn < 0 ? NULL : json_boolean(yn);
    }
    case MAP_INT: {
        char *end;
        errno = 0;
        long long n = strtoll(value, &end, 10);
        if (end == value || *end || errno || n < 0 || n > 1000000)
            return NULL;
        return json_integer((json_int_t)n);
    }
    }
    return NULL;
}

const char *mapping_lookup(const map_table_t *t, const char *value)
{
    char buf[512];
    size_t n = strnlen(value, sizeof(buf) - 1); /* memcpy: this runs for every cell */
    memcpy(buf, value, n);
    buf[n] = '\0';
    mapping_normalise(buf);
    for (size_t i = 0; i < t->n; i++)
        if (strcasecmp(t->codes[i].from, buf) == 0)
            return t->codes[i].to;
    return t->fallback;
}

static map_table_t *find_table(mapping_t *m, const char *name)
{
    for (size_t i = 0; i < m->n_tables; i++)
        if (strcmp(m->tables[i].name, name) == 0)
            return &m->tables[i];
    return NULL;
}

static map_field_t *field_of(load_t *x, const char *member)
{
    mapping_t *m = x->m;
    for (size_t i = 0; i < m->n_fields; i++)
        if (strcmp(m->fields[i].member, member) == 0)
            return &m->fields[i];
    if (m->n_fields >= MAX_FIELDS) {
        fail(x, "at most %d [field] sections", MAX_FIELDS);
        return NULL;
    }
    map_field_t *f = &m->fields[m->n_fields++];
    memset(f, 0, sizeof(*f));
    f->member = xstrdup(member);
    f->rule = (map_rule_t)-1;
    return f;
}

static map_event_t *event_of(load_t *x, const char *status)
{
    mapping_t *m = x->m;
    for (size_t i = 0; i < m->n_events; i++)
        if (strcmp(m->events[i].status, status) == 0)
            return &m->events[i];
    if (m->n_events >= MAX_EVENTS) {
        fail(x, "at most %d [event] sections", MAX_EVENTS);
        return NULL;
    }
    map_event_t *e = &m->events[m->n_events++];
    memset(e, 0, sizeof(*e));
    e->status = xstrdup(status);
    return e;
}

static bool yes(const char *v)
{
    return !strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1");
}

static int on_mapping(load_t *x, const char *key, const char *value)
{
    mapping_t *m = x->m;
    if (strcmp(key, "kind") == 0) {
        if (tr_kind_parse(value, &m->kind) != 0 || !members_of(m->kind))
            return fail(x, "[mapping] kind must be pathway.referral, feedback.entry or "
                           "directory.service");
    } else if (strcmp(key, "format") == 0) {
        if (!strcmp(value, "csv"))
            m->format = MAP_FORMAT_CSV;
        else if (!strcmp(value, "json") || !strcmp(value, "ndjson"))
            m->format = MAP_FORMAT_JSON;
        else if (!strcmp(value, "auto"))
            m->format = MAP_FORMAT_AUTO;
        else
            return fail(x, "[mapping] format must be csv, json, ndjson or auto");
    } else if (strcmp(key, "date_format") == 0) {
        if (tr_date_order_parse(value, &m->date_order) != 0)
            return fail(x, "[mapping] date_format must be dd/mm/yyyy, mm/dd/yyyy or yyyy-mm-dd");
    } else if (strcmp(key, "case_reference") == 0) {
        free(m->case_reference);
        m->case_reference = xstrdup(value);
    } else if (strcmp(key, "date") == 0) {
        free(m->date_column);
        m->date_column = xstrdup(value);
    } else if (strcmp(key, "list_separator") == 0) {
        /* By name: a ';' would start an INI comment. */
        static const struct {
            const char *name;
            char c;
        } seps[] = {{"semicolon", ';'}, {"comma", ','}, {"pipe", '|'}, {"slash", '/'}};
        size_t i;
        for (i = 0; i < sizeof(seps) / sizeof(seps[0]); i++)
            if (strcmp(value, seps[i].name) == 0)
                break;
        if (i == sizeof(seps) / sizeof(seps[0]))
            return fail(x, "[mapping] list_separator must be semicolon, comma, pipe or slash");
        m->list_separator = seps[i].c;
    } else if (strcmp(key, "identifiers") == 0) {
        /* A comma-separated list of column names. */
        char *copy = xstrdup(value), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            mapping_normalise(tok);
            if (!tok[0])
                continue;
            if (m->n_identifiers >= MAX_IDENTIFIERS) {
                free(copy);
                return fail(x, "[mapping] identifiers: at most %d columns", MAX_IDENTIFIERS);
            }
            m->identifiers[m->n_identifiers++] = xstrdup(tok);
        }
        free(copy);
    } else {
        return fail(x, "[mapping] has no setting '%.40s'", key);
    }
    return 1;
}

static int on_field(load_t *x, const char *member, const char *key, const char *value)
{
    const member_t *allowed = members_of(x->m->kind);
    if (!allowed)
        return fail(x, "[mapping] kind must come before the [field] sections");
    const member_t *mem = NULL;
    for (const member_t *p = allowed; p->member; p++)
        if (strcmp(p->member, member) == 0)
            mem = p;
    if (!mem)
        return fail(x, "[field %.40s]: a %s has no member of that name", member,
                    tr_kind_name(x->m->kind));
    map_field_t *f = field_of(x, member);
    if (!f)
        return 0;
    f->type = mem->type;
    if (strcmp(key, "column") == 0) {
        free(f->column);
        f->column = xstrdup(value);
    } else if (strcmp(key, "rule") == 0) {
        size_t i;
        for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
            if (strcmp(rules[i].name, value) == 0)
                break;
        if (i == sizeof(rules) / sizeof(rules[0]) || !(mem->rules & R(rules[i].rule)))
            return fail(x, "[field %s]: rule '%.20s' does not fit this member", member, value);
        f->rule = rules[i].rule;
    } else if (strcmp(key, "codes") == 0) {
        size_t idx = (size_t)(f - x->m->fields);
        free(x->field_table[idx]);
        x->field_table[idx] = xstrdup(value);
    } else if (strcmp(key, "value") == 0) {
        free(f->value);
        f->value = xstrdup(value);
    } else if (strcmp(key, "default") == 0) {
        free(f->def);
        f->def = xstrdup(value);
    } else if (strcmp(key, "optional") == 0) {
        f->optional = yes(value);
    } else {
        return fail(x, "[field %s] has no setting '%.40s'", member, key);
    }
    return 1;
}

static int on_event(load_t *x, const char *status, const char *key, const char *value)
{
    if (x->m->kind != TR_KIND_PATHWAY_REFERRAL)
        return fail(x, "[event %.20s]: events come only from a pathway.referral mapping", status);
    const char *const *statuses = tr_pathway_codes("status");
    bool ok = false;
    for (size_t i = 0; statuses[i]; i++)
        ok = ok || strcmp(statuses[i], status) == 0;
    if (!ok)
        return fail(x,
                    "[event %.20s]: not a referral status (sent, received, accepted, "
                    "declined, contacted, closed, withdrawn)",
                    status);
    map_event_t *e = event_of(x, status);
    if (!e)
        return 0;
    if (strcmp(key, "column") == 0) {
        free(e->column);
        e->column = xstrdup(value);
    } else if (strcmp(key, "reason") == 0) {
        free(e->reason_column);
        e->reason_column = xstrdup(value);
    } else if (strcmp(key, "reason_codes") == 0) {
        size_t idx = (size_t)(e - x->m->events);
        free(x->event_table[idx]);
        x->event_table[idx] = xstrdup(value);
    } else if (strcmp(key, "reason_default") == 0) {
        free(e->reason_default);
        e->reason_default = xstrdup(value);
    } else {
        return fail(x, "[event %s] has no setting '%.40s'", status, key);
    }
    return 1;
}

static int on_codes(load_t *x, const char *name, const char *to, const char *from)
{
    mapping_t *m = x->m;
    map_table_t *t = find_table(m, name);
    if (!t) {
        if (m->n_tables >= MAX_TABLES)
            return fail(x, "at most %d [codes] sections", MAX_TABLES);
        t = &m->tables[m->n_tables++];
        memset(t, 0, sizeof(*t));
        t->name = xstrdup(name);
    }
    if (strcmp(from, "*") == 0) {
        free(t->fallback);
        t->fallback = xstrdup(to);
        return 1;
    }
    if (t->n >= MAX_CODES)
        return fail(x, "[codes %s]: at most %d values", name, MAX_CODES);
    map_code_t *c = realloc(t->codes, (t->n + 1) * sizeof(*c));
    if (!c)
        abort();
    t->codes = c;
    char *norm = xstrdup(from);
    mapping_normalise(norm);
    c[t->n++] = (map_code_t){xstrdup(to), norm};
    return 1;
}

static int on_line(void *user, const char *section, const char *key, const char *value)
{
    load_t *x = user;
    if (x->failed)
        return 0;
    if (strcmp(section, "mapping") == 0)
        return on_mapping(x, key, value);
    if (strncmp(section, "field ", 6) == 0)
        return on_field(x, section + 6, key, value);
    if (strncmp(section, "event ", 6) == 0)
        return on_event(x, section + 6, key, value);
    if (strncmp(section, "codes ", 6) == 0)
        return on_codes(x, section + 6, key, value);
    return fail(x, "unknown section [%.40s] (mapping, field M, codes T, event S)", section);
}

static bool in_list(const char *const *list, const char *v)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], v) == 0)
            return true;
    return false;
}

/* A value a member may take: one of its codes, or a service UUID, or an
 * organisation id, as its codes_of says. */
static bool target_ok(const char *codes_of, const char *const *codes, const char *v)
{
    if (codes_of && strcmp(codes_of, "uuid") == 0)
        return tr_is_uuid(v);
    if (codes_of && strcmp(codes_of, "org") == 0)
        return tr_name_valid(v);
    if (codes_of && strcmp(codes_of, "lang") == 0)
        return tr_is_language_code(v);
    return in_list(codes, v);
}

static const char *target_what(const char *codes_of)
{
    if (codes_of && strcmp(codes_of, "uuid") == 0)
        return "a lower-case service UUID";
    if (codes_of && strcmp(codes_of, "org") == 0)
        return "an organisation id";
    if (codes_of && strcmp(codes_of, "lang") == 0)
        return "an ISO 639 language code like en or cy";
    return "one of the member's codes";
}

/* Every target of a table is a value the member may take. */
static int check_targets(load_t *x, const char *where, const map_table_t *t, const char *codes_of,
                         const char *const *codes)
{
    for (size_t i = 0; i <= t->n; i++) {
        const char *to = i < t->n ? t->codes[i].to : t->fallback;
        if (!to)
            continue;
        if (!target_ok(codes_of, codes, to))
            return fail(x, "[codes %s] used by %s: '%.40s' is not %s", t->name, where, to,
                        target_what(codes_of));
    }
    return 1;
}

static int check(load_t *x)
{
    mapping_t *m = x->m;
    const member_t *allowed = members_of(m->kind);
    if (!allowed)
        return fail(x, "[mapping] kind is missing (pathway.referral, feedback.entry or "
                       "directory.service)");
    if (!m->case_reference)
        return fail(x, "[mapping] case_reference is missing: the column that identifies a "
                       "row (it becomes the record id by HMAC, never sent)");
    for (size_t i = 0; i < m->n_fields; i++) {
        map_field_t *f = &m->fields[i];
        const member_t *mem = NULL;
        for (const member_t *p = allowed; p->member; p++)
            if (strcmp(p->member, f->member) == 0)
                mem = p;
        if ((int)f->rule == -1)
            return fail(x, "[field %s]: rule is missing", f->member);
        if (f->rule == RULE_CONST ? !f->value : !f->column)
            return fail(x, "[field %s]: %s is missing", f->member,
                        f->rule == RULE_CONST ? "value" : "column");
        if (f->rule == RULE_DOB && !m->date_column)
            return fail(x,
                        "[field %s]: rule dob needs [mapping] date (the date the age is "
                        "taken at)",
                        f->member);
        bool needs_table = f->rule == RULE_CODE || f->rule == RULE_CODES;
        if (needs_table && !x->field_table[i])
            return fail(x, "[field %s]: codes is missing (the [codes] section to use)", f->member);
        if (x->field_table[i]) {
            f->table = find_table(m, x->field_table[i]);
            if (!f->table)
                return fail(x, "[field %s]: no section [codes %.40s]", f->member,
                            x->field_table[i]);
        }
        const char *const *codes = code_list(m->kind, mem->codes_of);
        if (f->table && !check_targets(x, f->member, f->table, mem->codes_of, codes))
            return 0;
        const char *fixed[] = {f->rule == RULE_CONST ? f->value : NULL, f->def};
        for (int k = 0; k < 2; k++) {
            json_t *typed = fixed[k] ? mapping_typed(f->type, fixed[k]) : NULL;
            json_decref(typed);
            if (fixed[k] && !typed)
                return fail(x, "[field %s]: '%.40s' is not %s", f->member, fixed[k],
                            f->type == MAP_BOOL ? "yes or no" : "a whole number");
            if (!fixed[k] || !mem->codes_of)
                continue;
            if (!target_ok(mem->codes_of, codes, fixed[k]))
                return fail(x, "[field %s]: '%.40s' is not %s", f->member, fixed[k],
                            target_what(mem->codes_of));
        }
    }
    for (const member_t *p = allowed; p->member; p++) {
        if (p->optional)
            continue;
        bool found = false;
        for (size_t i = 0; i < m->n_fields; i++)
            found = found || strcmp(m->fields[i].member, p->member) == 0;
        if (!found)
            return fail(x, "[field %s] is missing: a %s needs it", p->member,
                        tr_kind_name(m->kind));
    }
    for (size_t i = 0; i < m->n_events; i++) {
        map_event_t *e = &m->events[i];
        if (!e->column)
            return fail(x, "[event %s]: column is missing (the status's date)", e->status);
        if (!m->date_column)
            return fail(x,
                        "[event %s]: needs [mapping] date (the referral date, days count "
                        "from it)",
                        e->status);
        char list_name[40];
        snprintf(list_name, sizeof(list_name), "reason.%s", e->status);
        const char *const *reasons = tr_pathway_codes(list_name);
        if (x->event_table[i]) {
            e->reason_table = find_table(m, x->event_table[i]);
            if (!e->reason_table)
                return fail(x, "[event %s]: no section [codes %.40s]", e->status,
                            x->event_table[i]);
        }
        if (!reasons && (e->reason_column || e->reason_table || e->reason_default))
            return fail(x, "[event %s]: this status takes no reason", e->status);
        if (reasons && !e->reason_default && !(e->reason_column && e->reason_table))
            return fail(x, "[event %s]: needs reason and reason_codes, or reason_default",
                        e->status);
        if (e->reason_column && !e->reason_table)
            return fail(x, "[event %s]: reason needs reason_codes", e->status);
        if (e->reason_table && !check_targets(x, e->status, e->reason_table, NULL, reasons))
            return 0;
        if (e->reason_default && !in_list(reasons, e->reason_default))
            return fail(x, "[event %s]: reason_default is not one of its reasons", e->status);
    }
    return 1;
}

mapping_t *mapping_load(const char *path, char *err, size_t err_len)
{
    mapping_t *m = calloc(1, sizeof(*m));
    if (!m)
        abort();
    m->path = xstrdup(path);
    m->kind = TR_KIND_COUNT_;
    m->date_order = TR_DATE_DMY;
    m->list_separator = ';';
    m->fields = calloc(MAX_FIELDS, sizeof(*m->fields));
    m->events = calloc(MAX_EVENTS, sizeof(*m->events));
    m->tables = calloc(MAX_TABLES, sizeof(*m->tables));
    m->identifiers = calloc(MAX_IDENTIFIERS, sizeof(char *));
    if (!m->fields || !m->events || !m->tables || !m->identifiers)
        abort();
    load_t x = {.m = m, .err = err, .err_len = err_len};
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "cannot read the mapping %s: %s", path, strerror(errno));
        mapping_free(m);
        return NULL;
    }
    int rc = ini_parse_file(f, on_line, &x);
    fclose(f);
    if (!x.failed && rc != 0)
        fail(&x, "line %d is not an INI line ([section] or key = value)", rc);
    if (!x.failed)
        check(&x);
    for (size_t i = 0; i < MAX_FIELDS; i++)
        free(x.field_table[i]);
    for (size_t i = 0; i < MAX_EVENTS; i++)
        free(x.event_table[i]);
    if (x.failed) {
        mapping_free(m);
        return NULL;
    }
    return m;
}

void mapping_free(mapping_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_fields; i++) {
        free(m->fields[i].member);
        free(m->fields[i].column);
        free(m->fields[i].value);
        free(m->fields[i].def);
    }
    for (size_t i = 0; i < m->n_events; i++) {
        free(m->events[i].status);
        free(m->events[i].column);
        free(m->events[i].reason_column);
        free(m->events[i].reason_default);
    }
    for (size_t i = 0; i < m->n_tables; i++) {
        for (size_t k = 0; k < m->tables[i].n; k++) {
            free(m->tables[i].codes[k].to);
            free(m->tables[i].codes[k].from);
        }
        free(m->tables[i].codes);
        free(m->tables[i].name);
        free(m->tables[i].fallback);
    }
    for (size_t i = 0; i < m->n_identifiers; i++)
        free(m->identifiers[i]);
    free(m->identifiers);
    free(m->fields);
    free(m->events);
    free(m->tables);
    free(m->case_reference);
    free(m->date_column);
    free(m->path);
    free(m);
}
