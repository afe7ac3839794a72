/* The inbox loop (agent_run.h). */
#include "agent_run.h"

#include "agent_config.h"
#include "agent_identity.h"
#include "cli.h"
#include "directory.h"
#include "node_http.h"
#include "push.h"
#include "referral_cmd.h"
#include "send.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_WATCHED 256

static volatile int stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

/* What the last look saw of a file, to tell a finished file from one still
 * being written. */
typedef struct {
    char name[NAME_MAX + 1];
    off_t size;
    struct timespec mtime;
    bool seen;
} watched_t;

typedef struct {
    agent_config_t *c;
    push_ctx_t x;
    node_http_t *h;
    progress_t progress;
    watched_t w[MAX_WATCHED];
    size_t n_w;
    dir_format_t dir_format; /* with [agent] directory_out */
    pthread_t dir_thread;
    bool dir_started;
} run_t;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "trellis agent: %s\n", msg);
}

static bool ignored_name(const char *name)
{
    size_t n = strlen(name);
    static const char *const tails[] = {".tmp", ".part", ".partial", ".why", "~"};
    if (name[0] == '.' || n == 0)
        return true;
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        size_t t = strlen(tails[i]);
        if (n >= t && strcmp(name + n - t, tails[i]) == 0)
            return true;
    }
    return false;
}

static const char *mapping_for(const agent_config_t *c, const char *name)
{
    for (size_t i = 0; i < c->n_mappings; i++)
        if (fnmatch(c->mappings[i].glob, name, 0) == 0)
            return c->mappings[i].file;
    return NULL;
}

/* Move inbox/name to inbox/sub/name (a time suffix if taken), and write
 * the .why beside it when why is not empty. */
static void move_to(run_t *r, const char *name, const char *sub, const char *why)
{
    char dir[PATH_MAX], from[PATH_MAX], to[PATH_MAX + 32], whyp[PATH_MAX + 40];
    snprintf(dir, sizeof(dir), "%s/%s", r->c->inbox, sub);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        say("cannot create %s: %s", dir, strerror(errno));
    snprintf(from, sizeof(from), "%s/%s", r->c->inbox, name);
    snprintf(to, sizeof(to), "%s/%s", dir, name);
    if (access(to, F_OK) == 0)
        snprintf(to, sizeof(to), "%s/%s.%lld", dir, name, (long long)time(NULL));
    if (why && why[0]) {
        snprintf(whyp, sizeof(whyp), "%s.why", to);
        FILE *f = fopen(whyp, "w");
        if (f) {
            fputs(why, f);
            fclose(f);
        }
    }
    if (rename(from, to) != 0)
        say("cannot move %s to %s: %s", from, to, strerror(errno));
}

static void take(run_t *r, const char *name)
{
    char path[PATH_MAX], err[512];
    snprintf(path, sizeof(path), "%s/%s", r->c->inbox, name);
    const char *map_path = mapping_for(r->c, name);
    if (!map_path) {
        say("%s: no [mappings] pattern matches this name: moved to failed/", name);
        move_to(r, name, "failed",
                "No mapping: no pattern in agent.conf's [mappings] matches "
                "this file's name.\n");
        return;
    }
    mapping_t *m = mapping_load(map_path, err, sizeof(err));
    if (!m) {
        say("%s", err);
        char why[600];
        snprintf(why, sizeof(why), "The mapping could not be loaded: %s\n", err);
        move_to(r, name, "failed", why);
        return;
    }
    char *report = NULL;
    size_t report_len = 0;
    FILE *rep = open_memstream(&report, &report_len);
    r->x.report = rep;
    push_stats_t st;
    int rc = push_file(&r->x, m, path, &st, err, sizeof(err));
    r->x.report = NULL;
    fclose(rep);
    mapping_free(m);
    if (rc != 0) {
        say("%s: %s: moved to failed/", name, err);
        size_t n = strlen(err) + report_len + 64;
        char *why = malloc(n);
        if (!why)
            abort();
        snprintf(why, n, "Nothing of this file was sent: %s\n%s", err, report);
        move_to(r, name, "failed", why);
        free(why);
    } else {
        say("%s: %lld rows read, %lld records spooled, %lld quarantined, %lld not sent: moved "
            "to done/",
            name, (long long)st.rows, (long long)st.records, (long long)st.quarantined,
            (long long)st.row_errors);
        move_to(r, name, "done", report);
    }
    free(report);
}

/* One look at the inbox: take every file that has stopped changing. */
static void scan(run_t *r)
{
    DIR *d = opendir(r->c->inbox);
    if (!d) {
        say("cannot read the inbox %s: %s", r->c->inbox, strerror(errno));
        return;
    }
    for (size_t i = 0; i < r->n_w; i++)
        r->w[i].seen = false;
    struct dirent *e;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char ready[16][NAME_MAX + 1];
    size_t n_ready = 0;
    while ((e = readdir(d)) != NULL) {
        if (ignored_name(e->d_name))
            continue;
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", r->c->inbox, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        watched_t *w = NULL;
        for (size_t i = 0; i < r->n_w; i++)
            if (strcmp(r->w[i].name, e->d_name) == 0)
                w = &r->w[i];
        bool stable = w && w->size == st.st_size && w->mtime.tv_sec == st.st_mtim.tv_sec &&
                      w->mtime.tv_nsec == st.st_mtim.tv_nsec &&
                      now.tv_sec - st.st_mtim.tv_sec >= r->c->settle;
        if (!w && r->n_w < MAX_WATCHED) {
            w = &r->w[r->n_w++];
            snprintf(w->name, sizeof(w->name), "%s", e->d_name);
        }
        if (!w)
            continue;
        w->size = st.st_size;
        w->mtime = st.st_mtim;
        w->seen = true;
        if (stable && n_ready < 16)
            snprintf(ready[n_ready++], NAME_MAX + 1, "%s", e->d_name);
    }
    closedir(d);
    /* Forget what has gone. */
    size_t k = 0;
    for (size_t i = 0; i < r->n_w; i++)
        if (r->w[i].seen)
            r->w[k++] = r->w[i];
    r->n_w = k;
    for (size_t i = 0; i < n_ready && !stopping; i++) {
        take(r, ready[i]);
        for (size_t j = 0; j < r->n_w; j++)
            if (strcmp(r->w[j].name, ready[i]) == 0)
                r->w[j].seen = false, r->w[j].size = -1;
    }
}

static void send_spool(run_t *r)
{
    char err[512];
    spool_counts_t c;
    if (spool_counts(r->x.spool, &c, err, sizeof(err)) != 0 || c.queued == 0)
        return;
    int64_t before = r->progress.refused;
    int rc = send_queue(r->x.spool, r->h, r->c, &r->progress, err, sizeof(err));
    if (rc != SEND_OK)
        say("%s (%lld records stay spooled; retrying later)", err, (long long)c.queued);
    if (r->progress.refused > before)
        say("%lld records refused by the node: trellis refused list",
            (long long)(r->progress.refused - before));
}

static void note_directory(const char *msg)
{
    say("%s", msg);
}

/* [agent] directory_out: the long-poll change feed in a thread of its own,
 * on a node connection of its own, so that waiting on the feed never holds
 * up the inbox, and a change reaches the file within a second or so. */
static void *directory_thread(void *arg)
{
    run_t *r = arg;
    char err[512];
    node_http_t *h = node_http_new(r->c, err, sizeof(err));
    if (!h) {
        say("directory: %s (not kept)", err);
        return NULL;
    }
    dir_keep_t k = {r->c->directory_out, r->dir_format, true, &stopping, note_directory};
    dir_keep(&k, h, NULL, err, sizeof(err));
    node_http_free(h);
    return NULL;
}

/* --once: one read of the feed and one write, on the main thread. */
static void directory_once(run_t *r)
{
    char err[512];
    size_t n = 0;
    dir_keep_t k = {r->c->directory_out, r->dir_format, false, &stopping, NULL};
    if (dir_keep(&k, r->h, &n, err, sizeof(err)) != NODE_OK)
        say("directory: %s (the file keeps its last copy)", err);
    else
        say("directory: wrote %s (%zu services)", r->c->directory_out, n);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: trellis agent run [--once] [SETTINGS]\n\n"
                 "Watch [agent] inbox: push each complete export with the mapping its name\n"
                 "matches in [mappings], move it to done/ (or failed/ with a .why file), and\n"
                 "send the spool. --once: one look at the inbox, send, and exit.\n\n");
    agent_config_usage(out);
}

int agent_run_main(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
    }
    agent_config_t c;
    bool is_usage, once = false;
    char err[512];
    if (agent_config_load(&c, &argc, argv, &is_usage, err, sizeof(err)) != 0) {
        cli_error("%s", err);
        agent_config_free(&c);
        return is_usage ? CLI_EXIT_USAGE : CLI_EXIT_LOCAL;
    }
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--once")) {
            once = true;
        } else {
            cli_error("unknown argument '%s' (see trellis agent run --help)", argv[i]);
            agent_config_free(&c);
            return CLI_EXIT_USAGE;
        }
    }
    run_t *r = calloc(1, sizeof(*r));
    if (!r)
        abort();
    r->c = &c;
    int rc = CLI_EXIT_LOCAL;
    tr_identity_t me;
    if (!c.inbox) {
        cli_error("no inbox folder: set [agent] inbox (--inbox, TRELLIS_INBOX)");
        goto done;
    }
    if (agent_identity(&c, &me, err, sizeof(err)) != 0 ||
        agent_secret_load(c.secret, r->x.secret, err, sizeof(err)) != 0 ||
        agent_config_require_node(&c, err, sizeof(err)) != 0 ||
        !(r->x.spool = spool_open(c.spool, err, sizeof(err))) ||
        !(r->h = node_http_new(&c, err, sizeof(err)))) {
        cli_error("%s", err);
        goto done;
    }
    if (c.directory_out && dir_format_parse(c.directory_format, &r->dir_format) != 0) {
        cli_error("[agent] directory_format must be json or csv");
        goto done;
    }
    r->x.origin = me.org;
    progress_init(&r->progress, false);
    r->progress.tty = false; /* a daemon: plain lines */
    r->x.progress = &r->progress;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    node_http_set_stop_flag(&stopping);
    say("watching %s (agent %s of %s, node %s)", c.inbox, me.name, me.org, c.node_url);
    if (c.directory_out && !once) {
        int e = pthread_create(&r->dir_thread, NULL, directory_thread, r);
        if (e != 0)
            say("directory: cannot start its thread: %s (not kept)", strerror(e));
        r->dir_started = e == 0;
    }
    while (!stopping) {
        scan(r);
        if (!stopping)
            send_spool(r);
        if (!stopping && c.directory_out && once)
            directory_once(r);
        if (!stopping && c.outbox) {
            size_t written;
            if (outbox_write(&c, r->x.spool, &written, err, sizeof(err)) != 0)
                say("outbox: %s", err);
            else if (written)
                say("outbox: %zu new inbound referral%s written to %s", written,
                    written == 1 ? "" : "s", c.outbox);
        }
        if (once)
            break;
        for (long s = 0; s < c.poll * 10 && !stopping; s++) {
            struct timespec ts = {0, 100000000};
            nanosleep(&ts, NULL);
        }
    }
    if (r->dir_started) {
        stopping = 1; /* --once, or a signal: the thread's long poll ends within a second */
        pthread_join(r->dir_thread, NULL);
    }
    say("stopped");
    rc = CLI_EXIT_OK;
done:
    node_http_set_stop_flag(NULL);
    node_http_free(r->h);
    spool_close(r->x.spool);
    free(r);
    agent_config_free(&c);
    return rc;
}
