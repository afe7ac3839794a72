/* Private to the database pool (db.c: the pool, its queue and its API;
 * db_conn.c: one libpq connection on the loop). Nothing else includes this. */
#ifndef TRELLIS_DB_INT_H
#define TRELLIS_DB_INT_H

#include "db.h"
#include "migrate.h"

#include <sys/types.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000
#define CONNECT_TIMEOUT_MS 10000 /* PQconnectPoll has no deadline of its own */
#define MAX_ADDRS 8              /* addresses of one host name tried per attempt */
#define MAX_HOSTS 16             /* entries of a multi-host connection string */

typedef enum {
    CONN_DOWN,       /* waiting for the back-off timer */
    CONN_RESOLVING,  /* uv_getaddrinfo in flight */
    CONN_CONNECTING, /* PQconnectPoll in progress */
    CONN_UP,
    CONN_BROKEN, /* failed; cleaned up on the next timer tick, outside any caller */
} conn_state_t;

/* One uv_poll_t per libpq socket. libpq may replace its socket while it
 * connects (another address, SSL refused), so a watch lives apart from the
 * connection and is replaced with the socket. */
typedef struct {
    uv_poll_t poll;
    db_pool_t *pool;
    db_conn_t *conn; /* NULL once detached */
    PGconn *finish;  /* finished in the close callback, once the poll is closed */
} watch_t;

struct db_query {
    db_query_t *prev, *next; /* the pool's queue while queued */
    db_result_cb cb;         /* NULL once cancelled */
    void *ud;
    db_pool_t *pool;
    uint64_t queued_ms;
    bool running;
    int nparams; /* < 0: several statements without parameters (migrations) */
    char *sql;
    char **values;
    int *lengths, *formats; /* per parameter (formats 1: binary) */
    /* the value pointers, lengths, formats, the values and sql follow in the
     * same allocation */
};

/* One entry of the connection string's host list (host=a,b port=1,2), with its hostaddr and
 * port when those are lists too. Strings point into db_pool's copy; "" when not given. */
typedef struct {
    const char *host, *hostaddr, *port;
    bool dns; /* a name, with no hostaddr: resolved off the loop before each attempt */
} db_host_t;

/* The lookup of one db_host_t for one attempt: its addresses are kept until every entry's
 * lookup is in, so that libpq gets them all, in the connection string's order. */
typedef struct {
    uv_getaddrinfo_t req;
    db_conn_t *conn;
    struct addrinfo *res;
    bool done;
} db_lookup_t;

struct db_conn {
    db_pool_t *pool;
    conn_state_t state;
    PGconn *pg;
    watch_t *watch;
    int fd;               /* socket the watch polls */
    ino_t ino;            /* and its identity: a new socket may reuse the number */
    int events;           /* what the watch polls for */
    bool flushing;        /* PQflush left output behind */
    uv_timer_t timer;     /* back-off, connect deadline, deferred failure */
    db_lookup_t *lookups; /* one per db_host_t while CONN_RESOLVING, else NULL */
    unsigned lookups_left;
    unsigned backoff_ms;
    unsigned attempts;
    db_query_t *running;
    PGresult *result; /* of the running query: the first error, else the last */
    /* "name,name", "addr,addr" and "port,port" of the current attempt (ports NULL: the
     * connection string's port applies to every entry) */
    char *hosts, *addrs, *ports;
};

struct db_pool {
    uv_loop_t *loop;
    PQconninfoOption *opts; /* parsed connection string; kw and val point into it */
    const char **kw, **val; /* without host, hostaddr and port, room for them and a NULL */
    size_t nkw;
    const char *host, *hostaddr, *port;
    db_host_t hosts[MAX_HOSTS];
    unsigned n_hosts;
    char *hosts_buf;     /* the lists, split: db_host_t's strings */
    bool ports_per_host; /* port is a list, one per host */
    bool resolve;        /* some host is a name: resolve them off the loop */
    void (*on_fatal)(void *ud, const char *msg);
    void (*on_notify)(void *ud, const char *channel, const char *payload);
    void *ud;
    unsigned max_queue;
    migration_set_t migrations;
    migration_run_t run;
    bool migrating, migrations_done, fatal, closing;
    db_conn_t *conns;
    unsigned size;
    db_query_t *head, *tail;
    unsigned queued;
    uv_timer_t sweep;
    uint64_t down_since; /* when the last connection went down (or the pool began) */
    uint64_t queries, errors, reconnects;
    uint64_t rng;
    unsigned pending; /* close callbacks and requests still to come */
    void (*on_closed)(void *ud);
    void *closed_ud;
};

/* db.c */
void *db__must(void *p); /* aborts on NULL: the one out-of-memory exit */
void *db__xcalloc(size_t n, size_t size);
void db__dispatch(db_pool_t *pool);     /* start queued queries on idle connections */
void db__conn_ready(db_pool_t *pool);   /* a connection came up */
void db__pending_done(db_pool_t *pool); /* a close callback or request has ended */

/* db_conn.c */
void db__conn_init(db_pool_t *pool, db_conn_t *c); /* and connect once the loop runs */
void db__conn_send(db_conn_t *c, db_query_t *q);   /* c up and idle; q is taken */
/* Close everything of c (PQfinish after its poll handle is closed); returns
 * its running query, taken, for the caller to answer. */
db_query_t *db__conn_close(db_conn_t *c);
unsigned db__count_up(const db_pool_t *pool);

#endif
