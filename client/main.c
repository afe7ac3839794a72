/* trellis, the client agent: argument dispatch only. Each command group
 * (agent, push, quarantine, pki, status) is its own module. */
#include "agent_cmd.h"
#include "cli.h"
#include "directory.h"
#include "feedback_cmd.h"
#include "referral_cmd.h"
#include "held_cmd.h"
#include "push.h"
#include "pki.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

#ifndef TRELLIS_VERSION
#define TRELLIS_VERSION "unknown"
#endif

/* A group gets argv from its own name on and returns the exit status. */
static const struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} groups[] = {
    {"agent", "set the agent up (init), see how it is doing (status), run it (run)", agent_main},
    {"push", "read exports with a mapping, anonymise, spool and send them to the node", push_main},
    {"sync", "send what the spool holds (after an interruption or a node outage)", sync_main},
    {"quarantine", "rows held here because their free text carries personal data", quarantine_main},
    {"refused", "records the node refused, with its errors", refused_main},
    {"refer", "make a referral to another service; prints its id", refer_main},
    {"referral", "record what happened to a referral (update ID --status S)", referral_main},
    {"referrals", "referrals sent (--out) or received (--in), with status and days waited",
     referrals_main},
    {"feedback", "\"you said, we did\": add feedback, respond to it, list it", feedback_main},
    {"outbox", "write new inbound referrals to the outbox folder as CSV, once each", outbox_main},
    {"directory", "the shared directory out to a file (pull), kept current (watch)",
     directory_main},
    {"pki", "make and manage the consortium's certificates and CRLs", pki_main},
    {"status", "a node's federation: per peer cursor, lag, last success and error", status_main},
};

#define N_GROUPS (sizeof(groups) / sizeof(groups[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: trellis COMMAND [ARGS]\n\n"
                 "The Trellis client agent: pushes a charity's exports to its node,\n"
                 "anonymised at source, and holds the admin commands of a consortium.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < N_GROUPS; i++)
        fprintf(out, "  %-11s %s\n", groups[i].name, groups[i].summary);
    fprintf(out, "\noptions:\n"
                 "  -h, --help  this help; `trellis COMMAND --help` for a command\n"
                 "  --version   print the version\n\n"
                 "The agent's settings come from flags, then TRELLIS_* environment variables,\n"
                 "then agent.conf (--config, TRELLIS_CONFIG, default /etc/trellis/agent.conf);\n"
                 "see `trellis agent --help` and docs/agent.md.\n\n"
                 "exit status:\n"
                 "  0  ok\n"
                 "  1  an admin command (pki, status) failed\n"
                 "  2  usage: the command line is wrong\n"
                 "  3  some records were refused by the node or quarantined here\n"
                 "  4  the node could not be reached (what is spooled stays spooled)\n"
                 "  5  local error: a file, the mapping, the spool, the configuration\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        cli_error("missing command (see trellis --help)");
        return CLI_EXIT_USAGE;
    }
    const char *arg = argv[1];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 || strcmp(arg, "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(arg, "--version") == 0) {
        printf("trellis %s\n", TRELLIS_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < N_GROUPS; i++)
        if (strcmp(arg, groups[i].name) == 0)
            return groups[i].run(argc - 1, argv + 1);
    if (arg[0] == '-')
        cli_error("unknown option '%s' (see trellis --help)", arg);
    else
        cli_error("unknown command '%s' (see trellis --help)", arg);
    return CLI_EXIT_USAGE;
}
