/* The local secret: 32 random bytes, kept as 64 hex digits in a file only
 * the agent's user may read. Case references become record ids by HMAC under
 * it, so it never leaves the machine; losing it means the same case gets a
 * new id (docs/agent.md says to back it up). */
#ifndef AGENT_SECRET_H
#define AGENT_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define AGENT_SECRET_LEN 32

/* Create path with a new secret (mode 0600, never over an existing file).
 * 0, or -1 with a reason in err. */
int agent_secret_create(const char *path, char *err, size_t err_len);

/* Read the secret; refuses a file others may read or one of the wrong form.
 * 0, or -1 with a reason in err. */
int agent_secret_load(const char *path, uint8_t out[AGENT_SECRET_LEN], char *err, size_t err_len);

#endif
