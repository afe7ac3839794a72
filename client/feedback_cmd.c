/* trellis feedback add|respond|list: "you said, we did" from the command
 * line. Free text goes through the same personal-data scan as exports, and
 * text that flags is refused here, before anything is stored. */
#include "feedback_cmd.h"

#include "cli.h"
#include "submit.h"
#include "tr_anon.h"
#include "tr_pii.h"

#include <stdlib.h>
#include <string.h>

static const char *const entry_names[] = {
    "week",      "--week",    "source_role", "--role", "themes",  "--themes", "summary",
    "--summary", "easy_read", "--easy-read", "level",  "--level", NULL};
static const char *const response_names[] = {
    "entry",        "ENTRY",     "week",    "--week",    "status", "--status",
    "what_changed", "--changed", "why_not", "--why-not", NULL};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: trellis feedback add --role R --themes T[,T...] --summary TEXT\n"
            "                            --easy-read TEXT --level L [--week YYYY-Www]\n"
            "       trellis feedback respond ENTRY --status S [--changed TEXT] [--why-not TEXT]\n"
            "                            [--week YYYY-Www]\n"
            "       trellis feedback list [--status S] [--theme T] [--format table|json]\n\n"
            "add      record feedback (\"you said\"); prints its id.\n"
            "         --role service_user, peer_designer, staff, partner\n"
            "         --themes access, waiting_times, communication, safety, staff_attitude,\n"
            "           accessibility, information, environment, children, language, digital,\n"
            "           confidentiality, involvement, other\n"
            "         --level consultation, co_design, co_production\n"
            "respond  answer an entry (\"we did\"): --status heard, agreed, in_progress,\n"
            "         changed (needs --changed), cannot_change (needs --why-not)\n"
            "list     entries with their latest status (open until answered)\n\n"
            "Text is checked for personal data (names with titles, addresses, phone numbers,\n"
            "e-mail addresses, postcodes, NHS and NI numbers, dates of birth) and refused\n"
            "here if it has any: write about what was said, not who said it.\n\n"
            "exit status: 0 ok, 2 a value is wrong, 3 refused by the node, 4 node\n"
            "unreachable (kept and sent later), 5 local error.\n"
            "Settings (--config, --node, --cert ...): trellis agent --help.\n");
}

/* 0 if clean; else prints why (never the text) and returns 2. */
static int scan(const char *flag, const char *text)
{
    if (!text)
        return 0;
    unsigned pii = 0;
    tr_anon_finding_t f = tr_anon_scan_text(text, strlen(text), NULL, 0, &pii, NULL);
    if (f == TR_ANON_CLEAN)
        return 0;
    cli_error("%s contains %s%s: write it without, so that no one can be identified", flag,
              f == TR_ANON_PII ? "what looks like " : "",
              f == TR_ANON_PII ? tr_pii_name((tr_pii_kind_t)pii) : tr_anon_finding_name(f));
    return CLI_EXIT_USAGE;
}

static int add(agent_config_t *c, int n, char **a)
{
    const char *role = NULL, *themes = NULL, *summary = NULL, *easy = NULL, *level = NULL,
               *week = NULL;
    struct {
        const char *flag;
        const char **slot;
    } opts[] = {{"--role", &role},      {"--themes", &themes}, {"--summary", &summary},
                {"--easy-read", &easy}, {"--level", &level},   {"--week", &week}};
    for (int i = 0; i < n; i++) {
        size_t k;
        for (k = 0; k < 6; k++)
            if (!strcmp(a[i], opts[k].flag) && i + 1 < n) {
                *opts[k].slot = a[++i];
                break;
            }
        if (k == 6) {
            cli_error("unknown argument '%s' (see trellis feedback --help)", a[i]);
            return CLI_EXIT_USAGE;
        }
    }
    for (size_t k = 0; k < 5; k++)
        if (!*opts[k].slot) {
            cli_error("%s is missing (see trellis feedback --help)", opts[k].flag);
            return CLI_EXIT_USAGE;
        }
    if (scan("--summary", summary) || scan("--easy-read", easy))
        return CLI_EXIT_USAGE;
    char org[64], id[37], wk[9];
    int rc = submit_origin(c, org);
    if (rc)
        return rc;
    if (!week) {
        submit_this_week(wk);
        week = wk;
    }
    submit_uuid(id);
    json_t *recs = json_pack("[{s:s, s:s, s:s, s:i, s:{s:s, s:s, s:o, s:s, s:s, s:s}}]", "kind",
                             "feedback.entry", "id", id, "origin", org, "version", 1, "body",
                             "week", week, "source_role", role, "themes", submit_list(themes),
                             "summary", summary, "easy_read", easy, "level", level);
    rc = submit_records(c, recs, entry_names);
    json_decref(recs);
    if (rc == CLI_EXIT_OK || rc == CLI_EXIT_UNREACHABLE)
        printf("%s\n", id);
    return rc;
}

static int respond(agent_config_t *c, int n, char **a)
{
    if (n < 1) {
        cli_error("which entry? trellis feedback respond ENTRY --status S");
        return CLI_EXIT_USAGE;
    }
    const char *entry = a[0], *status = NULL, *changed = NULL, *why_not = NULL, *week = NULL;
    for (int i = 1; i < n; i++) {
        if (!strcmp(a[i], "--status") && i + 1 < n)
            status = a[++i];
        else if (!strcmp(a[i], "--changed") && i + 1 < n)
            changed = a[++i];
        else if (!strcmp(a[i], "--why-not") && i + 1 < n)
            why_not = a[++i];
        else if (!strcmp(a[i], "--week") && i + 1 < n)
            week = a[++i];
        else {
            cli_error("unknown argument '%s' (see trellis feedback --help)", a[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (!status) {
        cli_error("--status is missing (see trellis feedback --help)");
        return CLI_EXIT_USAGE;
    }
    if (scan("--changed", changed) || scan("--why-not", why_not))
        return CLI_EXIT_USAGE;
    char org[64], id[37], wk[9];
    int rc = submit_origin(c, org);
    if (rc)
        return rc;
    if (!week) {
        submit_this_week(wk);
        week = wk;
    }
    submit_uuid(id);
    json_t *body = json_pack("{s:s, s:s, s:s}", "entry", entry, "week", week, "status", status);
    if (changed)
        json_object_set_new(body, "what_changed", json_string(changed));
    if (why_not)
        json_object_set_new(body, "why_not", json_string(why_not));
    json_t *recs = json_pack("[{s:s, s:s, s:s, s:i, s:o}]", "kind", "feedback.response", "id", id,
                             "origin", org, "version", 1, "body", body);
    rc = submit_records(c, recs, response_names);
    json_decref(recs);
    if (rc == CLI_EXIT_OK)
        printf("%s\n", id);
    return rc;
}

static bool plain_word(const char *s)
{
    return strspn(s, "abcdefghijklmnopqrstuvwxyz_") == strlen(s);
}

static int list(agent_config_t *c, int n, char **a)
{
    const char *status = NULL, *theme = NULL, *format = "table";
    for (int i = 0; i < n; i++) {
        if (!strcmp(a[i], "--status") && i + 1 < n)
            status = a[++i];
        else if (!strcmp(a[i], "--theme") && i + 1 < n)
            theme = a[++i];
        else if (!strcmp(a[i], "--format") && i + 1 < n)
            format = a[++i];
        else {
            cli_error("unknown argument '%s' (see trellis feedback --help)", a[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if ((status && !plain_word(status)) || (theme && !plain_word(theme)) ||
        (strcmp(format, "table") && strcmp(format, "json"))) {
        cli_error("--status and --theme are code words; --format table or json");
        return CLI_EXIT_USAGE;
    }
    char path[160];
    snprintf(path, sizeof(path), "/v1/feedback?limit=500%s%s%s%s", status ? "&status=" : "",
             status ? status : "", theme ? "&theme=" : "", theme ? theme : "");
    json_t *doc;
    int rc = submit_get(c, path, &doc);
    if (rc)
        return rc;
    json_t *items = json_object_get(doc, "feedback");
    if (!strcmp(format, "json")) {
        json_dumpf(items, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        printf("%-36s %-8s %-13s %-13s %s\n", "ENTRY", "WEEK", "STATUS", "FROM", "SUMMARY");
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            json_t *e = json_object_get(it, "entry");
            json_t *b = json_object_get(e, "body");
            printf("%-36s %-8s %-13s %-13s %.60s\n", json_string_value(json_object_get(e, "id")),
                   json_string_value(json_object_get(b, "week")),
                   json_string_value(json_object_get(it, "status")),
                   json_string_value(json_object_get(b, "source_role")),
                   json_string_value(json_object_get(b, "summary")));
        }
    }
    json_decref(doc);
    return CLI_EXIT_OK;
}

int feedback_main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
    }
    agent_config_t c;
    bool is_usage;
    char err[512];
    int n = argc - 1;
    char **a = argv + 1;
    if (agent_config_load(&c, &n, a, &is_usage, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        agent_config_free(&c);
        return is_usage ? CLI_EXIT_USAGE : CLI_EXIT_LOCAL;
    }
    int rc = CLI_EXIT_USAGE;
    if (n >= 1 && !strcmp(a[0], "add"))
        rc = add(&c, n - 1, a + 1);
    else if (n >= 1 && !strcmp(a[0], "respond"))
        rc = respond(&c, n - 1, a + 1);
    else if (n >= 1 && !strcmp(a[0], "list"))
        rc = list(&c, n - 1, a + 1);
    else
        cli_error("usage: trellis feedback add|respond|list (see trellis feedback --help)");
    agent_config_free(&c);
    return rc;
}
