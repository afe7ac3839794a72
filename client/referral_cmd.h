/* Caseworker referral commands (trellis refer, trellis referral update,
 * trellis referrals) and the outbox of inbound referrals. */
#ifndef REFERRAL_CMD_H
#define REFERRAL_CMD_H

#include "agent_config.h"
#include "spool.h"

#include <stddef.h>

int refer_main(int argc, char **argv);
int referral_main(int argc, char **argv);
int referrals_main(int argc, char **argv);
int outbox_main(int argc, char **argv);

/* Write the referrals sent to this charity's services that the outbox has
 * not had yet into one new CSV in [agent] outbox (written beside, synced,
 * renamed), and remember them, so that each appears once. *written: how
 * many. 0 or -1 with err. */
int outbox_write(const agent_config_t *c, spool_t *s, size_t *written, char *err, size_t err_len);

#endif
