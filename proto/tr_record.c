/* The record envelope and the kinds table. The bodies are
 * checked by one validator per kind (tr_validate_<kind>.c). */
#include "tr_record.h"
#include "tr_check.h"
#include "tr_error.h"
#include "tr_identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    bool is_mutable;
} kinds[TR_KIND_COUNT_] = {
    [TR_KIND_DIRECTORY_SERVICE] = {"directory.service", true},
    [TR_KIND_PATHWAY_REFERRAL] = {"pathway.referral", false},
    [TR_KIND_PATHWAY_EVENT] = {"pathway.event", false},
    [TR_KIND_FEEDBACK_ENTRY] = {"feedback.entry", false},
    [TR_KIND_FEEDBACK_RESPONSE] = {"feedback.response", false},
};

const char *tr_kind_name(tr_kind_t kind)
{
    return (unsigned)kind < TR_KIND_COUNT_ ? kinds[kind].name : "unknown";
}

int tr_kind_parse(const char *name, tr_kind_t *out)
{
    for (int i = 0; i < TR_KIND_COUNT_; i++) {
        if (strcmp(name, kinds[i].name) == 0) {
            *out = (tr_kind_t)i;
            return 0;
        }
    }
    return TR_E_INVAL;
}

bool tr_kind_mutable(tr_kind_t kind)
{
    return (unsigned)kind < TR_KIND_COUNT_ && kinds[kind].is_mutable;
}

void tr_record_clear(tr_record_t *rec)
{
    json_decref(rec->doc);
    memset(rec, 0, sizeof(*rec));
}

static const char *const envelope_fields[] = {"kind",     "id",        "origin", "version", "body",
                                              "audience", "signed_at", "signer", "sig",     NULL};
/* Only what no member check below reports: a missing kind, id, origin or
 * version is reported there, and listing it here too would report it twice. */
static const char *const envelope_required[] = {"body", NULL};

/* "consortium", or at most TR_AUDIENCE_MAX distinct organisation ids in
 * ascending byte order (so that one decision has one signed form), not
 * naming the origin, which always sees its own records; [] shares it with
 * nobody else. */
static void check_audience(json_t *a, const char *origin, tr_verrors_t *errs)
{
    if (!a || json_is_null(a))
        return;
    if (json_is_string(a)) {
        if (strcmp(json_string_value(a), TR_AUDIENCE_CONSORTIUM) != 0)
            tr_verrors_add(errs, "$.audience", "enum",
                           "must be \"consortium\" or a list of organisation ids");
        return;
    }
    if (!json_is_array(a)) {
        tr_verrors_add(errs, "$.audience", "type", "must be a string or an array");
        return;
    }
    size_t n = json_array_size(a);
    if (n > TR_AUDIENCE_MAX) {
        tr_verrors_add(errs, "$.audience", "items", "must list at most %d organisations",
                       TR_AUDIENCE_MAX);
        return;
    }
    const char *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        char path[32];
        snprintf(path, sizeof(path), "$.audience[%zu]", i);
        const char *org = json_string_value(json_array_get(a, i));
        if (!org || !tr_name_valid(org)) {
            tr_verrors_add(errs, path, "organisation", "is not an organisation id");
            prev = NULL;
            continue;
        }
        if (origin && strcmp(org, origin) == 0)
            tr_verrors_add(errs, path, "origin", "the origin always sees its own records");
        else if (prev && strcmp(prev, org) >= 0)
            tr_verrors_add(errs, path, "order", "must be distinct and in ascending order");
        prev = org;
    }
}

int tr_record_validate(json_t *doc, tr_record_t *rec, tr_verrors_t *errs)
{
    memset(rec, 0, sizeof(*rec));
    size_t before = errs->n;
    if (!tr_check_object(doc, "$", envelope_fields, envelope_required, errs))
        return TR_E_INVAL;

    tr_kind_t kind = TR_KIND_COUNT_;
    const char *kname = tr_check_string(doc, "kind", "$", 64, true, errs);
    if (kname && tr_kind_parse(kname, &kind) != 0)
        tr_verrors_add(errs, "$.kind", "enum", "is not a record kind");
    const char *id = tr_check_uuid(doc, "id", "$", true, errs);
    const char *origin = tr_check_string(doc, "origin", "$", TR_NAME_MAX, true, errs);
    if (origin && !tr_name_valid(origin)) {
        tr_verrors_add(errs, "$.origin", "organisation", "is not an organisation id");
        origin = NULL;
    }
    json_int_t version = 0;
    tr_check_int(doc, "version", "$", 1, TR_MAX_VERSION, true, &version, errs);
    check_audience(json_object_get(doc, "audience"), origin, errs);
    json_int_t signed_at;
    tr_check_int(doc, "signed_at", "$", 0, TR_MAX_VERSION, false, &signed_at, errs);
    tr_check_string(doc, "signer", "$", 64, false, errs);
    tr_check_string(doc, "sig", "$", 512, false, errs);

    json_t *body = json_object_get(doc, "body");
    if (body && !json_is_object(body))
        tr_verrors_add(errs, "$.body", "type", "must be an object");
    else if (body && kind != TR_KIND_COUNT_) {
        /* The body is checked even when the envelope is wrong, so that every
         * error comes back at once; only the directory's cross-checks need a
         * good id and origin. */
        switch (kind) {
        case TR_KIND_DIRECTORY_SERVICE:
            if (id && origin)
                tr_validate_directory_service(body, id, origin, errs);
            break;
        case TR_KIND_PATHWAY_REFERRAL:
            tr_validate_pathway_referral(body, errs);
            break;
        case TR_KIND_PATHWAY_EVENT:
            tr_validate_pathway_event(body, errs);
            break;
        case TR_KIND_FEEDBACK_ENTRY:
            tr_validate_feedback_entry(body, errs);
            break;
        case TR_KIND_FEEDBACK_RESPONSE:
            tr_validate_feedback_response(body, errs);
            break;
        default:
            break;
        }
    }
    if (errs->n != before)
        return TR_E_INVAL;
    rec->kind = kind;
    snprintf(rec->id, sizeof(rec->id), "%s", id);
    snprintf(rec->origin, sizeof(rec->origin), "%s", origin);
    rec->version = version;
    rec->doc = json_incref(doc);
    rec->body = body;
    return 0;
}
