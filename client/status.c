/* trellis status: how a node's federation is doing, per peer, for IT leads
 * (GET /v1/fed/status), asked over libcurl like every other command
 * (node_http.c: the proxy, the timeouts, the retries). */
#include "status.h"

#include "agent_config.h"
#include "cli.h"
#include "node_http.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: trellis status [--json] [--node URL --cert CHAIN --key KEY --ca ROOT]\n\n"
                 "Show, per peer of the node: what it is doing, the cursor, the lag in records\n"
                 "and seconds, the last successful pull and the last error; and the node's\n"
                 "recovery after a restore or a failover (whether its feed went back, how many\n"
                 "of its own records its peers gave back, whether it takes writes), with each\n"
                 "time a peer's feed went back under this node's cursor. The certificate\n"
                 "must be of the node's own organisation (an agent or node certificate).\n"
                 "exit status: 0 ok, 1 the node refused (e.g. another organisation's\n"
                 "certificate), 2 usage, 4 node unreachable, 5 local error.\n\n");
    agent_config_usage(out);
}

static const char *str(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? v : "-";
}

int status_main(int argc, char **argv)
{
    bool as_json = false, is_usage;
    char err[512];
    argc--;
    argv++;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
    }
    agent_config_t c;
    if (agent_config_load(&c, &argc, argv, &is_usage, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        agent_config_free(&c);
        return is_usage ? CLI_EXIT_USAGE : CLI_EXIT_LOCAL;
    }
    int rc = CLI_EXIT_USAGE;
    node_http_t *h = NULL;
    json_t *doc = NULL;
    node_reply_t r = {0};
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            as_json = true;
        } else {
            cli_error("unknown argument '%s' (see trellis status --help)", argv[i]);
            goto done;
        }
    }
    rc = CLI_EXIT_LOCAL;
    if (agent_config_require_node(&c, err, sizeof(err)) != 0 ||
        !(h = node_http_new(&c, err, sizeof(err)))) {
        cli_error("%s", err);
        goto done;
    }
    /* A status is wanted now: retry a restarting node briefly, not for minutes. */
    int nr = node_http_call(h, "GET", "/v1/fed/status", NULL, 0,
                            c.retry_for > 10 ? 10 : c.retry_for, NULL, &r, err, sizeof(err));
    if (nr != NODE_OK) {
        cli_error("%s", err);
        rc = nr == NODE_E_UNREACHABLE ? CLI_EXIT_UNREACHABLE : CLI_EXIT_LOCAL;
        goto done;
    }
    doc = json_loadb(r.body, r.len, 0, NULL);
    if (r.status != 200 || !doc) {
        const char *detail = json_string_value(json_object_get(doc, "detail"));
        cli_error("the node answered %ld%s%s", r.status, detail ? ": " : "", detail ? detail : "");
        rc = CLI_EXIT_FAIL;
        goto done;
    }
    if (as_json) {
        fwrite(r.body, 1, r.len, stdout);
        putchar('\n');
    } else {
        json_t *peers = json_object_get(doc, "peers");
        printf("node of %s: %zu peer%s\n", str(doc, "org"), json_array_size(peers),
               json_array_size(peers) == 1 ? "" : "s");
        json_t *proto = json_object_get(doc, "protocol");
        if (json_is_object(proto))
            printf("protocol: %lld (syncs with peers of %lld to %lld)\n",
                   (long long)json_integer_value(json_object_get(proto, "version")),
                   (long long)json_integer_value(json_object_get(proto, "min")),
                   (long long)json_integer_value(json_object_get(proto, "version")));
        json_t *rec = json_object_get(doc, "recovery");
        if (rec) {
            const char *state = str(rec, "state");
            bool writes = strcmp(state, "starting") && strcmp(state, "checking") &&
                          strcmp(state, "recovering");
            printf("recovery: %s (feed %s; %lld own record%s given back by peers; %s)\n", state,
                   json_is_true(json_object_get(rec, "went_back"))
                       ? "went back: a restore or a failover"
                       : "did not go back",
                   (long long)json_integer_value(json_object_get(rec, "own_records_recovered")),
                   json_integer_value(json_object_get(rec, "own_records_recovered")) == 1 ? ""
                                                                                          : "s",
                   writes ? "taking writes" : "writes refused until recovered");
        }
        printf("%-16s %-24s %-12s %10s %8s %8s  %-20s %s\n", "PEER", "ORG", "STATE", "CURSOR",
               "LAG", "LAG S", "LAST SUCCESS", "LAST ERROR");
        size_t i;
        json_t *p;
        json_array_foreach(peers, i, p)
        {
            json_t *lag_s = json_object_get(p, "lag_seconds");
            char lag_s_buf[24] = "-";
            if (json_is_integer(lag_s))
                snprintf(lag_s_buf, sizeof(lag_s_buf), "%lld",
                         (long long)json_integer_value(lag_s));
            printf("%-16s %-24s %-12.12s %10lld %8lld %8s  %-20s %s\n", str(p, "peer"),
                   str(p, "org"), str(p, "state"),
                   (long long)json_integer_value(json_object_get(p, "cursor")),
                   (long long)json_integer_value(json_object_get(p, "lag_records")), lag_s_buf,
                   str(p, "last_success"), str(p, "last_error"));
            if (!strcmp(str(p, "state"), "incompatible"))
                printf("  %s cannot sync with this node: %s; upgrade the older of the two "
                       "(docs/operations.md, Upgrade)\n",
                       str(p, "peer"), str(p, "last_error"));
            json_t *back = json_object_get(p, "feed_went_back");
            if (json_is_object(back))
                printf("  %s's feed went back %lld time%s (last: from %lld to %lld); "
                       "resumed from there\n",
                       str(p, "peer"),
                       (long long)json_integer_value(json_object_get(back, "count")),
                       json_integer_value(json_object_get(back, "count")) == 1 ? "" : "s",
                       (long long)json_integer_value(json_object_get(back, "from")),
                       (long long)json_integer_value(json_object_get(back, "to")));
            json_int_t own = json_integer_value(json_object_get(p, "own_records_recovered"));
            if (own)
                printf("  %s gave back %lld of this node's own records\n", str(p, "peer"),
                       (long long)own);
        }
    }
    rc = CLI_EXIT_OK;
done:
    json_decref(doc);
    node_reply_free(&r);
    node_http_free(h);
    agent_config_free(&c);
    return rc;
}
