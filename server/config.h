/* trellisd's configuration: an INI file (libinih) described by one table of
 * keys (section, name, type, default, bounds, help) that drives parsing,
 * validation, defaults and the documented example file. */
#ifndef TRELLIS_CONFIG_H
#define TRELLIS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* [peer NAME]: a node this one pulls from and lets pull from it. */
typedef struct {
    char *name;     /* the NAME of the section, for logs and status */
    char *url;      /* https://host:port of the peer's API */
    char *org;      /* the organisation its node certificate must name */
    unsigned share; /* bit (1 << tr_kind_t) per kind this node sends the peer */
    bool pull;      /* pull from it (default yes) */
} peer_cfg_t;

#define CONFIG_MAX_PEERS 64
#define CONFIG_MAX_WORKERS 256

typedef struct {
    /* [node] */
    char *listen; /* "host:port" */
    char *listen_host;
    int listen_port;
    char *log_level;
    char *log_requests;              /* off | errors | all */
    char *directory_index;           /* on | off: the in-memory directory index (dir_index.h) */
    uint64_t directory_index_max_mb; /* memory the index may count before it turns off */
    char *metrics_scrapers; /* "org/name, ...": identities besides our own that may read /metrics */
    uint64_t shutdown_timeout_ms;
    uint64_t workers; /* processes on one port; 0: auto, one per CPU (workers.h) */

    /* Not from the file: set by the supervisor in each worker process (workers.c). */
    unsigned worker; /* this process's worker number, 1..N; 0: the single process of workers = 1 */
    int ready_fd;    /* > 0: write one byte here once the node takes writes, then close it */

    /* [tls] */
    char *tls_cert; /* node certificate followed by its organisation CA */
    char *tls_key;
    char *tls_ca;  /* consortium root: the only trust anchor */
    char *tls_crl; /* optional: PEM bundle of every CA's CRL */
    uint64_t handshake_timeout_ms;
    uint64_t recovery_timeout_ms; /* writes wait this long at most for recovery */
    uint64_t expiry_warning_ms;   /* warn this long before a CRL or certificate lapses */

    /* [database] */
    char *db_url;
    uint64_t db_pool_size;
    uint64_t db_max_queue;
    char *db_migrations;

    /* [public] */
    char *public_listen; /* "" when the public read API is off */
    char *public_host;
    int public_port;
    uint64_t public_max_connections; /* its own pool, apart from [limits] max_connections */
    uint64_t public_max_per_address;

    /* [viewer]: read-only HTML pages on plain HTTP behind the charity's
     * sign-in proxy (config_viewer.h) */
    char *viewer_listen; /* "" when off */
    char *viewer_host;
    int viewer_port;
    char *viewer_trusted_proxies; /* "addr, addr": the proxies whose user header counts */
    char *viewer_user_header;     /* "" for none */
    uint64_t viewer_max_connections;
    unsigned char (*viewer_proxies)[16]; /* parsed trusted_proxies, IPv4 as ::ffff:a.b.c.d */
    size_t n_viewer_proxies;
    /* the small-number rule of every published count (proto/tr_smallnum.h) */
    uint64_t viewer_small_number_threshold;
    uint64_t viewer_rounding;

    /* [sharing]: the audience of this organisation's own records, per kind
     * (tr_kind_t order); config_sharing.h */
    char *sharing[5];

    /* [limits] */
    uint64_t max_url_bytes;
    uint64_t max_header_bytes;
    uint64_t max_headers;
    uint64_t max_body_bytes;
    uint64_t max_requests_per_conn;
    uint64_t max_pipeline;
    uint64_t idle_timeout_ms;
    uint64_t request_timeout_ms;
    uint64_t max_connections;
    uint64_t max_connections_per_identity;
    uint64_t max_queued_requests;     /* received, not yet answered, on every connection */
    uint64_t max_queued_per_identity; /* the same, for one identity */
    uint64_t max_queued_body_bytes;   /* bodies those hold, and batches still being stored */
    uint64_t max_batch_records;
    uint64_t max_wait_ms;

    /* [peer NAME] sections */
    peer_cfg_t *peers;
    size_t n_peers;
} config_t;

/* The configured peer whose node certificate names org, or NULL. */
const peer_cfg_t *config_peer_by_org(const config_t *cfg, const char *org);

/* Set every key to its default. */
void config_defaults(config_t *cfg);

/* Load path over the defaults and validate. Relative paths in the file are
 * taken from the file's folder. Returns 0, or TR_E_CONFIG with one line in
 * err naming the file, line, section and key. */
int config_load(config_t *cfg, const char *path, char *err, size_t err_len);

/* Free the strings; the struct can be loaded again afterwards. */
void config_free(config_t *cfg);

/* Write the documented example configuration (every key, default, help). */
void config_write_example(FILE *out);

#endif
