/* The agent's configuration: one table of settings (section, key, flag,
 * environment variable, default, help) drives reading agent.conf, the
 * TRELLIS_* environment, the command-line flags, `trellis agent init`'s
 * commented file and the help text. Flags beat the environment, which beats
 * the file. Relative paths in the file are relative to the file's folder. */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define AGENT_DEFAULT_CONFIG "/etc/trellis/agent.conf"
#define AGENT_MAX_MAPPINGS 32

typedef struct {
    char *glob; /* file name pattern in the inbox, e.g. "referrals*.csv" */
    char *file; /* the mapping file for it */
} agent_mapping_rule_t;

typedef struct {
    char *config_path; /* the file read, NULL if none */
    /* [node] */
    char *node_url, *ca, *cert, *key, *proxy;
    long timeout, connect_timeout, retry_for, batch, parallel;
    /* [agent] */
    char *spool, *secret, *inbox, *outbox, *directory_out, *directory_format;
    long poll, settle;
    /* [mappings] */
    agent_mapping_rule_t mappings[AGENT_MAX_MAPPINGS];
    size_t n_mappings;
} agent_config_t;

/* Fill c: defaults, then the file (--config, else TRELLIS_CONFIG, else
 * AGENT_DEFAULT_CONFIG when it exists), then TRELLIS_* variables, then the
 * setting flags found in argv, which are taken out of it (*argc updated; the
 * other arguments keep their order). 0, or -1 with a one-line reason in err
 * (a usage error when *usage is set, else a local one). */
int agent_config_load(agent_config_t *c, int *argc, char **argv, bool *usage, char *err,
                      size_t err_len);
/* The same without any file (for `agent init`, which writes one). */
int agent_config_load_no_file(agent_config_t *c, int *argc, char **argv, bool *usage, char *err,
                              size_t err_len);

/* Make every relative path absolute from the current folder. */
void agent_config_absolutize(agent_config_t *c);
void agent_config_free(agent_config_t *c);

/* Check that what talking to the node needs is set: 0 or -1 with err. */
int agent_config_require_node(const agent_config_t *c, char *err, size_t err_len);

/* The commented agent.conf `trellis agent init` writes, with c's values
 * (those unset are written as commented-out examples). */
void agent_config_write(FILE *out, const agent_config_t *c);

/* The flags and variables, for --help. */
void agent_config_usage(FILE *out);

#endif
