/* The federation protocol's version: what a node announces on every request
 * to a peer and every response it gives (the Trellis-Protocol header), and
 * which versions it can speak with. docs/federation.md, "Protocol versions",
 * says what each version changed. */
#ifndef TR_PROTOCOL_H
#define TR_PROTOCOL_H

#include <stdbool.h>

#define TR_PROTOCOL_HEADER "Trellis-Protocol"

/* 1: before the header existed (no to_org on a referral, no audience).
 * 2: the header; a referral names its receiving organisation (to_org), a
 *    record carries its origin's audience, the feed has epochs. */
#define TR_PROTOCOL_VERSION 2
/* The oldest version this node still syncs with. */
#define TR_PROTOCOL_MIN 1

/* A node that sends no header speaks version 1. */
#define TR_PROTOCOL_NONE 1

/* The version a header value announces: NULL (no header) is
 * TR_PROTOCOL_NONE; 1 to 6 decimal digits, no sign or space, is that
 * number; anything else is -1 (unreadable: treated as unsupported). */
int tr_protocol_parse(const char *value);

/* Can this node sync with a peer that announces v? */
bool tr_protocol_supported(int v);

#endif
