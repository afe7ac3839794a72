/* Validators for the "you said, we did" log: feedback.entry and
 * feedback.response. The free text here is the only free text in a shared
 * record outside the directory, so every piece goes through the PII scanner. */
#include "tr_check.h"
#include "tr_pii.h"
#include "tr_record.h"

#include <string.h>

#define BODY "$.body"

/* Byte limits: a summary is a paragraph, the easy-read one shorter by design. */
#define SUMMARY_MAX 1000
#define EASY_READ_MAX 600
#define ANSWER_MAX 1000

static const char *const source_role_codes[] = {"service_user", "peer_designer", "staff", "partner",
                                                NULL};

/* confidentiality (who sees what a person has told a service) and
 * involvement (how people are involved in shaping the service) come up in
 * almost every survivor forum and fit none of the other themes. */
static const char *const theme_codes[] = {
    "access",        "waiting_times",   "communication", "safety",   "staff_attitude",
    "accessibility", "information",     "environment",   "children", "language",
    "digital",       "confidentiality", "involvement",   "other",    NULL};

static const char *const level_codes[] = {"consultation", "co_design", "co_production", NULL};

enum { HEARD, AGREED, IN_PROGRESS, CHANGED, CANNOT_CHANGE };
static const char *const response_status_codes[] = {"heard",   "agreed",        "in_progress",
                                                    "changed", "cannot_change", NULL};

/* What each response status asks of what_changed and why_not. */
typedef enum { FORBIDDEN, OPTIONAL, REQUIRED } need_t;
static const struct {
    need_t what_changed, why_not;
} answers[] = {
    [HEARD] = {FORBIDDEN, FORBIDDEN},
    [AGREED] = {OPTIONAL, FORBIDDEN},      /* what is going to change */
    [IN_PROGRESS] = {OPTIONAL, FORBIDDEN}, /* what is changing so far */
    [CHANGED] = {REQUIRED, OPTIONAL},      /* and why the rest could not, if only part did */
    [CANNOT_CHANGE] = {FORBIDDEN, REQUIRED},
};

static const struct {
    const char *name;
    const char *const *codes;
} code_lists[] = {
    {"source_role", source_role_codes},
    {"themes", theme_codes},
    {"level", level_codes},
    {"status", response_status_codes},
};

const char *const *tr_feedback_codes(const char *field)
{
    for (size_t i = 0; i < sizeof(code_lists) / sizeof(code_lists[0]); i++)
        if (strcmp(field, code_lists[i].name) == 0)
            return code_lists[i].codes;
    return NULL;
}

static size_t count(const char *const *list)
{
    size_t n = 0;
    while (list[n])
        n++;
    return n;
}

static const char *const entry_fields[] = {"week",      "source_role", "themes", "summary",
                                           "easy_read", "level",       NULL};

void tr_validate_feedback_entry(json_t *body, tr_verrors_t *errs)
{
    /* Required members are reported by the member checks, once each. */
    if (!tr_check_object(body, BODY, entry_fields, NULL, errs))
        return;
    tr_check_iso_week(body, "week", BODY, true, errs);
    tr_check_enum(body, "source_role", BODY, source_role_codes, true, errs);
    tr_check_enum_array(body, "themes", BODY, theme_codes, 1, count(theme_codes), true, errs);
    tr_check_text(body, "summary", BODY, SUMMARY_MAX, true, TR_PII_ALL, errs);
    tr_check_text(body, "easy_read", BODY, EASY_READ_MAX, true, TR_PII_ALL, errs);
    tr_check_enum(body, "level", BODY, level_codes, true, errs);
}

/* One answer field under the rule its status sets. With an unknown status
 * (rule < 0) the text is still checked, so every error is reported at once.
 * Null counts as absent. */
static void check_answer(json_t *body, const char *key, int rule, const char *status,
                         tr_verrors_t *e)
{
    char path[128];
    tr_path_member(path, sizeof(path), BODY, key);
    json_t *v = json_object_get(body, key);
    bool present = v && !json_is_null(v);
    if (rule == FORBIDDEN) {
        if (present)
            tr_verrors_add(e, path, "not_applicable", "must be absent or null when status is %s",
                           status);
        return;
    }
    if (rule == REQUIRED && !present) {
        tr_verrors_add(e, path, "required", "is required when status is %s", status);
        return;
    }
    if (present)
        tr_check_text(body, key, BODY, ANSWER_MAX, rule == REQUIRED, TR_PII_ALL, e);
}

static const char *const response_fields[] = {"entry",        "week",    "status",
                                              "what_changed", "why_not", NULL};

void tr_validate_feedback_response(json_t *body, tr_verrors_t *errs)
{
    if (!tr_check_object(body, BODY, response_fields, NULL, errs))
        return;
    tr_check_uuid(body, "entry", BODY, true, errs);
    tr_check_iso_week(body, "week", BODY, true, errs);
    int s = tr_check_enum(body, "status", BODY, response_status_codes, true, errs);
    const char *name = s >= 0 ? response_status_codes[s] : NULL;
    check_answer(body, "what_changed", s >= 0 ? (int)answers[s].what_changed : -1, name, errs);
    check_answer(body, "why_not", s >= 0 ? (int)answers[s].why_not : -1, name, errs);
}
