/* Configuration: one table of keys drives parsing, defaults, bounds and the
 * documented example, the way PgBouncer's parameter table does. */
#include "config.h"
#include "config_peers.h"
#include "config_sharing.h"
#include "config_viewer.h"
#include "log.h"
#include "tr_error.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* T_COUNT: a whole number, or "auto" stored as 0 (the caller decides what auto means). */
typedef enum { T_STR, T_PATH, T_UINT, T_SIZE, T_DURATION, T_COUNT } key_type_t;

typedef struct {
    const char *section;
    const char *name;
    key_type_t type;
    size_t offset;
    const char *def; /* NULL: no default (required if .required) */
    uint64_t min, max;
    bool required;
    const char *help;
} key_t_;

#define OFF(f) offsetof(config_t, f)
#define KIB 1024ull
#define MIB (1024ull * 1024ull)

static const key_t_ keys[] = {
    {"node", "listen", T_STR, OFF(listen), "127.0.0.1:8443", 0, 0, false,
     "address:port of the mutual-TLS API listener (IPv6 as [addr]:port)"},
    {"node", "log_level", T_STR, OFF(log_level), "info", 0, 0, false, "debug, info, warn or error"},
    {"node", "log_requests", T_STR, OFF(log_requests), "errors", 0, 0, false,
     "log a line per request: off, errors (status >= 400) or all"},
    {"node", "metrics_scrapers", T_STR, OFF(metrics_scrapers), "", 0, 0, false,
     "certificates of other organisations that may read /metrics besides this organisation's "
     "own, as org/name (a monitoring agent's), comma-separated; empty: none"},
    {"node", "shutdown_timeout", T_DURATION, OFF(shutdown_timeout_ms), "10s", 0, 3600000, false,
     "on SIGTERM, how long in-flight requests may take before connections are cut"},
    {"node", "recovery_timeout", T_DURATION, OFF(recovery_timeout_ms), "5m", 0, 86400000, false,
     "at start the node asks each peer it pulls from what it has seen of this node's feed; if "
     "one has seen more than the database holds (a restore or a failover), the node takes no "
     "write of its own until every such peer has given back this node's records, or until "
     "this long has passed (then it takes writes and logs recovery_incomplete)"},
    {"node", "workers", T_COUNT, OFF(workers), "auto", 0, CONFIG_MAX_WORKERS, false,
     "how many trellisd processes serve this node: each binds every listener with "
     "SO_REUSEPORT (the kernel spreads new connections over them) and keeps its own "
     "database pool; a supervisor starts them, passes SIGHUP and SIGTERM on and restarts one "
     "that dies (docs/workers.md); 1: a single process, no supervisor; auto (or 0): one per CPU "
     "this process may run on"},

    {"tls", "cert", T_PATH, OFF(tls_cert), NULL, 0, 0, true,
     "PEM: this node's certificate followed by its organisation CA (trellis pki issue-node)"},
    {"tls", "key", T_PATH, OFF(tls_key), NULL, 0, 0, true,
     "PEM: the private key of cert (keep it 0600); under systemd %d/node.key, the credential "
     "the unit's LoadCredential= hands over"},
    {"tls", "ca", T_PATH, OFF(tls_ca), NULL, 0, 0, true,
     "PEM: the consortium root CA, the only trust anchor for clients and peers"},
    {"tls", "crl", T_PATH, OFF(tls_crl), "", 0, 0, false,
     "PEM bundle of every CA's CRL (trellis pki writes crl.pem); empty: no revocation check"},
    {"tls", "handshake_timeout", T_DURATION, OFF(handshake_timeout_ms), "10s", 100, 600000, false,
     "time allowed for the TLS handshake"},
    {"tls", "expiry_warning", T_DURATION, OFF(expiry_warning_ms), "240h", 0, 8760ull * 3600000,
     false,
     "how long before a CRL's next update or a certificate's expiry the node logs a warning "
     "(hourly); /metrics shows the seconds left for each (trellis_tls_expiry_seconds)"},

    {"database", "url", T_STR, OFF(db_url), NULL, 0, 0, true,
     "libpq connection string or postgresql:// URL"},
    {"database", "pool_size", T_UINT, OFF(db_pool_size), "4", 1, 64, false,
     "PostgreSQL connections kept by this process"},
    {"database", "max_queue", T_UINT, OFF(db_max_queue), "10000", 1, 1000000, false,
     "queries waiting for a connection before new ones get 503"},
    {"database", "migrations", T_PATH, OFF(db_migrations), TRELLIS_SQL_DIR, 0, 0, false,
     "folder of the numbered sql/ migrations applied at start-up"},

    {"public", "listen", T_STR, OFF(public_listen), "", 0, 0, false,
     "address:port of a second listener serving only the Open Referral UK read API "
     "(/oruk/) over TLS without a client certificate, for councils' service finders; "
     "empty: off"},
    {"public", "max_connections", T_UINT, OFF(public_max_connections), "500", 1, 1000000, false,
     "connections to the public listener in total, counted apart from [limits] "
     "max_connections so that a flood of them never takes an agent's or a peer's slot; past "
     "it new ones are closed at accept"},
    {"public", "max_connections_per_address", T_UINT, OFF(public_max_per_address), "8", 1, 1000000,
     false,
     "connections to the public listener from one IPv4 address or IPv6 /64; past it new ones "
     "are closed at accept, before any TLS work"},

    {"viewer", "listen", T_STR, OFF(viewer_listen), "", 0, 0, false,
     "address:port of the viewer: read-only HTML pages (directory, coverage, pathways, "
     "feedback) in plain HTTP, meant to sit behind the charity's sign-in proxy; a loopback "
     "address such as 127.0.0.1:8081 unless trusted_proxies is set (the node refuses to start "
     "otherwise); empty: off"},
    {"viewer", "trusted_proxies", T_STR, OFF(viewer_trusted_proxies), "", 0, 0, false,
     "IP addresses of the reverse proxies (comma-separated) whose user_header is believed; "
     "a request from one must carry it; on a non-loopback listen address only these and "
     "loopback may connect"},
    {"viewer", "user_header", T_STR, OFF(viewer_user_header), "X-Forwarded-User", 0, 0, false,
     "request header in which a trusted proxy names the signed-in user, shown on every page "
     "and logged with each view; never read from anyone else; empty: none"},
    {"viewer", "max_connections", T_UINT, OFF(viewer_max_connections), "256", 1, 1000000, false,
     "connections to the viewer listener at once, apart from [limits] max_connections; past "
     "it new ones are closed at accept"},
    {"viewer", "small_number_threshold", T_UINT, OFF(viewer_small_number_threshold), "8", 1, 1000,
     false,
     "the small-number rule (docs/small-numbers.md): every count the viewer pages and their "
     "CSV files publish from 1 to this minus one is shown as \"fewer than N\", and cells that "
     "would let one be worked out from a total are hidden too; 1: none (the reporting views "
     "take theirs from the table trellis_reporting_rule: docs/reporting.md)"},
    {"viewer", "rounding", T_UINT, OFF(viewer_rounding), "5", 1, 1000, false,
     "every other published count is rounded to the nearest multiple of this (percentages are "
     "worked out from the rounded counts); 1: exact"},

    {"directory", "index", T_STR, OFF(directory_index), "on", 0, 0, false,
     "on: each process keeps every visible directory service in memory (its filter fields and "
     "its document) and answers /oruk/services, /oruk/service_at_locations and the viewer's "
     "directory from it, with no query while nothing new is stored (docs/directory.md); off: "
     "every listing is one SQL query (the reference; no memory held)"},
    {"directory", "index_max_mb", T_UINT, OFF(directory_index_max_mb), "512", 1, 1048576, false,
     "MiB of memory each process's directory index may hold (filter fields and documents: "
     "about 1 KiB a service plus the size of its stored body); past it the process logs "
     "dir_index_off and answers every listing by the SQL query"},

    {"sharing", "directory.service", T_STR, OFF(sharing[0]), "consortium", 0, 0, false,
     "who this organisation shares its own directory services with, decided here and signed "
     "into each record (its audience): consortium (every member), peers (the organisations "
     "of the [peer] sections whose share grants the kind), none, or a list of organisation ids"},
    {"sharing", "pathway.referral", T_STR, OFF(sharing[1]), "peers", 0, 0, false,
     "the audience of this organisation's referrals (as above); a relay never widens it"},
    {"sharing", "pathway.event", T_STR, OFF(sharing[2]), "peers", 0, 0, false,
     "the audience of this organisation's referral events"},
    {"sharing", "feedback.entry", T_STR, OFF(sharing[3]), "peers", 0, 0, false,
     "the audience of this organisation's feedback entries"},
    {"sharing", "feedback.response", T_STR, OFF(sharing[4]), "peers", 0, 0, false,
     "the audience of this organisation's feedback responses"},

    {"limits", "max_url_bytes", T_SIZE, OFF(max_url_bytes), "16k", 64, 1 * MIB, false,
     "longest request target; past it 414"},
    {"limits", "max_header_bytes", T_SIZE, OFF(max_header_bytes), "16k", 256, 1 * MIB, false,
     "all request header names and values together; past it 431"},
    {"limits", "max_headers", T_UINT, OFF(max_headers), "64", 4, 1000, false,
     "request header fields; past it 431"},
    {"limits", "max_body_bytes", T_SIZE, OFF(max_body_bytes), "8M", 0, 1024 * MIB, false,
     "request body; past it 413"},
    {"limits", "max_requests_per_conn", T_UINT, OFF(max_requests_per_conn), "10000", 1, 100000000,
     false, "requests on one connection before it is closed after the reply"},
    {"limits", "max_pipeline", T_UINT, OFF(max_pipeline), "16", 1, 1024, false,
     "pipelined requests in flight on one connection; past it reading pauses"},
    {"limits", "idle_timeout", T_DURATION, OFF(idle_timeout_ms), "60s", 100, 86400000, false,
     "a keep-alive connection with no request in progress is closed after this"},
    {"limits", "request_timeout", T_DURATION, OFF(request_timeout_ms), "10s", 100, 3600000, false,
     "time to receive a whole request once it has started; past it 408 and close"},
    {"limits", "max_connections", T_UINT, OFF(max_connections), "20000", 1, 1000000, false,
     "connections in total; past it new ones are closed at once"},
    {"limits", "max_connections_per_identity", T_UINT, OFF(max_connections_per_identity), "20000",
     1, 1000000, false, "connections from one certificate identity; past it 429 and close"},
    {"limits", "max_queued_requests", T_UINT, OFF(max_queued_requests), "4096", 1, 10000000, false,
     "requests received and not yet answered, on all connections together (pipelined ones and "
     "long-polls included); past it 503 with Retry-After"},
    {"limits", "max_queued_per_identity", T_UINT, OFF(max_queued_per_identity), "256", 1, 10000000,
     false,
     "the same for one certificate identity (or one public address), so that no one client "
     "takes the node's whole queue; past it 503 with Retry-After"},
    {"limits", "max_queued_body_bytes", T_SIZE, OFF(max_queued_body_bytes), "256M", 0,
     64 * 1024 * MIB, false,
     "request bodies held by those requests, by requests still arriving, and by batches still "
     "being stored after their client left; past it 503 with Retry-After (a body still "
     "arriving: and close); at least max_body_bytes"},
    {"limits", "max_batch_records", T_UINT, OFF(max_batch_records), "1000", 1, 100000, false,
     "records in one POST /v1/records; past it 413"},
    {"limits", "max_wait", T_DURATION, OFF(max_wait_ms), "60s", 0, 600000, false,
     "longest long-poll a client may ask for with wait= on a change feed"},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static int parse_uint(const char *s, uint64_t *out, uint64_t *unit, key_type_t type)
{
    errno = 0;
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    uint64_t mult = 1;
    if (type == T_SIZE) {
        if (*end == 'k' || *end == 'K')
            mult = KIB, end++;
        else if (*end == 'M')
            mult = MIB, end++;
        else if (*end == 'G')
            mult = 1024 * MIB, end++;
    } else if (type == T_DURATION) {
        mult = 1000; /* bare number: seconds */
        if (strcmp(end, "ms") == 0)
            mult = 1, end += 2;
        else if (*end == 's')
            mult = 1000, end++;
        else if (*end == 'm')
            mult = 60000, end++;
        else if (*end == 'h')
            mult = 3600000, end++;
    }
    if (*end != '\0' || (v && mult > UINT64_MAX / v))
        return -1;
    *out = v * mult;
    *unit = mult;
    return 0;
}

typedef struct {
    config_t *cfg;
    const char *path;
    char *dir; /* folder of the file, for relative paths */
    bool seen[N_KEYS];
    char *err;
    size_t err_len;
    int failed;
} load_ctx_t;

static void set_string(char **slot, const char *v)
{
    free(*slot);
    *slot = xstrdup(v);
}

static char *resolve_path(const char *dir, const char *v)
{
    if (v[0] == '/' || v[0] == '\0' || !dir)
        return xstrdup(v);
    size_t n = strlen(dir) + strlen(v) + 2;
    char *p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/%s", dir, v);
    return p;
}

/* "%d/NAME": the file NAME of systemd's credentials directory ($CREDENTIALS_DIRECTORY, set
 * for a unit with LoadCredential=), the way a unit file's own %d specifier reads. The key
 * then stays readable by root only on disk, and systemd hands the service a private copy. */
static int expand_credential(const char *v, char **out, char *why, size_t why_len)
{
    const char *name = v + 3;
    const char *cdir = getenv("CREDENTIALS_DIRECTORY");
    if (!cdir || cdir[0] != '/') {
        snprintf(why, why_len,
                 "names a credential (%%d/) but $CREDENTIALS_DIRECTORY is not set (start the node "
                 "with systemd's LoadCredential=, or give a file path)");
        return -1;
    }
    if (name[0] == '\0' || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        snprintf(why, why_len, "must name one credential after %%d/ (like %%d/node.key)");
        return -1;
    }
    size_t n = strlen(cdir) + strlen(name) + 2;
    if (n > PATH_MAX) {
        snprintf(why, why_len, "credential path is longer than %d bytes", PATH_MAX);
        return -1;
    }
    *out = malloc(n);
    if (!*out)
        abort();
    snprintf(*out, n, "%s/%s", cdir, name);
    return 0;
}

static int set_value(const key_t_ *k, config_t *cfg, const char *dir, const char *v, char *why,
                     size_t why_len)
{
    void *slot = (char *)cfg + k->offset;
    uint64_t n, unit;
    switch (k->type) {
    case T_STR:
        set_string(slot, v);
        return 0;
    case T_PATH: {
        char *p = NULL;
        if (strncmp(v, "%d/", 3) == 0) {
            if (expand_credential(v, &p, why, why_len) != 0)
                return -1;
        } else {
            p = resolve_path(dir, v);
        }
        free(*(char **)slot);
        *(char **)slot = p;
        return 0;
    }
    case T_COUNT:
        if (strcmp(v, "auto") == 0) {
            *(uint64_t *)slot = 0;
            return 0;
        }
        /* fall through */
    case T_UINT:
    case T_SIZE:
    case T_DURATION:
        if (parse_uint(v, &n, &unit, k->type) != 0) {
            snprintf(why, why_len, "is not a %s",
                     k->type == T_SIZE       ? "size (like 16k or 8M)"
                     : k->type == T_DURATION ? "duration (like 10s or 500ms)"
                     : k->type == T_COUNT    ? "whole number or auto"
                                             : "whole number");
            return -1;
        }
        if (n < k->min || (k->max && n > k->max)) {
            snprintf(why, why_len, "must be between %llu and %llu%s", (unsigned long long)k->min,
                     (unsigned long long)k->max,
                     k->type == T_DURATION ? " ms"
                     : k->type == T_SIZE   ? " bytes"
                                           : "");
            return -1;
        }
        *(uint64_t *)slot = n;
        return 0;
    }
    return -1;
}

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    load_ctx_t *ctx = user;
    if (ctx->failed)
        return 1; /* report only the first error */
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].section, section) != 0 || strcmp(keys[i].name, name) != 0)
            continue;
        char why[160];
        if (ctx->seen[i]) {
            snprintf(ctx->err, ctx->err_len, "%s: [%s] %s is set twice", ctx->path, section, name);
            ctx->failed = 1;
            return 0;
        }
        ctx->seen[i] = true;
        if (set_value(&keys[i], ctx->cfg, ctx->dir, value, why, sizeof(why)) != 0) {
            snprintf(ctx->err, ctx->err_len, "%s: [%s] %s %s", ctx->path, section, name, why);
            ctx->failed = 1;
            return 0;
        }
        return 1;
    }
    if (strncmp(section, "peer ", 5) == 0) {
        char why[200];
        if (config_peer_set(ctx->cfg, section + 5, name, value, why, sizeof(why)) != 0) {
            snprintf(ctx->err, ctx->err_len, "%s: [%s] %s", ctx->path, section, why);
            ctx->failed = 1;
            return 0;
        }
        return 1;
    }
    snprintf(ctx->err, ctx->err_len, "%s: unknown key [%s] %s", ctx->path, section, name);
    ctx->failed = 1;
    return 0;
}

void config_defaults(config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    char why[160];
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].def && set_value(&keys[i], cfg, NULL, keys[i].def, why, sizeof(why)) != 0)
            abort(); /* a bad default is a programming error */
    }
}

static int split_listen(const char *s, char **host_out, int *port_out, const char *key, char *err,
                        size_t err_len, const char *path)
{
    const char *colon;
    char host[256];
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            goto bad;
        if ((size_t)(close - s - 1) >= sizeof(host))
            goto bad;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof(host) || colon == s)
            goto bad;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || port < 0 || port > 65535 || colon[1] == '\0')
        goto bad;
    set_string(host_out, host);
    *port_out = (int)port;
    return 0;
bad:
    snprintf(err, err_len, "%s: %s must be host:port or [v6addr]:port", path, key);
    return TR_E_CONFIG;
}

int config_load(config_t *cfg, const char *path, char *err, size_t err_len)
{
    load_ctx_t ctx = {.cfg = cfg, .path = path, .err = err, .err_len = err_len};
    const char *slash = strrchr(path, '/');
    if (slash) {
        ctx.dir = strndup(path, (size_t)(slash - path) + (slash == path));
        if (!ctx.dir)
            abort();
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        free(ctx.dir);
        return TR_E_CONFIG;
    }
    int line = ini_parse_file(f, on_ini, &ctx);
    fclose(f);
    free(ctx.dir);
    if (ctx.failed)
        return TR_E_CONFIG;
    if (line != 0) {
        snprintf(err, err_len, "%s: line %d: not an INI line (section, key = value, comment)", path,
                 line);
        return TR_E_CONFIG;
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].required && !ctx.seen[i]) {
            snprintf(err, err_len, "%s: missing required key [%s] %s (%s)", path, keys[i].section,
                     keys[i].name, keys[i].help);
            return TR_E_CONFIG;
        }
    }
    log_level_t lvl;
    if (log_level_parse(cfg->log_level, &lvl) != 0) {
        snprintf(err, err_len, "%s: [node] log_level must be debug, info, warn or error", path);
        return TR_E_CONFIG;
    }
    if (strcmp(cfg->directory_index, "on") && strcmp(cfg->directory_index, "off")) {
        snprintf(err, err_len, "%s: [directory] index must be on or off", path);
        return TR_E_CONFIG;
    }
    if (strcmp(cfg->log_requests, "off") && strcmp(cfg->log_requests, "errors") &&
        strcmp(cfg->log_requests, "all")) {
        snprintf(err, err_len, "%s: [node] log_requests must be off, errors or all", path);
        return TR_E_CONFIG;
    }
    if (config_sharing_check(cfg, err, err_len, path) != 0)
        return TR_E_CONFIG;
    if (cfg->max_queued_body_bytes < cfg->max_body_bytes) {
        snprintf(err, err_len, "%s: [limits] max_queued_body_bytes must be at least max_body_bytes",
                 path);
        return TR_E_CONFIG;
    }
    if (config_peers_check(cfg, err, err_len, path) != 0)
        return TR_E_CONFIG;
    if (cfg->public_listen[0] &&
        split_listen(cfg->public_listen, &cfg->public_host, &cfg->public_port, "[public] listen",
                     err, err_len, path) != 0)
        return TR_E_CONFIG;
    if (cfg->viewer_listen[0] &&
        split_listen(cfg->viewer_listen, &cfg->viewer_host, &cfg->viewer_port, "[viewer] listen",
                     err, err_len, path) != 0)
        return TR_E_CONFIG;
    if (config_viewer_check(cfg, err, err_len, path) != 0)
        return TR_E_CONFIG;
    return split_listen(cfg->listen, &cfg->listen_host, &cfg->listen_port, "[node] listen", err,
                        err_len, path);
}

void config_free(config_t *cfg)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (keys[i].type == T_STR || keys[i].type == T_PATH) {
            char **slot = (char **)((char *)cfg + keys[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
    free(cfg->listen_host);
    cfg->listen_host = NULL;
    free(cfg->public_host);
    cfg->public_host = NULL;
    config_peers_free(cfg);
    config_viewer_free(cfg);
}

void config_write_example(FILE *out)
{
    fprintf(out, "# trellisd configuration (INI). Every key with its default; relative paths\n"
                 "# are taken from this file's folder. Durations: 10s, 500ms, 2m. Sizes: 16k, 8M.\n"
                 "# A path %%d/NAME is the credential NAME of systemd's LoadCredential=\n"
                 "# (in $CREDENTIALS_DIRECTORY), e.g. key = %%d/node.key.\n");
    const char *section = "";
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_t_ *k = &keys[i];
        if (strcmp(section, k->section) != 0) {
            fprintf(out, "\n[%s]\n", k->section);
            section = k->section;
        }
        fprintf(out, "# %s%s\n", k->help, k->required ? " (required)" : "");
        if (k->def)
            fprintf(out, "%s%s = %s\n", k->required ? "" : ";", k->name, k->def);
        else
            fprintf(out, "%s = \n", k->name);
    }
    config_peers_write_example(out);
}
