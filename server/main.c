/* trellisd: arguments, start-up and shutdown order only. */
#include "config.h"
#include "log.h"
#include "migrate.h"
#include "node.h"
#include "postcode_load.h"
#include "tls.h"
#include "workers.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#ifndef TRELLIS_VERSION
#define TRELLIS_VERSION "dev"
#endif

static void usage(FILE *out)
{
    fprintf(out, "Usage: trellisd --config FILE [--check-config]\n"
                 "       trellisd --config FILE --load-postcodes ONSPD.csv | CODEPOINT_DIR\n"
                 "       trellisd --print-example-config\n"
                 "\n"
                 "The Trellis node: serves a charity's agents and its federation peers over\n"
                 "mutual TLS and stores into PostgreSQL.\n"
                 "\n"
                 "  --config FILE           INI configuration (see deploy/trellisd.conf.example)\n"
                 "  --check-config          validate the configuration, certificates and\n"
                 "                          migrations, then exit (0 if good)\n"
                 "  --load-postcodes PATH   load the postcode lookup of \"near me\" searches\n"
                 "                          from the ONS Postcode Directory CSV, or from OS\n"
                 "                          Code-Point Open (its Data/CSV folder, or one of\n"
                 "                          its files), then exit\n"
                 "  --print-example-config  print every configuration key with its default\n"
                 "  --version               print the version\n"
                 "  --help                  this text\n"
                 "\n"
                 "Signals: SIGTERM/SIGINT drain and stop; SIGHUP reloads certificates and CRL\n"
                 "(with [node] workers > 1, the supervisor passes both on to every worker).\n"
                 "Logs: JSON lines on stderr.\n");
}

/* Everything a start would check, without binding or connecting. */
static int check_config(const config_t *cfg, char *err, size_t err_len)
{
    SSL_CTX *ctx = NULL;
    int rc = tls_ctx_build(cfg, &ctx, err, err_len);
    if (rc != 0)
        return rc;
    SSL_CTX_free(ctx);
    migration_set_t set;
    rc = migration_set_load(cfg->db_migrations, &set, err, err_len);
    if (rc != 0)
        return rc;
    migration_set_free(&set);
    return 0;
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    bool check_only = false;
    const char *postcodes = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config_path = argv[i] + 9;
        } else if (strcmp(argv[i], "--load-postcodes") == 0 && i + 1 < argc) {
            postcodes = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check_only = true;
        } else if (strcmp(argv[i], "--print-example-config") == 0) {
            config_write_example(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("trellisd %s\n", TRELLIS_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "trellisd: unknown argument '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }
    if (!config_path) {
        fprintf(stderr, "trellisd: --config FILE is required (try --help)\n");
        return 2;
    }

    char err[1024];
    config_t cfg;
    config_defaults(&cfg);
    if (config_load(&cfg, config_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "trellisd: %s\n", err);
        config_free(&cfg);
        return 1;
    }
    log_level_t level = LOG_INFO;
    log_level_parse(cfg.log_level, &level);
    log_set_level(level);

    if (check_only) {
        int rc = check_config(&cfg, err, sizeof(err));
        config_free(&cfg);
        if (rc != 0) {
            fprintf(stderr, "trellisd: %s\n", err);
            return 1;
        }
        printf("trellisd: configuration %s is valid\n", config_path);
        return 0;
    }

    if (postcodes) { /* the node need not run; its database's schema must be current */
        int rc = postcode_load(cfg.db_url, postcodes, stdout, err, sizeof(err));
        config_free(&cfg);
        if (rc != 0) {
            fprintf(stderr, "trellisd: --load-postcodes: %s\n", err);
            return 1;
        }
        return 0;
    }

    unsigned workers = workers_count(&cfg);
    if (workers > 1) { /* a supervisor that binds nothing, and a node in each worker */
        int rc = workers_run(&cfg, config_path, workers);
        config_free(&cfg);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    static node_t node;
    if (node_init(&node, uv_default_loop(), &cfg, config_path, err, sizeof(err)) != 0) {
        log_event(LOG_ERROR, "start_failed", json_pack("{s:s}", "error", err));
        fprintf(stderr, "trellisd: %s\n", err);
        return 1;
    }
    return node_run(&node);
}
