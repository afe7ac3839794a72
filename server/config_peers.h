/* The [peer NAME] sections of the configuration (config.c reads the rest). */
#ifndef TRELLIS_CONFIG_PEERS_H
#define TRELLIS_CONFIG_PEERS_H

#include "config.h"

/* One key of section [peer name]. 0, or -1 with the reason in why. */
int config_peer_set(config_t *cfg, const char *name, const char *key, const char *value, char *why,
                    size_t why_len);
/* After the whole file: every peer complete, no organisation twice. */
int config_peers_check(const config_t *cfg, char *err, size_t err_len, const char *path);
void config_peers_free(config_t *cfg);
void config_peers_write_example(FILE *out);

#endif
