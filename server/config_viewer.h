/* [viewer]: who may reach the viewer listener and whose word about the
 * signed-in user counts. Plain HTTP is safe there only on loopback or behind
 * the charity's own sign-in proxy, so a non-loopback address without a
 * trusted proxy is a configuration error, not a warning. */
#ifndef TRELLIS_CONFIG_VIEWER_H
#define TRELLIS_CONFIG_VIEWER_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define VIEWER_MAX_PROXIES 32

/* After the whole file (and [viewer] listen split into host and port):
 * parses trusted_proxies, checks user_header is a header name, and refuses a
 * non-loopback listen address without a trusted proxy. 0, or -1 with one
 * line in err naming the key. */
int config_viewer_check(config_t *cfg, char *err, size_t err_len, const char *path);
void config_viewer_free(config_t *cfg);

/* A socket address as 16 bytes, IPv4 as ::ffff:a.b.c.d. 0, or -1 for
 * another family. */
int config_viewer_addr(const struct sockaddr *sa, unsigned char out[16]);
/* 127.0.0.0/8 or ::1 (either spelling). */
bool config_viewer_loopback(const unsigned char addr[16]);
/* One of [viewer] trusted_proxies. */
bool config_viewer_trusted(const config_t *cfg, const unsigned char addr[16]);

#endif
