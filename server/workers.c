/* The supervisor of [node] workers > 1, the way nginx's master and
 * PgBouncer's so_reuseport work: the parent binds nothing and opens no
 * database connection; it forks the workers, each a whole node (its own libuv
 * loop, pool and listeners bound with SO_REUSEPORT), forwards SIGHUP and
 * SIGTERM/SIGINT to them, restarts one that dies (with back-off), and exits
 * once all have stopped. The parent never touches libuv's loop, so no child
 * inherits one. */
#define _GNU_SOURCE /* pipe2 */
#include "workers.h"
#include "log.h"
#include "node.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define STABLE_MS 60000    /* a worker that lived this long restarts after the shortest delay */
#define KILL_GRACE_MS 5000 /* past [node] shutdown_timeout, what still runs is killed */

typedef struct {
    pid_t pid;           /* 0: not running */
    int ready_fd;        /* read end of the pipe it says "ready" on; -1: closed */
    bool ready;          /* it takes writes (node.c on_ready_check) */
    unsigned lives;      /* times started */
    uint64_t started_ms; /* of its current life */
    uint64_t backoff_ms; /* the delay before its next restart */
    uint64_t restart_at; /* monotonic ms; 0: none planned */
} worker_t;

typedef struct {
    config_t *cfg; /* borrowed */
    const char *config_path;
    unsigned n;
    worker_t w[CONFIG_MAX_WORKERS + 1]; /* 1..n */
    pid_t pid;                          /* the supervisor's */
    int sigfd;
    sigset_t oldmask; /* what a worker gets back */
    bool all_started; /* the first took writes and the others were forked */
    bool stopping;    /* SIGTERM/SIGINT or a failed start: nothing restarts */
    uint64_t kill_at; /* while stopping: SIGKILL to what still runs */
    int exit_code;
} sup_t;

static sup_t sup; /* one per process; static so that a worker's copy holds no leak */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned workers_count(const config_t *cfg)
{
    uint64_t n = cfg->workers ? cfg->workers : uv_available_parallelism();
    if (n < 1)
        n = 1;
    return n > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : (unsigned)n;
}

static const char *signal_name(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "?";
}

/* ---- a worker's life, in the child ---- */

static int worker_main(unsigned id, int ready_fd)
{
    log_set_worker(id);
    /* A supervisor killed with -9 must not leave its workers serving alone. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != sup.pid)
        return 1; /* it died before the line above */
    signal(SIGPIPE, SIG_IGN);
    sup.cfg->worker = id;
    sup.cfg->ready_fd = ready_fd;
    static node_t node;
    char err[1024];
    if (node_init(&node, uv_default_loop(), sup.cfg, sup.config_path, err, sizeof(err)) != 0) {
        log_event(LOG_ERROR, "start_failed", json_pack("{s:s}", "error", err));
        return 1;
    }
    sigprocmask(SIG_SETMASK, &sup.oldmask, NULL); /* the node's handlers are in place */
    return node_run(&node);
}

static void plan_restart(worker_t *w, unsigned id);

static void start_worker(unsigned id)
{
    worker_t *w = &sup.w[id];
    int p[2];
    w->restart_at = 0;
    if (pipe2(p, O_CLOEXEC) != 0) {
        log_event(LOG_ERROR, "worker_start_failed",
                  json_pack("{s:i, s:s}", "worker", id, "error", strerror(errno)));
        plan_restart(w, id);
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_event(LOG_ERROR, "worker_start_failed",
                  json_pack("{s:i, s:s}", "worker", id, "error", strerror(errno)));
        close(p[0]);
        close(p[1]);
        plan_restart(w, id);
        return;
    }
    if (pid == 0) {
        close(p[0]);
        close(sup.sigfd);
        for (unsigned i = 1; i <= sup.n; i++)
            if (sup.w[i].ready_fd >= 0)
                close(sup.w[i].ready_fd);
        /* SIGTERM, SIGINT and SIGHUP stay blocked until the node has its
         * handlers (worker_main): one sent meanwhile waits, rather than
         * killing a worker half-started. */
        sigset_t held = sup.oldmask;
        sigaddset(&held, SIGTERM);
        sigaddset(&held, SIGINT);
        sigaddset(&held, SIGHUP);
        sigprocmask(SIG_SETMASK, &held, NULL);
        exit(worker_main(id, p[1]));
    }
    close(p[1]);
    w->pid = pid;
    w->ready_fd = p[0];
    w->ready = false;
    w->lives++;
    w->started_ms = now_ms();
    log_event(LOG_INFO, "worker_started",
              json_pack("{s:i, s:i, s:i}", "worker", id, "pid", (int)pid, "life", w->lives));
}

static void plan_restart(worker_t *w, unsigned id)
{
    uint64_t now = now_ms();
    if (w->lives && now - w->started_ms >= STABLE_MS)
        w->backoff_ms = BACKOFF_MIN_MS;
    w->restart_at = now + w->backoff_ms;
    log_event(LOG_WARN, "worker_restarting",
              json_pack("{s:i, s:I}", "worker", id, "delay_ms", (json_int_t)w->backoff_ms));
    w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : w->backoff_ms * 2;
}

/* ---- what the supervisor does ---- */

static unsigned live_workers(void)
{
    unsigned n = 0;
    for (unsigned i = 1; i <= sup.n; i++)
        n += sup.w[i].pid != 0;
    return n;
}

static void forward(int sig)
{
    for (unsigned i = 1; i <= sup.n; i++)
        if (sup.w[i].pid)
            kill(sup.w[i].pid, sig);
}

static void begin_stop(int sig, int exit_code)
{
    if (exit_code > sup.exit_code)
        sup.exit_code = exit_code;
    forward(sig); /* again on a second signal: a worker's shutdown is idempotent */
    if (sup.stopping)
        return;
    sup.stopping = true;
    sup.kill_at = now_ms() + sup.cfg->shutdown_timeout_ms + KILL_GRACE_MS;
    for (unsigned i = 1; i <= sup.n; i++)
        sup.w[i].restart_at = 0;
}

static void close_ready(worker_t *w)
{
    if (w->ready_fd >= 0)
        close(w->ready_fd);
    w->ready_fd = -1;
}

static void on_ready(unsigned id)
{
    worker_t *w = &sup.w[id];
    char c;
    ssize_t n = read(w->ready_fd, &c, 1);
    if (n < 0 && errno == EINTR)
        return;
    if (n == 1 && !w->ready) {
        w->ready = true;
        log_event(LOG_INFO, "worker_ready",
                  json_pack("{s:i, s:i}", "worker", id, "pid", (int)w->pid));
    }
    close_ready(w); /* one byte is all it ever says; EOF: it closed or died */
    if (id == 1 && w->ready && !sup.all_started && !sup.stopping) {
        /* The restore check ran in the first worker: the others may take writes now. */
        sup.all_started = true;
        for (unsigned i = 2; i <= sup.n; i++)
            start_worker(i);
    }
}

static void on_exit_status(pid_t pid, int status)
{
    unsigned id = 0;
    for (unsigned i = 1; i <= sup.n && !id; i++)
        if (sup.w[i].pid == pid)
            id = i;
    if (!id)
        return;
    worker_t *w = &sup.w[id];
    w->pid = 0;
    close_ready(w);
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    json_t *f = json_pack("{s:i, s:i, s:I}", "worker", id, "pid", (int)pid, "lived_ms",
                          (json_int_t)(now_ms() - w->started_ms));
    if (WIFEXITED(status))
        json_object_set_new(f, "exit_code", json_integer(WEXITSTATUS(status)));
    else if (WIFSIGNALED(status))
        json_object_set_new(f, "signal", json_integer(WTERMSIG(status)));
    log_event(clean || sup.stopping ? LOG_INFO : LOG_ERROR, "worker_exited", f);
    if (sup.stopping) {
        if (!clean && sup.exit_code == 0)
            sup.exit_code = 1;
        return;
    }
    if (w->lives == 1 && !w->ready) {
        /* Never got going (a port taken, a certificate refused): restarting
         * would fail the same way. Stop the rest and say so. */
        log_event(LOG_ERROR, "workers_start_failed",
                  json_pack("{s:i, s:s}", "worker", id, "action",
                            "stopping every worker: see the worker's start_failed line"));
        begin_stop(SIGTERM, 1);
        return;
    }
    plan_restart(w, id);
}

static void on_signals(void)
{
    struct signalfd_siginfo si;
    while (read(sup.sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) {
            int status;
            pid_t pid;
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                on_exit_status(pid, status);
            continue;
        }
        log_event(LOG_INFO, "signal",
                  json_pack("{s:s, s:i}", "signal", signal_name(sig), "forwarded_to",
                            (int)live_workers()));
        if (sig == SIGHUP)
            forward(SIGHUP);
        else
            begin_stop(sig, 0);
    }
}

/* Restarts and the kill deadline that are due; the poll timeout until the next. */
static int on_timers(void)
{
    uint64_t now = now_ms(), next = UINT64_MAX;
    if (sup.stopping && now >= sup.kill_at && live_workers()) {
        log_event(LOG_ERROR, "workers_killed",
                  json_pack("{s:i, s:s}", "workers", (int)live_workers(), "reason",
                            "still running past [node] shutdown_timeout"));
        forward(SIGKILL);
        sup.exit_code = 1;
        sup.kill_at = UINT64_MAX;
    }
    if (sup.stopping && sup.kill_at != UINT64_MAX)
        next = sup.kill_at;
    for (unsigned i = 1; i <= sup.n; i++) {
        worker_t *w = &sup.w[i];
        if (!w->restart_at || sup.stopping)
            continue;
        if (now >= w->restart_at)
            start_worker(i);
        else if (w->restart_at < next)
            next = w->restart_at;
    }
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}

int workers_run(config_t *cfg, const char *config_path, unsigned n)
{
    memset(&sup, 0, sizeof(sup));
    sup.cfg = cfg;
    sup.config_path = config_path;
    sup.n = n;
    sup.pid = getpid();
    for (unsigned i = 1; i <= n; i++) {
        sup.w[i].ready_fd = -1;
        sup.w[i].backoff_ms = BACKOFF_MIN_MS;
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &sup.oldmask);
    sup.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sup.sigfd < 0) {
        log_event(LOG_ERROR, "start_failed",
                  json_pack("{s:s, s:s}", "error", "signalfd", "detail", strerror(errno)));
        sigprocmask(SIG_SETMASK, &sup.oldmask, NULL);
        return 1;
    }
    log_event(LOG_INFO, "workers_starting",
              json_pack("{s:i, s:i, s:s}", "workers", (int)n, "pid", (int)getpid(), "listen",
                        cfg->listen));
    /* The first alone until it takes writes: see on_ready. */
    start_worker(1);
    for (;;) {
        int timeout = on_timers();
        if (sup.stopping && live_workers() == 0)
            break;
        struct pollfd fds[CONFIG_MAX_WORKERS + 1];
        unsigned ids[CONFIG_MAX_WORKERS + 1];
        nfds_t nfds = 0;
        fds[nfds++] = (struct pollfd){.fd = sup.sigfd, .events = POLLIN};
        for (unsigned i = 1; i <= n; i++) {
            if (sup.w[i].ready_fd >= 0) {
                ids[nfds] = i;
                fds[nfds++] = (struct pollfd){.fd = sup.w[i].ready_fd, .events = POLLIN};
            }
        }
        if (poll(fds, nfds, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_event(LOG_ERROR, "workers_poll_failed",
                      json_pack("{s:s}", "error", strerror(errno)));
            begin_stop(SIGTERM, 1);
            continue;
        }
        for (nfds_t i = 1; i < nfds; i++)
            if (fds[i].revents)
                on_ready(ids[i]);
        if (fds[0].revents)
            on_signals();
    }
    close(sup.sigfd);
    sigprocmask(SIG_SETMASK, &sup.oldmask, NULL);
    log_event(LOG_INFO, "stopped",
              json_pack("{s:i, s:s}", "exit_code", sup.exit_code, "role", "supervisor"));
    return sup.exit_code;
}
