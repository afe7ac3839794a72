/* Fuzz target for the configuration parser (server/config.c, config_peers.c, libinih): the input
 * is a trellisd.conf. Loading gives 0, or TR_E_CONFIG with one line of error; either way the
 * configuration frees cleanly and loads again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tr_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/trellis-fuzz-config-%d.conf", (int)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    for (int round = 0; round < 2; round++) {
        config_t cfg;
        char err[512];
        memset(err, 'x', sizeof err);
        err[sizeof err - 1] = '\0';
        config_defaults(&cfg);
        int rc = config_load(&cfg, path, err, sizeof err);
        if (rc != 0) {
            if (rc != TR_E_CONFIG || strlen(err) == 0 || strlen(err) >= sizeof err - 1 ||
                strchr(err, '\n') != NULL)
                abort();
        } else if (cfg.listen_host == NULL || cfg.listen_port < 0 || cfg.listen_port > 65535 ||
                   cfg.tls_cert == NULL || cfg.db_url == NULL) {
            abort();
        }
        config_free(&cfg);
    }
    unlink(path);
    return 0;
}
