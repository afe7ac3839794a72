/* Validators for the anonymised referral pathway kinds: pathway.referral and
 * pathway.event. Every field is a code from a fixed list or a bounded number:
 * no free text, so nothing personal can ride along (docs/records.md). */
#include "tr_check.h"
#include "tr_identity.h"
#include "tr_pii.h"
#include "tr_record.h"

#include <stdio.h>
#include <string.h>

#define BODY "$.body"

/* What a person needs from the service referred to. The first thirteen are the
 * consortium's list; mental_health, disability and employment were added
 * because they are among the commonest reasons for a cross-service referral
 * in the sector and would otherwise all land in "health" or nowhere. */
static const char *const needs_codes[] = {
    "refuge",      "housing",       "legal",           "advocacy",
    "counselling", "children",      "finance",         "immigration",
    "health",      "substance_use", "sexual_violence", "peer_support",
    "helpline",    "mental_health", "disability",      "employment",
    NULL};

static const char *const risk_codes[] = {"standard", "medium", "high", "unknown", NULL};

static const char *const age_band_codes[] = {"under_16", "16_17", "18_24",   "25_34",   "35_44",
                                             "45_54",    "55_64", "65_plus", "unknown", NULL};

static const char *const route_codes[] = {"self",   "professional", "marac", "police",
                                          "health", "other",        NULL};

/* In lifecycle order: the same order and names as tr_ref_status_t (tr_fold.h). */
static const char *const status_codes[] = {"sent",      "received", "accepted",  "declined",
                                           "contacted", "closed",   "withdrawn", NULL};

/* Why a service declined. unsafe_area (the service is too near the person who
 * caused harm), needs_not_met and no_recourse (no recourse to public funds) are
 * the sector's commonest refuge refusals and are counted apart from "other". */
static const char *const declined_reasons[] = {
    "no_capacity", "not_eligible",    "outside_area",      "unsafe_area", "needs_not_met",
    "no_recourse", "person_declined", "unable_to_contact", "other",       NULL};

/* How the support ended. */
static const char *const closed_reasons[] = {
    "support_completed", "safety_achieved", "moved_on", "transferred", "disengaged", "other", NULL};

static const char *const withdrawn_reasons[] = {"referrer_withdrew", "person_withdrew", "duplicate",
                                                "other", NULL};

/* Which statuses take a reason (index = status_codes index); NULL: none. */
static const char *const *const reasons_by_status[] = {
    NULL, NULL, NULL, declined_reasons, NULL, closed_reasons, withdrawn_reasons};

static const struct {
    const char *name;
    const char *const *codes;
} code_lists[] = {
    {"needs", needs_codes},
    {"risk", risk_codes},
    {"age_band", age_band_codes},
    {"route", route_codes},
    {"status", status_codes},
    {"reason.declined", declined_reasons},
    {"reason.closed", closed_reasons},
    {"reason.withdrawn", withdrawn_reasons},
};

const char *const *tr_pathway_codes(const char *field)
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

static bool all_in(const char *s, size_t n, const char *set)
{
    return strspn(s, set) == n;
}

/* A local-authority GSS code: the country letter and the entity codes of the
 * local-authority tier only (E06 unitary, E07 district, E08 metropolitan
 * district, E09 London borough, E10 county, W06, S12, N09). Finer GSS
 * geographies (output areas E00, LSOAs E01, ...) are refused: a few hundred
 * people per area could identify someone. */
static bool is_la_code(const char *s)
{
    static const char *const entities[] = {"E06", "E07", "E08", "E09", "E10",
                                           "W06", "S12", "N09", NULL};
    if (strlen(s) != 9 || !all_in(s + 1, 8, "0123456789"))
        return false;
    for (int i = 0; entities[i]; i++)
        if (strncmp(s, entities[i], 3) == 0)
            return true;
    return false;
}

/* district: a postcode district in its canonical upper-case form, or a local
 * authority code. A full postcode is personal data and says so, however it is
 * spelled. */
static void check_district(json_t *body, tr_verrors_t *e)
{
    const char *path = BODY ".district";
    const char *s = tr_check_string(body, "district", BODY, 16, true, e);
    if (!s)
        return;
    char upper[17];
    size_t n = strlen(s);
    for (size_t i = 0; i <= n; i++)
        upper[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') : s[i];
    if (tr_pii_is_full_postcode(s) || tr_pii_is_full_postcode(upper)) {
        tr_verrors_add(e, path, "personal_data",
                       "district is a full postcode: personal data may not enter a shared "
                       "record; give the postcode district (the outward code) only");
        return;
    }
    if (is_la_code(s))
        return;
    if (tr_pii_is_postcode_district(upper)) {
        /* One spelling per district, so that coordinators' counts group. */
        if (!all_in(s, n, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
            tr_verrors_add(e, path, "format", "must be written in capitals without spaces");
        return;
    }
    tr_verrors_add(e, path, "district",
                   "must be a postcode district (e.g. LS6) or a local authority code "
                   "(e.g. E08000035)");
}

static const char *const referral_fields[] = {"from_service", "to_service", "to_org",   "week",
                                              "needs",        "risk",       "age_band", "district",
                                              "route",        NULL};

void tr_validate_pathway_referral(json_t *body, tr_verrors_t *errs)
{
    /* Required members are reported by the member checks, once each. */
    if (!tr_check_object(body, BODY, referral_fields, NULL, errs))
        return;
    const char *from = tr_check_uuid(body, "from_service", BODY, true, errs);
    const char *to = tr_check_uuid(body, "to_service", BODY, true, errs);
    if (from && to && strcmp(from, to) == 0)
        tr_verrors_add(errs, BODY ".to_service", "same_service",
                       "must be another service than from_service");
    /* The receiving organisation is named, not looked up: service ids are
     * owned per origin, so an id alone could name another member's service. */
    const char *to_org = tr_check_string(body, "to_org", BODY, TR_NAME_MAX, true, errs);
    if (to_org && !tr_name_valid(to_org))
        tr_verrors_add(errs, BODY ".to_org", "organisation", "is not an organisation id");
    tr_check_iso_week(body, "week", BODY, true, errs);
    tr_check_enum_array(body, "needs", BODY, needs_codes, 1, count(needs_codes), true, errs);
    tr_check_enum(body, "risk", BODY, risk_codes, true, errs);
    tr_check_enum(body, "age_band", BODY, age_band_codes, true, errs);
    check_district(body, errs);
    tr_check_enum(body, "route", BODY, route_codes, true, errs);
}

static bool in_any_reason_list(const char *s)
{
    for (size_t i = 0; i < sizeof(reasons_by_status) / sizeof(reasons_by_status[0]); i++)
        for (const char *const *r = reasons_by_status[i]; r && *r; r++)
            if (strcmp(s, *r) == 0)
                return true;
    return false;
}

/* reason: required from the status's list for declined, closed and withdrawn;
 * absent or null for the others (a code where none applies is an error). */
static void check_reason(json_t *body, int status, tr_verrors_t *e)
{
    const char *path = BODY ".reason";
    json_t *v = json_object_get(body, "reason");
    if (status >= 0 && reasons_by_status[status]) {
        tr_check_enum(body, "reason", BODY, reasons_by_status[status], true, e);
        return;
    }
    if (!v || json_is_null(v))
        return;
    if (!json_is_string(v)) {
        tr_verrors_add(e, path, "type", "must be a string or null");
        return;
    }
    if (status >= 0)
        tr_verrors_add(e, path, "not_applicable", "must be absent or null when status is %s",
                       status_codes[status]);
    else if (!in_any_reason_list(json_string_value(v)))
        tr_verrors_add(e, path, "enum", "is not one of the allowed values");
}

static const char *const event_fields[] = {"referral", "status", "reason", "days", NULL};

void tr_validate_pathway_event(json_t *body, tr_verrors_t *errs)
{
    if (!tr_check_object(body, BODY, event_fields, NULL, errs))
        return;
    tr_check_uuid(body, "referral", BODY, true, errs);
    int status = tr_check_enum(body, "status", BODY, status_codes, true, errs);
    check_reason(body, status, errs);
    /* Ten years is far past any support episode; a bigger number is a unit mistake. */
    tr_check_int(body, "days", BODY, 0, 3650, true, NULL, errs);
}
