/* trellis agent init|status: setting the agent up, and how it is doing. */
#include "agent_cmd.h"

#include "agent_config.h"
#include "agent_identity.h"
#include "agent_run.h"
#include "agent_secret.h"
#include "cli.h"
#include "node_http.h"
#include "spool.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: trellis agent init [--dir DIR] [--force] [SETTINGS]\n"
            "       trellis agent status [--json] [SETTINGS]\n"
            "       trellis agent run [--once] [SETTINGS]\n\n"
            "init    write DIR/agent.conf (default DIR: /etc/trellis), commented, with the\n"
            "        settings given as flags; create the local secret ([agent] secret, 32\n"
            "        random bytes, mode 0600, never replaced) and the spool, inbox and outbox\n"
            "        folders. --force replaces an existing agent.conf (never the secret).\n"
            "status  the spool (queued, refused, quarantined), the last push, the node's\n"
            "        health and the identity the node sees for this agent.\n"
            "run     the long-running agent (systemd: deploy/trellis-agent.service): push\n"
            "        each complete export that appears in the inbox, moving it to done/ or\n"
            "        failed/ (with a .why file), and send what is spooled. A file is taken\n"
            "        once its size and time stay the same for [agent] settle seconds; names\n"
            "        starting with '.' or ending in .tmp, .part or ~ are left alone.\n"
            "        --once: one look at the inbox, send, exit.\n\n");
    agent_config_usage(out);
    fprintf(out, "\nexit status: 0 ok, 2 usage, 3 some records refused or quarantined,\n"
                 "4 node unreachable, 5 local error.\n");
}

static int make_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0 || errno == EEXIST)
        return 0;
    cli_error("cannot create %s: %s", path, strerror(errno));
    return -1;
}

static int cmd_init(int argc, char **argv)
{
    const char *dir = "/etc/trellis";
    bool force = false;
    agent_config_t c;
    bool is_usage;
    char err[512];
    if (agent_config_load_no_file(&c, &argc, argv, &is_usage, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        agent_config_free(&c);
        return is_usage ? CLI_EXIT_USAGE : CLI_EXIT_LOCAL;
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--force") == 0) {
            force = true;
        } else {
            cli_error("unknown argument '%s' (see trellis agent --help)", argv[i]);
            agent_config_free(&c);
            return CLI_EXIT_USAGE;
        }
    }
    agent_config_absolutize(&c);
    int rc = CLI_EXIT_LOCAL;
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof(path), "%s/agent.conf", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (make_dir(dir, 0755) != 0)
        goto done;
    if (!force && access(path, F_OK) == 0) {
        cli_error("%s exists already (--force replaces it)", path);
        goto done;
    }
    if (make_dir(c.spool, 0700) != 0 || (c.inbox && make_dir(c.inbox, 0750) != 0) ||
        (c.outbox && make_dir(c.outbox, 0750) != 0))
        goto done;
    if (access(c.secret, F_OK) != 0) {
        if (agent_secret_create(c.secret, err, sizeof(err)) != 0) {
            cli_error("%s", err);
            goto done;
        }
        printf("created the local secret %s: back it up (see docs/agent.md)\n", c.secret);
    } else {
        uint8_t s[AGENT_SECRET_LEN];
        if (agent_secret_load(c.secret, s, err, sizeof(err)) != 0) {
            cli_error("%s", err);
            goto done;
        }
        printf("kept the existing local secret %s\n", c.secret);
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        cli_error("cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    agent_config_write(f, &c);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        cli_error("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        goto done;
    }
    printf("wrote %s\n", path);
    if (!c.node_url || !c.cert || !c.key || !c.ca)
        printf("next: set [node] url, ca, cert and key in it, then `trellis agent status`\n");
    rc = CLI_EXIT_OK;
done:
    agent_config_free(&c);
    return rc;
}

static json_t *node_json(node_http_t *h, const char *path, long *status, char *err, size_t err_len)
{
    node_reply_t r;
    *status = 0;
    if (node_http_request(h, "GET", path, NULL, 0, &r, err, err_len) != NODE_OK)
        return NULL;
    *status = r.status;
    json_t *doc = json_loadb(r.body, r.len, 0, NULL);
    node_reply_free(&r);
    return doc;
}

static int cmd_status(int argc, char **argv)
{
    agent_config_t c;
    bool is_usage, as_json = false;
    char err[512];
    if (agent_config_load(&c, &argc, argv, &is_usage, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        agent_config_free(&c);
        return is_usage ? CLI_EXIT_USAGE : CLI_EXIT_LOCAL;
    }
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else {
            cli_error("unknown argument '%s' (see trellis agent --help)", argv[i]);
            agent_config_free(&c);
            return CLI_EXIT_USAGE;
        }
    }
    int rc = CLI_EXIT_OK;
    json_t *out = json_object();
    json_object_set_new(out, "config", c.config_path ? json_string(c.config_path) : json_null());
    tr_identity_t me;
    if (agent_identity(&c, &me, err, sizeof(err)) == 0) {
        json_object_set_new(out, "certificate",
                            json_pack("{s:s, s:s}", "org", me.org, "name", me.name));
    } else {
        json_object_set_new(out, "certificate", json_pack("{s:s}", "error", err));
        rc = CLI_EXIT_LOCAL;
    }
    spool_t *sp = spool_open(c.spool, err, sizeof(err));
    spool_counts_t counts;
    if (sp && spool_counts(sp, &counts, err, sizeof(err)) == 0) {
        json_t *spj = json_pack("{s:s, s:I, s:I, s:I}", "folder", c.spool, "queued",
                                (json_int_t)counts.queued, "refused", (json_int_t)counts.refused,
                                "quarantined", (json_int_t)counts.quarantined);
        static const char *const keys[] = {"last_push_at", "last_push_result", "last_success_at"};
        for (size_t i = 0; i < 3; i++) {
            char *v = spool_state_get(sp, keys[i]);
            if (v && i != 1)
                json_object_set_new(spj, keys[i], json_integer(strtoll(v, NULL, 10)));
            else if (v)
                json_object_set_new(spj, keys[i], json_string(v));
            free(v);
        }
        json_object_set_new(out, "spool", spj);
    } else {
        json_object_set_new(out, "spool", json_pack("{s:s}", "error", err));
        rc = CLI_EXIT_LOCAL;
    }
    spool_close(sp);
    json_t *node = json_object();
    json_object_set_new(out, "node", node);
    if (agent_config_require_node(&c, err, sizeof(err)) != 0) {
        json_object_set_new(node, "error", json_string(err));
        rc = CLI_EXIT_LOCAL;
    } else {
        json_object_set_new(node, "url", json_string(c.node_url));
        node_http_t *h = node_http_new(&c, err, sizeof(err));
        long st = 0;
        json_t *ready = h ? node_json(h, "/readyz", &st, err, sizeof(err)) : NULL;
        if (st == 0) {
            json_object_set_new(node, "health", json_string("unreachable"));
            json_object_set_new(node, "error", json_string(err));
            rc = rc ? rc : CLI_EXIT_UNREACHABLE;
        } else {
            json_object_set_new(node, "health", json_string(st == 200 ? "ready" : "not ready"));
            json_t *who = node_json(h, "/v1/whoami", &st, err, sizeof(err));
            if (who && st == 200)
                json_object_set(node, "sees_us_as", who);
            json_decref(who);
        }
        json_decref(ready);
        node_http_free(h);
    }
    if (as_json) {
        json_dumpf(out, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        printf("config:      %s\n", c.config_path ? c.config_path : "(none: flags and TRELLIS_*)");
        json_t *spj = json_object_get(out, "spool");
        if (json_object_get(spj, "error")) {
            printf("spool:       %s\n", json_string_value(json_object_get(spj, "error")));
        } else {
            printf("spool:       %s: %lld queued, %lld refused, %lld quarantined\n", c.spool,
                   (long long)json_integer_value(json_object_get(spj, "queued")),
                   (long long)json_integer_value(json_object_get(spj, "refused")),
                   (long long)json_integer_value(json_object_get(spj, "quarantined")));
            json_t *at = json_object_get(spj, "last_push_at");
            if (at) {
                char when[32] = "";
                time_t t = (time_t)json_integer_value(at);
                struct tm tm;
                if (localtime_r(&t, &tm))
                    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
                printf("last push:   %s: %s\n", when,
                       json_string_value(json_object_get(spj, "last_push_result")));
            } else {
                printf("last push:   never\n");
            }
        }
        json_t *cert = json_object_get(out, "certificate");
        if (json_object_get(cert, "error"))
            printf("certificate: %s\n", json_string_value(json_object_get(cert, "error")));
        else
            printf("certificate: agent %s of %s\n", me.name, me.org);
        if (json_object_get(node, "url"))
            printf("node:        %s: %s\n", c.node_url,
                   json_string_value(json_object_get(node, "health")));
        if (json_object_get(node, "error"))
            printf("node error:  %s\n", json_string_value(json_object_get(node, "error")));
        json_t *who = json_object_get(node, "sees_us_as");
        if (who)
            printf("node sees:   %s %s of %s\n", json_string_value(json_object_get(who, "role")),
                   json_string_value(json_object_get(who, "name")),
                   json_string_value(json_object_get(who, "org")));
    }
    json_decref(out);
    agent_config_free(&c);
    return rc;
}

int agent_main(int argc, char **argv)
{
    if (argc < 2) {
        cli_error("missing subcommand: init, status or run (see trellis agent --help)");
        return CLI_EXIT_USAGE;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
    }
    const char *sub = argv[1];
    if (strcmp(sub, "init") == 0)
        return cmd_init(argc - 2, argv + 2);
    if (strcmp(sub, "status") == 0)
        return cmd_status(argc - 2, argv + 2);
    if (strcmp(sub, "run") == 0)
        return agent_run_main(argc - 2, argv + 2);
    cli_error("unknown subcommand '%s' (see trellis agent --help)", sub);
    return CLI_EXIT_USAGE;
}
