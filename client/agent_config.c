/* agent.conf, TRELLIS_* and the setting flags, from one table. */
#include "agent_config.h"

#include "cli.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef enum { T_STR, T_PATH, T_SECONDS, T_INT } type_t;

typedef struct {
    const char *section, *key, *flag, *env;
    type_t type;
    size_t off;
    const char *def; /* NULL: unset */
    long min, max;
    const char *help; /* one or two lines for the file and --help */
    const char *example;
} setting_t;

#define OFF(f) offsetof(agent_config_t, f)

static const setting_t settings[] = {
    {"node", "url", "--node", "TRELLIS_NODE", T_STR, OFF(node_url), NULL, 0, 0,
     "The charity's own node: https://host:port", "https://trellis.example.org:8443"},
    {"node", "ca", "--ca", "TRELLIS_CA", T_PATH, OFF(ca), NULL, 0, 0,
     "The consortium root certificate (ca.crt from the consortium's coordinator)",
     "/etc/trellis/ca.crt"},
    {"node", "cert", "--cert", "TRELLIS_CERT", T_PATH, OFF(cert), NULL, 0, 0,
     "This agent's certificate chain (trellis pki issue-agent ORG NAME: NAME.chain.crt)",
     "/etc/trellis/agent.chain.crt"},
    {"node", "key", "--key", "TRELLIS_KEY", T_PATH, OFF(key), NULL, 0, 0,
     "This agent's private key (keep it readable by the agent's user only)",
     "/etc/trellis/agent.key"},
    {"node", "proxy", "--proxy", "TRELLIS_PROXY", T_STR, OFF(proxy), NULL, 0, 0,
     "HTTP proxy for outbound traffic, http://host:port; unset: https_proxy and no_proxy\n"
     "from the environment; \"none\": never a proxy",
     "http://proxy.example.org:3128"},
    {"node", "timeout", "--timeout", "TRELLIS_TIMEOUT", T_SECONDS, OFF(timeout), "120", 1, 3600,
     "Seconds one request to the node may take", NULL},
    {"node", "connect_timeout", NULL, "TRELLIS_CONNECT_TIMEOUT", T_SECONDS, OFF(connect_timeout),
     "15", 1, 600, "Seconds to connect (TCP and TLS)", NULL},
    {"node", "retry_for", "--retry-for", "TRELLIS_RETRY_FOR", T_SECONDS, OFF(retry_for), "300", 0,
     86400,
     "How long a push keeps retrying an unreachable or busy node before giving up\n"
     "(exit 4; what is spooled stays spooled for the next push)",
     NULL},
    {"node", "batch", "--batch", "TRELLIS_BATCH", T_INT, OFF(batch), "500", 1, 10000,
     "Records per request (at most the node's [limits] max_batch_records)", NULL},
    {"node", "parallel", "--parallel", "TRELLIS_PARALLEL", T_INT, OFF(parallel), "2", 1, 8,
     "Batches in flight at once, each on its own connection", NULL},
    {"agent", "spool", "--spool", "TRELLIS_SPOOL", T_PATH, OFF(spool), "/var/lib/trellis", 0, 0,
     "Folder of the spool (spool.db: records waiting for the node, refused, quarantined)", NULL},
    {"agent", "secret", "--secret", "TRELLIS_SECRET", T_PATH, OFF(secret),
     "/var/lib/trellis/secret", 0, 0,
     "The local secret that turns case references into record ids. Back it up: with\n"
     "another secret the same case gets another id, and re-sent records are duplicates",
     NULL},
    {"agent", "inbox", "--inbox", "TRELLIS_INBOX", T_PATH, OFF(inbox), NULL, 0, 0,
     "Folder the CMS exports into; `trellis agent run` pushes each complete file and\n"
     "moves it to done/ or failed/ (with a .why file) inside it",
     "/var/lib/trellis/inbox"},
    {"agent", "outbox", "--outbox", "TRELLIS_OUTBOX", T_PATH, OFF(outbox), NULL, 0, 0,
     "Folder the agent writes the directory and inbound referrals to", "/var/lib/trellis/outbox"},
    {"agent", "directory_out", NULL, "TRELLIS_DIRECTORY_OUT", T_PATH, OFF(directory_out), NULL, 0,
     0,
     "`trellis agent run` keeps the shared directory in this file (as `trellis directory\n"
     "watch` does) through the long-poll change feed, in a thread of its own; unset: not written",
     "/var/lib/trellis/outbox/directory.json"},
    {"agent", "directory_format", NULL, "TRELLIS_DIRECTORY_FORMAT", T_STR, OFF(directory_format),
     "json", 0, 0, "json or csv, for directory_out", NULL},
    {"agent", "poll", NULL, "TRELLIS_POLL", T_SECONDS, OFF(poll), "10", 1, 3600,
     "Seconds between two looks at the inbox", NULL},
    {"agent", "settle", NULL, "TRELLIS_SETTLE", T_SECONDS, OFF(settle), "5", 0, 3600,
     "A file is taken once its size and time have not changed for this many seconds", NULL},
};

#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static char **str_slot(agent_config_t *c, const setting_t *s)
{
    return (char **)((char *)c + s->off);
}

static long *int_slot(agent_config_t *c, const setting_t *s)
{
    return (long *)((char *)c + s->off);
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* A path from the file, relative to the file's folder. */
static char *resolve(const char *base_file, const char *v)
{
    if (v[0] == '/' || !base_file)
        return xstrdup(v);
    const char *slash = strrchr(base_file, '/');
    if (!slash)
        return xstrdup(v);
    size_t n = (size_t)(slash - base_file) + 1 + strlen(v) + 1;
    char *out = malloc(n);
    if (!out)
        abort();
    snprintf(out, n, "%.*s/%s", (int)(slash - base_file), base_file, v);
    return out;
}

static int set_value(agent_config_t *c, const setting_t *s, const char *v, const char *base_file,
                     char *err, size_t err_len, const char *where)
{
    if (s->type == T_STR || s->type == T_PATH) {
        char **slot = str_slot(c, s);
        free(*slot);
        *slot = v[0] ? (s->type == T_PATH ? resolve(base_file, v) : xstrdup(v)) : NULL;
        return 0;
    }
    long n;
    char buf[32];
    snprintf(buf, sizeof(buf), "%s", v);
    size_t len = strlen(buf);
    if (s->type == T_SECONDS && len > 1 && buf[len - 1] == 's')
        buf[len - 1] = '\0';
    if (cli_parse_int(buf, s->min, s->max, &n) != 0) {
        snprintf(err, err_len, "%s: %s must be a whole number from %ld to %ld", where, s->key,
                 s->min, s->max);
        return -1;
    }
    *int_slot(c, s) = n;
    return 0;
}

typedef struct {
    agent_config_t *c;
    char *err;
    size_t err_len;
    int failed;
} ini_ctx_t;

static int on_ini(void *user, const char *section, const char *key, const char *value)
{
    ini_ctx_t *x = user;
    if (x->failed)
        return 0;
    char where[PATH_MAX + 32];
    snprintf(where, sizeof(where), "%s", x->c->config_path);
    if (strcmp(section, "mappings") == 0) {
        if (x->c->n_mappings >= AGENT_MAX_MAPPINGS) {
            snprintf(x->err, x->err_len, "%s: at most %d mappings", where, AGENT_MAX_MAPPINGS);
            x->failed = 1;
            return 0;
        }
        agent_mapping_rule_t *m = &x->c->mappings[x->c->n_mappings++];
        m->glob = xstrdup(key);
        m->file = resolve(x->c->config_path, value);
        return 1;
    }
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (strcmp(settings[i].section, section) == 0 && strcmp(settings[i].key, key) == 0) {
            if (set_value(x->c, &settings[i], value, x->c->config_path, x->err, x->err_len,
                          where) != 0) {
                x->failed = 1;
                return 0;
            }
            return 1;
        }
    }
    snprintf(x->err, x->err_len, "%s: unknown setting [%s] %s", where, section, key);
    x->failed = 1;
    return 0;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

static int load(agent_config_t *c, int *argc, char **argv, bool *usage, char *err, size_t err_len,
                bool read_file)
{
    memset(c, 0, sizeof(*c));
    *usage = false;
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].def &&
            set_value(c, &settings[i], settings[i].def, NULL, err, err_len, "default") != 0)
            abort();

    /* The flags first, kept aside: they are applied last. */
    const char *flag_val[N_SETTINGS] = {0};
    const char *config = NULL;
    int out = 0;
    for (int i = 0; i < *argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        int match = -2;
        if (strcmp(a, "--config") == 0)
            match = -1;
        for (size_t k = 0; match == -2 && k < N_SETTINGS; k++)
            if (settings[k].flag && strcmp(a, settings[k].flag) == 0)
                match = (int)k;
        if (match == -2) {
            argv[out++] = argv[i];
            continue;
        }
        if (i + 1 >= *argc) {
            snprintf(err, err_len, "%s needs a value", a);
            *usage = true;
            return -1;
        }
        val = argv[++i];
        if (match == -1)
            config = val;
        else
            flag_val[match] = val;
    }
    *argc = out;

    bool explicit_config = true;
    if (!config)
        config = env("TRELLIS_CONFIG");
    if (!config) {
        config = AGENT_DEFAULT_CONFIG;
        explicit_config = false;
    }
    if (read_file && (explicit_config || access(config, F_OK) == 0)) {
        c->config_path = xstrdup(config);
        FILE *f = fopen(config, "r");
        if (!f) {
            snprintf(err, err_len, "cannot read %s: %s", config, strerror(errno));
            return -1;
        }
        ini_ctx_t x = {c, err, err_len, 0};
        int rc = ini_parse_file(f, on_ini, &x);
        fclose(f);
        if (x.failed)
            return -1;
        if (rc != 0) {
            snprintf(err, err_len, "%s line %d: not an INI line ([section] or key = value)", config,
                     rc);
            return -1;
        }
    }
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const char *v = env(settings[i].env);
        if (v && set_value(c, &settings[i], v, NULL, err, err_len, settings[i].env) != 0)
            return -1;
    }
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (flag_val[i] &&
            set_value(c, &settings[i], flag_val[i], NULL, err, err_len, settings[i].flag) != 0) {
            *usage = true;
            return -1;
        }
    }
    if (c->proxy && strcasecmp(c->proxy, "none") != 0 && !strstr(c->proxy, "://")) {
        snprintf(err, err_len, "proxy must be a URL like http://host:port, or none");
        return -1;
    }
    return 0;
}

int agent_config_load(agent_config_t *c, int *argc, char **argv, bool *usage, char *err,
                      size_t err_len)
{
    return load(c, argc, argv, usage, err, err_len, true);
}

int agent_config_load_no_file(agent_config_t *c, int *argc, char **argv, bool *usage, char *err,
                              size_t err_len)
{
    return load(c, argc, argv, usage, err, err_len, false);
}

void agent_config_absolutize(agent_config_t *c)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return;
    char base[PATH_MAX + 4];
    snprintf(base, sizeof(base), "%s/x", cwd); /* resolve() takes a file's folder */
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (settings[i].type != T_PATH)
            continue;
        char **slot = str_slot(c, &settings[i]);
        if (*slot && (*slot)[0] != '/') {
            char *abs = resolve(base, *slot);
            free(*slot);
            *slot = abs;
        }
    }
}

void agent_config_free(agent_config_t *c)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].type == T_STR || settings[i].type == T_PATH)
            free(*str_slot(c, &settings[i]));
    for (size_t i = 0; i < c->n_mappings; i++) {
        free(c->mappings[i].glob);
        free(c->mappings[i].file);
    }
    free(c->config_path);
    memset(c, 0, sizeof(*c));
}

int agent_config_require_node(const agent_config_t *c, char *err, size_t err_len)
{
    const char *missing = !c->node_url ? "url (--node, TRELLIS_NODE)"
                          : !c->ca     ? "ca (--ca, TRELLIS_CA)"
                          : !c->cert   ? "cert (--cert, TRELLIS_CERT)"
                          : !c->key    ? "key (--key, TRELLIS_KEY)"
                                       : NULL;
    if (missing) {
        snprintf(err, err_len,
                 "which node? [node] %s is not set (trellis agent init writes "
                 "agent.conf)",
                 missing);
        return -1;
    }
    if (strncmp(c->node_url, "https://", 8) != 0) {
        snprintf(err, err_len, "the node URL must start with https://");
        return -1;
    }
    return 0;
}

static void comment(FILE *out, const char *text)
{
    fputs("; ", out);
    for (const char *p = text; *p; p++) {
        fputc(*p, out);
        if (*p == '\n')
            fputs("; ", out);
    }
    fputc('\n', out);
}

void agent_config_write(FILE *out, const agent_config_t *c)
{
    fprintf(out, "; Trellis agent configuration (trellis agent init). INI: [section] and\n"
                 "; key = value; relative paths are relative to this file's folder.\n"
                 "; Command-line flags beat TRELLIS_* environment variables, which beat\n"
                 "; this file. Every setting: `trellis agent --help`.\n");
    const char *section = "";
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        if (strcmp(section, s->section) != 0) {
            fprintf(out, "\n[%s]\n", s->section);
            section = s->section;
        }
        fputc('\n', out);
        comment(out, s->help);
        if (s->type == T_STR || s->type == T_PATH) {
            char *v = *str_slot((agent_config_t *)c, s);
            if (v)
                fprintf(out, "%s = %s\n", s->key, v);
            else
                fprintf(out, ";%s = %s\n", s->key, s->example ? s->example : "");
        } else {
            long v = *int_slot((agent_config_t *)c, s);
            fprintf(out, "%s%s = %ld\n", s->def && v == strtol(s->def, NULL, 10) ? ";" : "", s->key,
                    v);
        }
    }
    fprintf(out, "\n[mappings]\n"
                 "; Which mapping file reads which export in the inbox: GLOB = MAPPING FILE.\n"
                 "; The first pattern that matches a file's name wins. Examples of mappings:\n"
                 "; /usr/local/share/trellis/examples/ (deploy/examples/ in the source).\n");
    for (size_t i = 0; i < c->n_mappings; i++)
        fprintf(out, "%s = %s\n", c->mappings[i].glob, c->mappings[i].file);
    if (c->n_mappings == 0)
        fprintf(out, ";referrals*.csv = referrals.map\n;feedback*.csv = feedback.map\n");
}

void agent_config_usage(FILE *out)
{
    fprintf(out,
            "settings (flag, environment variable, agent.conf [section] key, default):\n"
            "  %-22s %-24s %s\n",
            "--config FILE", "TRELLIS_CONFIG", "the file; default " AGENT_DEFAULT_CONFIG);
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        char flag[40];
        snprintf(flag, sizeof(flag), "%s%s", s->flag ? s->flag : "", s->flag ? " V" : "");
        fprintf(out, "  %-22s %-24s [%s] %s%s%s\n", flag, s->env, s->section, s->key,
                s->def ? " = " : "", s->def ? s->def : "");
    }
}
