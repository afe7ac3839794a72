/* Who this agent is: the organisation and name its own certificate carries
 * (read locally, the way the node reads it), so that records get the right
 * origin before anything is sent and a dry run needs no network. */
#ifndef AGENT_IDENTITY_H
#define AGENT_IDENTITY_H

#include "agent_config.h"
#include "tr_identity.h"

/* 0, or -1 with a reason in err. */
int agent_identity(const agent_config_t *c, tr_identity_t *id, char *err, size_t err_len);

#endif
