/* The change feed: records after a cursor, in change-log order, with
 * long-poll. One machinery for both readers: an organisation's agents
 * (GET /v1/changes) and peer nodes (GET /v1/fed/changes). */
#ifndef TRELLIS_FEED_H
#define TRELLIS_FEED_H

#include "conn.h"
#include "tr_record.h"

typedef struct {
    /* Agents: "" for everything this node holds, else an organisation that
     * sees the shared directory and its own records. */
    char vis_org[TR_NAME_MAX + 1];
    /* Peers: peer_org is the calling peer's organisation ("" for an agent
     * feed) and kinds the kinds shared with it (bit per tr_kind_t; 0 for
     * none: empty pages, still long-polled). Records of the peer's own
     * origin are not sent back to it. */
    unsigned kinds;
    char peer_org[TR_NAME_MAX + 1];
    /* The peer's [peer] section name (borrowed from the node's config): its
     * row of peer_cursors is this node's cursor on it, told back in each
     * reply (your_cursor) so that it learns if its own feed went back. */
    const char *peer_name;
    int max_limit; /* largest limit= this reader may ask for; 0: 1000 */
} feed_filter_t;

/* Parse since, limit, wait and epoch (the feed's epoch the cursor is in:
 * the reply resumes from the last point common with it, sql/007) and, from
 * a peer, recover=1 (its own records too: it is getting back what it lost),
 * and answer (now, or when something is stored, or at the deadline). */
void feed_serve(req_t *req, const feed_filter_t *filter);

/* Every kind (a bit per tr_kind_t): a store whose kinds are not known. */
#define FEED_KINDS_ALL ((1u << TR_KIND_COUNT_) - 1)

/* Records of kinds (a bit per tr_kind_t) were stored: long-polls look
 * again, and the viewer's cached figures go stale: every one
 * (node->data_generation), the pathway sums only when kinds holds a
 * pathway kind (node->pathway_generation). */
void feed_wake(node_t *node, unsigned kinds);
/* The kinds a NOTIFY on trellis_changes names: trellis_store's payload is
 * the kind names stored, comma-separated ("pathway.referral,pathway.event").
 * An empty payload, or any name not known, is FEED_KINDS_ALL: an older
 * node or another writer may not say what it stored. */
unsigned feed_kinds_of_payload(const char *payload);
/* The node is stopping: long-polls answer now. */
void feed_shutdown(node_t *node);

#endif
