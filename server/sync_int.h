/* Private to the federation pull (sync_pull.c: the loop and the apply;
 * sync_fetch.c: the requests to the peer and the verification of their
 * replies; sync_status.c: what it shows in /v1/fed/status and /metrics).
 * Nothing else includes this. */
#ifndef TRELLIS_SYNC_INT_H
#define TRELLIS_SYNC_INT_H

#include "db.h"
#include "node.h"
#include "peer_client.h"
#include "sync_verify.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

/* Records asked for per pull. Measured on a 300,000-record bootstrap
 * (docs/benchmarks.md): 5,000 gave 19.7k records/s, 2,000 28.4k, 1,000
 * 24.7k. Past a few MB the database spends more on receiving one huge
 * parameter than it saves in round trips; too small, and the round trips and
 * per-batch work show. */
#define BATCH_LIMIT 2000
#define LONG_POLL_S 25

typedef enum {
    P_IDLE,
    P_LOCK,
    P_STANDBY,
    P_CURSOR,
    P_FETCH,
    P_VERIFY,
    P_CERTS,
    P_APPLY,
    P_BACKOFF
} pstate_t;

typedef struct sync_peer {
    struct sync *sync;
    const peer_cfg_t *cfg; /* borrowed from node->cfg */
    peer_client_t *client;
    uv_timer_t timer;
    uv_work_t work;
    db_query_t *dbq;
    db_query_t *cert_dbq; /* keeping a fetched signer certificate */
    pstate_t state;
    bool stopping;
    bool timer_closed;
    int busy;         /* work or queries in flight: after sync_stop, freed when they end */
    bool client_busy; /* a request (changes or a certificate) is in flight */
    bool verifying;   /* batch is on the thread pool */
    bool parsing;     /* only parsed there first: the peer's cursor on us is not checked yet */
    bool ready;       /* batch is verified and waits for the apply in flight */
    bool in_apply;    /* applying holds the batch being applied */
    uint64_t backoff_ms;
    uint64_t backoff_wait_ms;          /* of a back-off that waits for work in flight */
    uint64_t fetch_ns, apply_start_ns; /* uv_hrtime of the last ask, of the apply */
    int64_t cursor;                    /* -1: not read yet */
    int64_t fetch_since;               /* the cursor the request in flight asked from */
    int64_t shown_cursor;              /* the last one read or stored, kept through back-offs */
    bool locked;                       /* this process holds the peer's pull lock */
    uint64_t lock_reconnects;          /* the lock connection's reconnects when it was taken */
    sync_batch_t batch;                /* fetched, being verified, or ready */
    sync_batch_t applying;             /* being applied */
    json_t *certs_todo;                /* fingerprints still to fetch */
    /* status */
    int64_t head;
    time_t last_success, caught_up_at;
    bool caught_up; /* the last batch left nothing behind, and nothing failed since */
    time_t last_error_at;
    char last_error[200];
    uint64_t stored, unchanged, refused, batches;
    uint64_t protocol_errors; /* replies that broke the protocol */
    /* The protocol version of the peer's last reply (its Trellis-Protocol
     * header; none is version 1); 0 until a reply came, -1 unreadable. */
    int peer_protocol;
    /* Its last reply was in a version this node cannot speak (or refused
     * ours): shown as the state "incompatible" while it backs off, until a
     * reply in a version both speak. */
    bool incompatible;
    /* The epoch of the peer's feed the cursor is in ("": none known), and
     * the times the peer's feed went back under our cursor (sql/007). */
    char epoch[TR_UUID_LEN + 1];
    char fetch_epoch[TR_UUID_LEN + 1]; /* asked with the request in flight */
    bool fetch_recover;                /* the request in flight asked recover=1 */
    uint64_t went_back;
    time_t went_back_at;
    int64_t went_back_from, went_back_to;
    /* Recovery of this node's own records (sync_recover.c): the first pass
     * after start asks for them too, up to recover_until; the first
     * reply tells whether the peer has seen more of our feed than we hold. */
    bool recover_pass; /* the pass is not done yet */
    /* The peer's head at the pass's first reply (-1 before it): the pass
     * ends there. Records of ours it stores later come from our feed as it
     * is now, which we hold: chasing them (a new peer bootstrapping from
     * us) would only verify and store again what we have. */
    int64_t recover_until;
    bool checked;      /* the peer's cursor on us was checked */
    bool check_failed; /* the peer could not be reached for it (yet) */
    bool detected;     /* it had seen more of our feed than we hold */
    db_query_t *check_dbq;
    uint64_t own_recovered; /* our own records it gave back that we had lost */
} sync_peer_t;

typedef enum {
    REC_STARTING,    /* the new epoch is not made yet */
    REC_CHECKING,    /* asking each peer what it has seen of our feed */
    REC_RECOVERING,  /* our feed went back: getting our own records back */
    REC_DONE,        /* nothing lost, or everything the peers had is back */
    REC_UNCONFIRMED, /* some peers could not be asked: writes taken, asked when back */
    REC_INCOMPLETE,  /* recovery_timeout passed with peers still to give back */
} rec_state_t;

typedef struct {
    rec_state_t state;
    char epoch[TR_UUID_LEN + 1]; /* the epoch this process began */
    int64_t epoch_start;         /* the head it began at */
    db_query_t *dbq;             /* making it */
    uv_timer_t timer;            /* retries making it */
    bool timer_closed;
    bool detected; /* some peer had seen more of our feed than we hold */
    uint64_t deadline_ms;
    time_t started_at, detected_at, finished_at;
} recovery_t;

struct sync {
    node_t *node;
    /* One connection of its own for the session-level advisory locks that
     * let one process at a time pull from a peer: the lock lives as long as
     * the connection, and dies with the process. */
    db_pool_t *lock_db;
    SSL_CTX *client_ctx;
    signer_cache_t *cache;
    sync_peer_t *peers;
    size_t n_peers;
    bool stopping;
    uint64_t refused_by_reason[SYNC_REFUSED_COUNT_];
    recovery_t rec;
};

/* sync_pull.c: start the peers' loops (once the epoch is made). */
void sync__begin(struct sync *s);
/* Record the failure for the status, log it, and start over from the
 * stored cursor after a back-off with jitter. */
void sync__fail(sync_peer_t *p, const char *what, const char *why);
/* After sync_stop: frees everything once the last handle is closed and the
 * last piece of work has come back. True if the caller must stop. */
bool sync__settled(sync_peer_t *p);
/* Apply p->batch (verified) from the cursor the last apply stored. */
void sync__start_apply(sync_peer_t *p);

/* sync_fetch.c: ask the peer for the changes after since, in its feed's
 * epoch ("" for none known); the reply is verified, then applied. */
void sync__fetch_changes(sync_peer_t *p, int64_t since, const char *epoch);

/* sync_recover.c: the node's recovery of its own records. */
void recover_start(struct sync *s);
void recover_stop(struct sync *s);
/* A reply from the peer (p->batch verified): check its cursor on us. */
void recover_on_reply(sync_peer_t *p);
/* The peer could not be reached, or another process pulls from it. */
void recover_on_failure(sync_peer_t *p);
void recover_on_standby(sync_peer_t *p);
/* The batch being applied (p->applying) was stored: note the peer's epoch,
 * and whether its feed went back under our cursor (p->cursor, not moved yet). */
void recover_on_batch(sync_peer_t *p);
/* A batch asked with recover=1 was applied; more: the peer has more. */
void recover_on_applied(sync_peer_t *p, bool more);
json_t *recover_status(const struct sync *s);
json_t *recover_peer_status(const sync_peer_t *p);

#endif
