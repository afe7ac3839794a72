/* Listing, showing and dropping held records (held_cmd.h). */
#include "held_cmd.h"

#include "agent_config.h"
#include "cli.h"
#include "spool.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out, const char *table)
{
    bool q = strcmp(table, "quarantine") == 0;
    fprintf(out,
            "usage: trellis %s list [SETTINGS]\n"
            "       trellis %s show ID [SETTINGS]\n"
            "       trellis %s drop ID|--all [SETTINGS]\n\n"
            "%s"
            "list  one line each: id, file, line, %s, why, when\n"
            "show  the held record%s as JSON: %s\n"
            "drop  forget one (or all); nothing is sent\n\n",
            table, table, table,
            q ? "Rows whose free text the personal-data scan flagged: kept here, never sent.\n"
                "Fix the text in the CMS and export again (the fixed row replaces the held\n"
                "one), or drop it.\n\n"
              : "Records the node refused, with its errors. Fix the mapping or the export and\n"
                "push again (a record pushed again leaves this list), or drop it.\n\n",
            q ? "column" : "kind", q ? "s" : "",
            q ? "it shows the flagged text, so only on screen, for the person fixing it"
              : "the record and, in list, the node's errors");
    agent_config_usage(out);
}

static void on_item(void *ctx, int64_t id, const char *file, long line, const char *what,
                    const char *why, int64_t at)
{
    char when[32] = "";
    time_t t = (time_t)at;
    struct tm tm;
    if (localtime_r(&t, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
    printf("%-6lld %s line %ld  %s  %s  %s\n", (long long)id, file ? file : "-", line,
           what ? what : "-", why ? why : "-", when);
    (*(int *)ctx)++;
}

static int held_main(const char *table, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout, table);
            return CLI_EXIT_OK;
        }
    }
    agent_config_t c;
    bool is_usage;
    char err[512];
    int n = argc - 1;
    char **args = argv + 1;
    if (agent_config_load(&c, &n, args, &is_usage, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        agent_config_free(&c);
        return is_usage ? CLI_EXIT_USAGE : CLI_EXIT_LOCAL;
    }
    int rc = CLI_EXIT_USAGE;
    spool_t *s = NULL;
    const char *sub = n > 0 ? args[0] : NULL;
    long id = -1;
    bool all = n == 2 && strcmp(args[1], "--all") == 0;
    bool needs_id = sub && (!strcmp(sub, "show") || !strcmp(sub, "drop"));
    if (!sub || (strcmp(sub, "list") && !needs_id) || (!needs_id && n != 1) ||
        (needs_id && n != 2) ||
        (needs_id && !all && cli_parse_int(args[1], 0, 1L << 53, &id) != 0) ||
        (all && strcmp(sub, "drop") != 0)) {
        cli_error("usage: trellis %s list | show ID | drop ID|--all (see --help)", table);
        goto done;
    }
    rc = CLI_EXIT_LOCAL;
    if (!(s = spool_open(c.spool, err, sizeof(err)))) {
        cli_error("%s", err);
        goto done;
    }
    if (!strcmp(sub, "list")) {
        int count = 0;
        if (spool_list(s, table, on_item, &count, err, sizeof(err)) != 0) {
            cli_error("%s", err);
            goto done;
        }
        if (count == 0)
            printf("nothing %s\n", strcmp(table, "quarantine") == 0 ? "quarantined" : "refused");
        rc = CLI_EXIT_OK;
    } else if (!strcmp(sub, "show")) {
        char *doc = spool_show(s, table, id);
        if (!doc) {
            cli_error("no %s entry %ld", table, id);
            goto done;
        }
        json_t *j = json_loads(doc, 0, NULL);
        json_dumpf(j, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(j);
        free(doc);
        rc = CLI_EXIT_OK;
    } else {
        int64_t k = spool_drop(s, table, all ? -1 : id, err, sizeof(err));
        if (k < 0) {
            cli_error("%s", err);
            goto done;
        }
        if (k == 0 && !all) {
            cli_error("no %s entry %ld", table, id);
            goto done;
        }
        printf("dropped %lld\n", (long long)k);
        rc = CLI_EXIT_OK;
    }
done:
    spool_close(s);
    agent_config_free(&c);
    return rc;
}

int quarantine_main(int argc, char **argv)
{
    return held_main("quarantine", argc, argv);
}

int refused_main(int argc, char **argv)
{
    return held_main("refused", argc, argv);
}
