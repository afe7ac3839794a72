/* An organisation's ids. A Trellis member is named by its organisation id
 * (`origin`, the name in its certificates); the shared directory shows it to
 * Open Referral UK readers as an `organization` whose UUID is derived from
 * that name, so that no member can publish a service under another's
 * organisation (docs/directory.md). */
#ifndef TR_ORG_H
#define TR_ORG_H

#include <stddef.h>

/* The name-based UUID (RFC 9562 version 5) of organisation `origin` in
 * Trellis's namespace, lower-case and canonical, into out (at least 37
 * bytes). 0, or TR_E_INVAL when origin is not an organisation id. */
int tr_org_uuid(const char *origin, char *out, size_t out_size);

/* The namespace: 368c7d6a-652e-46cb-90f7-c60195cc2b70. */
#define TR_ORG_NAMESPACE "368c7d6a-652e-46cb-90f7-c60195cc2b70"

#endif
