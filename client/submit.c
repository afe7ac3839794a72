/* Caseworker commands' plumbing (submit.h). */
#include "submit.h"

#include "agent_identity.h"
#include "anonymise.h"
#include "cli.h"
#include "node_http.h"
#include "send.h"
#include "spool.h"
#include "tr_anon.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void submit_uuid(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        abort();
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static tr_date_t today(void)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    return (tr_date_t){tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

void submit_this_week(char out[9])
{
    tr_date_iso_week(today(), out);
}

long submit_days_since_week(const char *week)
{
    int y, w;
    if (!week || sscanf(week, "%4d-W%2d", &y, &w) != 2)
        return -1;
    /* The Monday of ISO week 1 is the Monday on or before 4 January. */
    tr_date_t jan4 = {y, 1, 4};
    long d4 = tr_date_days(jan4);
    long wd = ((d4 % 7) + 7 + 3) % 7; /* 0 Monday */
    long monday = d4 - wd + (long)(w - 1) * 7;
    long days = tr_date_days(today()) - monday;
    return days < 0 ? 0 : days;
}

/* "$.body.needs[2]" -> the option that set it. */
static const char *option_of(const char *path, const char *const *names, char *buf, size_t len)
{
    const char *m = strncmp(path, "$.body.", 7) == 0 ? path + 7 : path + (path[0] == '$');
    size_t n = strcspn(m, ".[");
    for (size_t i = 0; names && names[i]; i += 2)
        if (strlen(names[i]) == n && strncmp(names[i], m, n) == 0)
            return names[i + 1];
    snprintf(buf, len, "%.*s", (int)n, m);
    return buf;
}

int submit_origin(const agent_config_t *c, char *org)
{
    tr_identity_t me;
    char err[512];
    if (agent_identity(c, &me, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        return CLI_EXIT_LOCAL;
    }
    snprintf(org, 64, "%s", me.org);
    return CLI_EXIT_OK;
}

int submit_records(const agent_config_t *c, json_t *records, const char *const *names)
{
    size_t i;
    json_t *doc;
    bool bad = false;
    json_array_foreach(records, i, doc)
    {
        tr_record_t rec;
        tr_verrors_t errs;
        tr_verrors_init(&errs);
        if (tr_record_validate(doc, &rec, &errs) == 0) {
            tr_record_clear(&rec);
        } else {
            for (size_t k = 0; k < errs.n; k++) {
                char buf[64];
                cli_error("%s: %s", option_of(errs.items[k].path, names, buf, sizeof(buf)),
                          errs.items[k].message);
            }
            bad = true;
        }
        tr_verrors_free(&errs);
    }
    if (bad)
        return CLI_EXIT_USAGE;
    char err[512];
    int rc = CLI_EXIT_LOCAL;
    spool_t *s = NULL;
    node_http_t *h = NULL;
    if (agent_config_require_node(c, err, sizeof(err)) != 0 ||
        !(s = spool_open(c->spool, err, sizeof(err))) ||
        !(h = node_http_new(c, err, sizeof(err)))) {
        cli_error("%s", err);
        goto done;
    }
    if (spool_begin(s, err, sizeof(err)) != 0 ||
        spool_queue(s, records, "(command line)", 0, err, sizeof(err)) != 0 ||
        spool_commit(s, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        goto done;
    }
    progress_t p;
    progress_init(&p, true);
    int sr = send_queue(s, h, c, &p, err, sizeof(err));
    if (sr == SEND_E_UNREACHABLE) {
        cli_error("%s: the record is kept and will be sent by `trellis sync` or the running "
                  "agent",
                  err);
        rc = CLI_EXIT_UNREACHABLE;
        goto done;
    }
    if (sr != SEND_OK) {
        cli_error("%s", err);
        goto done;
    }
    /* Was one of ours refused? Its errors are in the refused list. */
    rc = CLI_EXIT_OK;
    json_array_foreach(records, i, doc)
    {
        char *errors = spool_refused_errors(s, json_string_value(json_object_get(doc, "kind")),
                                            json_string_value(json_object_get(doc, "id")));
        if (!errors)
            continue;
        json_t *list = json_loads(errors, 0, NULL);
        size_t k;
        json_t *e;
        json_array_foreach(list, k, e)
        {
            char buf[64];
            const char *path = json_string_value(json_object_get(e, "path"));
            cli_error("the node refused it: %s: %s",
                      option_of(path ? path : "$", names, buf, sizeof(buf)),
                      json_string_value(json_object_get(e, "message")));
        }
        json_decref(list);
        free(errors);
        rc = CLI_EXIT_REFUSED;
    }
done:
    node_http_free(h);
    spool_close(s);
    return rc;
}

int submit_get(const agent_config_t *c, const char *path, json_t **out)
{
    char err[512];
    *out = NULL;
    node_http_t *h = NULL;
    if (agent_config_require_node(c, err, sizeof(err)) != 0 ||
        !(h = node_http_new(c, err, sizeof(err)))) {
        cli_error("%s", err);
        return CLI_EXIT_LOCAL;
    }
    node_reply_t r;
    int rc = node_http_call(h, "GET", path, NULL, 0, c->retry_for > 30 ? 30 : c->retry_for, NULL,
                            &r, err, sizeof(err));
    node_http_free(h);
    if (rc != NODE_OK) {
        cli_error("%s", err);
        return rc == NODE_E_UNREACHABLE ? CLI_EXIT_UNREACHABLE : CLI_EXIT_LOCAL;
    }
    json_t *doc = json_loadb(r.body, r.len, 0, NULL);
    if (r.status != 200 || !doc) {
        const char *d = json_string_value(json_object_get(doc, "detail"));
        cli_error("the node answered %ld%s%s", r.status, d ? ": " : "", d ? d : "");
        json_decref(doc);
        node_reply_free(&r);
        return r.status == 404 ? CLI_EXIT_USAGE : CLI_EXIT_LOCAL;
    }
    node_reply_free(&r);
    *out = doc;
    return CLI_EXIT_OK;
}

json_t *submit_list(const char *s)
{
    json_t *arr = json_array();
    char *copy = strdup(s), *save = NULL;
    if (!copy)
        abort();
    for (char *t = strtok_r(copy, ",;", &save); t; t = strtok_r(NULL, ",;", &save)) {
        while (*t == ' ')
            t++;
        size_t n = strlen(t);
        while (n && t[n - 1] == ' ')
            t[--n] = '\0';
        if (*t)
            json_array_append_new(arr, json_string(t));
    }
    free(copy);
    return arr;
}
