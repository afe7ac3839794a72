/* `trellis pki`: the command line of the PKI commands. One table of commands
 * drives dispatch, argument checks and --help; the work is in pki_cmd.c. */
#include "pki.h"
#include "cli.h"
#include "pki_internal.h"
#include "tr_identity.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_NAME = 1 << 0,
    OPT_HOST = 1 << 1,
    OPT_DAYS = 1 << 2,
    OPT_BACKDATE = 1 << 3,
    OPT_ROLLOVER = 1 << 4,
    OPT_KEEP_KEY = 1 << 5,
};

#define DAYS_MAX 3650 /* ten years: longer than any leaf should live */

typedef struct {
    const char *name;
    const char *usage;   /* what follows the command name */
    const char *summary; /* one line in `trellis pki --help` */
    const char *help;    /* what it does and the files it writes */
    const char *pos[2];  /* positional arguments; ORG and NAME must pass tr_name_valid */
    int n_pos;
    unsigned opts;
    int (*run)(const pki_args_t *a, pki_err_t *err);
} command_t;

static const command_t commands[] = {
    {"init-consortium",
     "[--name NAME]",
     "create the consortium root CA",
     "Create the consortium root CA (O=consortium, OU=root, 10 years) in an empty PKI folder.\n"
     "Refuses if the folder already holds a consortium.\n"
     "\nwrites:\n"
     "  DIR/root/ca.key       the root's private key, mode 0600\n"
     "  DIR/root/ca.crt       the root certificate\n"
     "  DIR/root/crl.pem      the root's CRL (empty), and DIR/root/revoked.json\n"
     "  DIR/ca.crt            copy of the root: the trust anchor every node configures\n"
     "  DIR/crl.pem           every CA's CRL in one file: every node configures it\n",
     {NULL, NULL},
     0,
     OPT_NAME,
     pki_cmd_init_consortium},
    {"add-org",
     "ORG [--backdate DAYS]",
     "create organisation ORG's CA here (one-folder shortcut)",
     "Create member organisation ORG's intermediate CA (O=ORG, OU=ca, CN=ORG CA, 5 years),\n"
     "signed by the consortium root. ORG is 1-63 of a-z, 0-9 and '-', not starting with '-'.\n"
     "The one-folder shortcut (demos, tests): the organisation's key is made here, in the\n"
     "coordinator's folder. A real member uses request-org on its own machine instead.\n"
     "\nwrites:\n"
     "  DIR/orgs/ORG/ca.key   the organisation CA's private key, mode 0600\n"
     "  DIR/orgs/ORG/ca.crt   the organisation CA certificate\n"
     "  DIR/orgs/ORG/crl.pem  its CRL (empty), and DIR/orgs/ORG/revoked.json\n"
     "  DIR/crl.pem           rewritten to include the new CRL\n",
     {"ORG", NULL},
     1,
     OPT_BACKDATE,
     pki_cmd_add_org},
    {"issue-node",
     "ORG NAME [--host H]... [--days N] [--backdate DAYS]",
     "issue node NAME's certificate, signed by ORG's CA",
     "Issue a node certificate (O=ORG, OU=node, CN=NAME) signed by organisation ORG's CA,\n"
     "for TLS server and client authentication. Its subjectAltName holds DNS:NAME and\n"
     "every --host: an IP address if it parses as one, else a DNS name. Never overwrites.\n"
     "\nwrites:\n"
     "  DIR/orgs/ORG/nodes/NAME.key        private key, mode 0600\n"
     "  DIR/orgs/ORG/nodes/NAME.crt        certificate\n"
     "  DIR/orgs/ORG/nodes/NAME.chain.crt  certificate + organisation CA: what the node presents\n",
     {"ORG", "NAME"},
     2,
     OPT_HOST | OPT_DAYS | OPT_BACKDATE,
     pki_cmd_issue_node},
    {"issue-agent",
     "ORG NAME [--days N] [--backdate DAYS]",
     "issue agent NAME's certificate, signed by ORG's CA",
     "Issue an agent certificate (O=ORG, OU=agent, CN=NAME) signed by organisation ORG's CA,\n"
     "for TLS client authentication only. Never overwrites.\n"
     "\nwrites:\n"
     "  DIR/orgs/ORG/agents/NAME.key        private key, mode 0600\n"
     "  DIR/orgs/ORG/agents/NAME.crt        certificate\n"
     "  DIR/orgs/ORG/agents/NAME.chain.crt  certificate + organisation CA: what the agent "
     "presents\n",
     {"ORG", "NAME"},
     2,
     OPT_DAYS | OPT_BACKDATE,
     pki_cmd_issue_agent},
    {"renew-node",
     "ORG NAME [--host H]... [--days N] [--keep-key]",
     "renew node NAME's certificate (new key, same name)",
     "Renew node NAME's certificate: a new key and certificate (O=ORG, OU=node, CN=NAME)\n"
     "signed by ORG's current CA, with the same names as before unless --host is given.\n"
     "The new files take the old ones' paths, so the node's configuration stays as it is:\n"
     "install them and reload the node (SIGHUP). With --keep-key the certificate is for\n"
     "the same key: a node whose key systemd hands over at start (LoadCredential=, the\n"
     "packaged service) then takes the new certificate with a reload, where a new key\n"
     "needs a restart. The old certificate is kept, not revoked:\n"
     "records it signed stay verifiable and it works until it expires.\n"
     "\nwrites:\n"
     "  DIR/orgs/ORG/nodes/NAME.{key,crt,chain.crt}         the new key and certificate\n"
     "  DIR/orgs/ORG/nodes/replaced/SERIAL/NAME.*           the old ones, moved aside\n",
     {"ORG", "NAME"},
     2,
     OPT_HOST | OPT_DAYS | OPT_BACKDATE | OPT_KEEP_KEY,
     pki_cmd_renew_node},
    {"renew-agent",
     "ORG NAME [--days N]",
     "renew agent NAME's certificate (new key, same name)",
     "Renew agent NAME's certificate: a new key and certificate (O=ORG, OU=agent, CN=NAME)\n"
     "signed by ORG's current CA, at the same paths; install them on the agent's machine.\n"
     "The old certificate is kept, not revoked, and works until it expires.\n"
     "\nwrites:\n"
     "  DIR/orgs/ORG/agents/NAME.{key,crt,chain.crt}        the new key and certificate\n"
     "  DIR/orgs/ORG/agents/replaced/SERIAL/NAME.*          the old ones, moved aside\n",
     {"ORG", "NAME"},
     2,
     OPT_DAYS | OPT_BACKDATE,
     pki_cmd_renew_agent},
    {"request-org",
     "ORG [--rollover]",
     "member: make ORG's CA key and a request for the coordinator",
     "On the member organisation's own machine: make organisation ORG's CA key and a\n"
     "certificate request for it, with the new CA's first CRL. Send the request to the\n"
     "consortium's coordinator (sign-org); the key never leaves this folder. Then import\n"
     "the bundle that comes back (import-org). --rollover: a new CA key for an\n"
     "organisation that has one here, to replace it (the coordinator signs with --rollover);\n"
     "the request then also carries the current CA's CRL, re-signed by the current CA key,\n"
     "which vouches for it.\n"
     "\nwrites:\n"
     "  DIR/orgs/ORG/ca.key        the CA's private key, mode 0600 (--rollover: in ORG/next/)\n"
     "  DIR/orgs/ORG/crl.pem       its first CRL (empty), and revoked.json\n"
     "  DIR/orgs/ORG/request.pem   what to send: the request and that CRL\n",
     {"ORG", NULL},
     1,
     OPT_ROLLOVER,
     pki_cmd_request_org},
    {"sign-org",
     "REQUEST [--rollover] [--backdate DAYS]",
     "coordinator: sign a member's request with the root",
     "In the coordinator's folder: check a request made by `request-org` (its signature, the\n"
     "subject O=ORG, OU=ca, CN=ORG CA, an ECDSA P-256 key, its CRL signed by that key) and\n"
     "sign it with the root. Refuses an organisation that exists unless --rollover, and a\n"
     "rollover request its current CA key did not vouch for (unless the root revoked that CA:\n"
     "the way to replace a lost or stolen key). On a rollover the\n"
     "old CA moves to DIR/orgs/ORG/retired/SERIAL/ and its CRL stays in the bundle, so what it\n"
     "issued keeps working and records signed under it stay verifiable.\n"
     "\nwrites:\n"
     "  DIR/orgs/ORG/ca.crt       the organisation CA certificate (no key: it stays with ORG)\n"
     "  DIR/orgs/ORG/crl.pem      its CRL, from the request\n"
     "  DIR/crl.pem               every CA's CRL: copy it to every node and reload them\n"
     "  DIR/orgs/ORG/bundle.pem   what to send back: the certificate, the root, DIR/crl.pem\n",
     {"REQUEST", NULL},
     1,
     OPT_ROLLOVER | OPT_BACKDATE,
     pki_cmd_sign_org},
    {"import-org",
     "BUNDLE",
     "member: import the coordinator's bundle (or its crl.pem)",
     "In the member's folder: import the bundle sign-org made for a request of this folder\n"
     "(checks it answers that request's key and that the root signed it; after a rollover\n"
     "the old CA moves to DIR/orgs/ORG/retired/SERIAL/ and keeps its key to re-sign its CRL).\n"
     "BUNDLE may also be the coordinator's later DIR/crl.pem alone: the consortium's CRLs are\n"
     "replaced by it, this folder's own CRLs kept.\n"
     "\nwrites:\n"
     "  DIR/ca.crt                the consortium root: every node's [tls] ca\n"
     "  DIR/orgs/ORG/ca.crt       the organisation CA certificate\n"
     "  DIR/consortium-crl.pem    the consortium's CRLs as imported\n"
     "  DIR/crl.pem               those with this folder's own CRLs: every node's [tls] crl\n",
     {"BUNDLE", NULL},
     1,
     0,
     pki_cmd_import_org},
    {"add-crl",
     "ORG CRLFILE",
     "coordinator: take a member's new CRL into the bundle",
     "In the coordinator's folder: take organisation ORG's CRL (after it revoked something,\n"
     "or re-signed it with refresh-crls) into the consortium's bundle. It must be signed by\n"
     "ORG's CA (or one it retired), not expired, and not older than the one held.\n"
     "\nwrites:\n"
     "  DIR/orgs/ORG/crl.pem (or its retired CA's)  the CRL\n"
     "  DIR/crl.pem               every CA's CRL: copy it to every node and reload them\n",
     {"ORG", "CRLFILE"},
     2,
     0,
     pki_cmd_add_crl},
    {"revoke",
     "CERTFILE",
     "revoke a certificate and re-sign its CA's CRL",
     "Revoke the certificate in CERTFILE (a leaf, a chain file, or an organisation CA). The\n"
     "issuing CA is found in DIR by name and signature; revoking twice changes nothing.\n"
     "\nwrites:\n"
     "  CA/revoked.json       the record of revoked serials (CA: DIR/root or DIR/orgs/ORG)\n"
     "  CA/crl.pem            the CA's CRL, re-signed with the next CRL number\n"
     "  DIR/crl.pem           the bundle: copy it to every node and reload them\n",
     {"CERTFILE", NULL},
     1,
     0,
     pki_cmd_revoke},
    {"refresh-crls",
     "",
     "re-sign every CRL (they expire after 30 days)",
     "Re-sign every CA's CRL with a fresh 30-day validity and the next CRL number. A node\n"
     "refuses every connection once a CRL in its bundle has expired: run this well within 30\n"
     "days (a monthly timer) and copy DIR/crl.pem to every node.\n"
     "\nwrites:\n"
     "  DIR/root/crl.pem, DIR/orgs/*/crl.pem, their revoked.json, and DIR/crl.pem\n",
     {NULL, NULL},
     0,
     0,
     pki_cmd_refresh_crls},
    {"list",
     "",
     "show organisations, certificates, expiry and revocation",
     "Show the root, each organisation CA and every node and agent certificate with its\n"
     "serial, expiry and status (valid, expired, revoked), and each CRL's next update.\n"
     "Writes nothing.\n",
     {NULL, NULL},
     0,
     0,
     pki_cmd_list},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct {
    unsigned bit;
    const char *text;
} option_help[] = {
    {OPT_NAME,
     "  --name NAME      the root's display name (CN), default \"" PKI_ROOT_CN_DEFAULT "\"\n"},
    {OPT_HOST, "  --host H         another name the node is reached by (repeatable, up to 32)\n"},
    {OPT_DAYS, "  --days N         validity in days (default 397, at most 3650)\n"},
    {OPT_BACKDATE, "  --backdate DAYS  start the validity DAYS days ago (e.g. --backdate 10 "
                   "--days 1 is expired)\n"},
    {OPT_ROLLOVER, "  --rollover       a new CA for an organisation that has one (see above)\n"},
    {OPT_KEEP_KEY, "  --keep-key       a new certificate for the key the node has (see above)\n"},
};

static const char dir_help[] =
    "  --dir DIR        the PKI folder (default $TRELLIS_PKI_DIR, else ./pki)\n"
    "  --passphrase-file FILE\n"
    "                   encrypt the CA keys this command writes (AES-256) with the passphrase\n"
    "                   in FILE, and read encrypted CA keys with it (default\n"
    "                   $TRELLIS_PKI_PASSPHRASE_FILE; without either, an encrypted key asks\n"
    "                   on the terminal). Node and agent keys are never encrypted: their\n"
    "                   services start unattended. Keep the root's folder offline.\n"
    "  -h, --help       this help\n";

static const char profile_line[] =
    "profile: ECDSA P-256 + SHA-256, X.509 v3: root -> O=ORG,OU=ca -> O=ORG,OU=node|agent,CN=NAME\n"
    "(docs/certificate-profile.md)\n";

static void pki_help(FILE *out)
{
    fprintf(out, "usage: trellis pki [--dir DIR] COMMAND [ARGS]\n\n"
                 "Make and manage the consortium's certificates: a root CA, one CA per member\n"
                 "organisation, node and agent certificates, and the CRLs every node checks.\n"
                 "A member joins without handing over keys: request-org on its machine,\n"
                 "sign-org on the coordinator's, import-org back on its own\n"
                 "(docs/operations.md, \"Joining a consortium\").\n\n"
                 "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\noptions:\n%s\n`trellis pki COMMAND --help` for one command.\n%s", dir_help,
            profile_line);
}

static void command_help(const command_t *cmd, FILE *out)
{
    fprintf(out, "usage: trellis pki %s%s%s [--dir DIR]\n\n%s\noptions:\n", cmd->name,
            cmd->usage[0] ? " " : "", cmd->usage, cmd->help);
    for (size_t i = 0; i < sizeof(option_help) / sizeof(option_help[0]); i++)
        if (cmd->opts & option_help[i].bit)
            fputs(option_help[i].text, out);
    fprintf(out, "%s\n%s", dir_help, profile_line);
}

static bool is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* A display name: no control characters and at most 64 characters, the
 * upper bound X.509 sets for a CN (counted in UTF-8 characters, not bytes). */
static bool display_name_valid(const char *s)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        if ((*p & 0xc0) != 0x80)
            chars++;
    }
    return chars > 0 && chars <= 64;
}

/* Parse one command's arguments into a; 0, or an exit status to return. */
static int parse_args(const command_t *cmd, int argc, char **argv, pki_args_t *a)
{
    static const struct option longopts[] = {
        {"dir", required_argument, NULL, 'd'},  {"passphrase-file", required_argument, NULL, 'P'},
        {"name", required_argument, NULL, 'n'}, {"host", required_argument, NULL, 'H'},
        {"days", required_argument, NULL, 'D'}, {"backdate", required_argument, NULL, 'b'},
        {"rollover", no_argument, NULL, 'r'},   {"keep-key", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    long v;
    int c, idx = 0;

    optind = 0; /* glibc: full re-initialisation */
    opterr = 0; /* we print our own one-line errors */
    while ((c = getopt_long(argc, argv, ":h", longopts, &idx)) != -1) {
        unsigned need = c == 'n'   ? OPT_NAME
                        : c == 'H' ? OPT_HOST
                        : c == 'D' ? OPT_DAYS
                        : c == 'b' ? OPT_BACKDATE
                        : c == 'r' ? OPT_ROLLOVER
                        : c == 'k' ? OPT_KEEP_KEY
                                   : 0;
        if (need && !(cmd->opts & need)) {
            cli_error("pki %s: --%s does not apply here (see trellis pki %s --help)", cmd->name,
                      longopts[idx].name, cmd->name);
            return CLI_EXIT_USAGE;
        }
        switch (c) {
        case 'd':
            a->dir = optarg;
            break;
        case 'P':
            pki_set_passphrase_file(optarg);
            break;
        case 'n':
            if (!display_name_valid(optarg)) {
                cli_error("pki %s: --name must be 1 to 64 characters without control characters",
                          cmd->name);
                return CLI_EXIT_USAGE;
            }
            a->display_name = optarg;
            break;
        case 'H':
            if (a->n_hosts == PKI_HOSTS_MAX) {
                cli_error("pki %s: at most %d --host options", cmd->name, PKI_HOSTS_MAX);
                return CLI_EXIT_USAGE;
            }
            if (!pki_host_valid(optarg)) {
                cli_error("pki %s: --host '%s' is neither an IP address nor a DNS name", cmd->name,
                          optarg);
                return CLI_EXIT_USAGE;
            }
            a->hosts[a->n_hosts++] = optarg;
            break;
        case 'D':
            if (cli_parse_int(optarg, 1, DAYS_MAX, &v) != 0) {
                cli_error("pki %s: --days must be a whole number from 1 to %d", cmd->name,
                          DAYS_MAX);
                return CLI_EXIT_USAGE;
            }
            a->days = (int)v;
            break;
        case 'r':
            a->rollover = true;
            break;
        case 'k':
            a->keep_key = true;
            break;
        case 'b':
            if (cli_parse_int(optarg, 0, DAYS_MAX, &v) != 0) {
                cli_error("pki %s: --backdate must be a whole number from 0 to %d", cmd->name,
                          DAYS_MAX);
                return CLI_EXIT_USAGE;
            }
            a->backdate = (int)v;
            break;
        case ':':
            cli_error("pki %s: %s needs a value", cmd->name, argv[optind - 1]);
            return CLI_EXIT_USAGE;
        default:
            if (optopt)
                cli_error("pki %s: unknown option '-%c' (see trellis pki %s --help)", cmd->name,
                          optopt, cmd->name);
            else
                cli_error("pki %s: unknown option '%s' (see trellis pki %s --help)", cmd->name,
                          argv[optind - 1], cmd->name);
            return CLI_EXIT_USAGE;
        }
    }
    for (; optind < argc; optind++) {
        if (a->n_pos == cmd->n_pos) {
            cli_error("pki %s: unexpected argument '%s' (usage: trellis pki %s%s%s)", cmd->name,
                      argv[optind], cmd->name, cmd->usage[0] ? " " : "", cmd->usage);
            return CLI_EXIT_USAGE;
        }
        a->pos[a->n_pos++] = argv[optind];
    }
    if (a->n_pos < cmd->n_pos) {
        cli_error("pki %s: missing %s (usage: trellis pki %s%s%s)", cmd->name, cmd->pos[a->n_pos],
                  cmd->name, cmd->usage[0] ? " " : "", cmd->usage);
        return CLI_EXIT_USAGE;
    }
    for (int i = 0; i < cmd->n_pos; i++) {
        bool is_name = strcmp(cmd->pos[i], "ORG") == 0 || strcmp(cmd->pos[i], "NAME") == 0;
        if (is_name && !tr_name_valid(a->pos[i])) {
            cli_error("pki %s: %s '%s' is not a valid name: use 1-%d of a-z, 0-9 and '-', not "
                      "starting with '-'",
                      cmd->name, cmd->pos[i], a->pos[i], TR_NAME_MAX);
            return CLI_EXIT_USAGE;
        }
    }
    if (a->dir[0] == '\0') {
        cli_error("pki %s: --dir must not be empty", cmd->name);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int pki_main(int argc, char **argv)
{
    pki_args_t a = {0};
    pki_err_t err = {{0}};
    const command_t *cmd = NULL;
    int i, rc;

    const char *pass = getenv("TRELLIS_PKI_PASSPHRASE_FILE");
    if (pass && pass[0])
        pki_set_passphrase_file(pass);
    a.dir = getenv("TRELLIS_PKI_DIR");
    if (!a.dir || !a.dir[0])
        a.dir = "./pki";
    /* Options before the command: only --dir and --help belong to `pki` itself. */
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (is_help(argv[i])) {
            pki_help(stdout);
            return CLI_EXIT_OK;
        } else if (strcmp(argv[i], "--passphrase-file") == 0 && i + 1 < argc) {
            pki_set_passphrase_file(argv[++i]);
        } else if (strncmp(argv[i], "--dir=", 6) == 0) {
            a.dir = argv[i] + 6;
        } else if (strcmp(argv[i], "--dir") == 0) {
            if (i + 1 == argc) {
                cli_error("pki: --dir needs a value");
                return CLI_EXIT_USAGE;
            }
            a.dir = argv[++i];
        } else {
            cli_error("pki: unknown option '%s' (see trellis pki --help)", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (i == argc) {
        cli_error("pki: missing command (see trellis pki --help)");
        return CLI_EXIT_USAGE;
    }
    for (size_t k = 0; k < N_COMMANDS && !cmd; k++)
        if (strcmp(argv[i], commands[k].name) == 0)
            cmd = &commands[k];
    if (!cmd) {
        cli_error("pki: unknown command '%s' (see trellis pki --help)", argv[i]);
        return CLI_EXIT_USAGE;
    }
    /* --help anywhere wins over every other check, so it always works. */
    for (int k = i + 1; k < argc && strcmp(argv[k], "--") != 0; k++)
        if (is_help(argv[k])) {
            command_help(cmd, stdout);
            return CLI_EXIT_OK;
        }
    if ((rc = parse_args(cmd, argc - i, argv + i, &a)) != 0)
        return rc;
    if (cmd->run(&a, &err) != 0) {
        cli_error("%s", err.msg[0] ? err.msg : "failed");
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}
