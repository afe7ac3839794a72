/* Progress output (progress.h). */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void progress_init(progress_t *p, bool quiet)
{
    *p = (progress_t){0};
    pthread_mutex_init(&p->mu, NULL);
    p->quiet = quiet;
    p->tty = !quiet && isatty(STDERR_FILENO);
    p->start = now_s();
}

static void draw(progress_t *p, bool force)
{
    if (!p->tty)
        return;
    double t = now_s();
    if (!force && t - p->last_draw < 0.1)
        return;
    p->last_draw = t;
    double rate = (double)(p->sent ? p->sent : p->read) / (t - p->start > 0.001 ? t - p->start : 1);
    char bar[21] = "--------------------";
    int64_t total = p->to_send > p->sent ? p->to_send : p->sent;
    int fill = total ? (int)(20 * p->sent / total) : 0;
    for (int i = 0; i < fill && i < 20; i++)
        bar[i] = '#';
    fprintf(stderr,
            "\r[%s] read %lld  sent %lld  stored %lld  unchanged %lld  refused %lld  "
            "quarantined %lld  %.0f/s ",
            bar, (long long)p->read, (long long)p->sent, (long long)p->stored,
            (long long)p->unchanged, (long long)p->refused, (long long)p->quarantined, rate);
    fflush(stderr);
}

void progress_row(progress_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->read++;
    if ((p->read & 1023) == 0)
        draw(p, false);
    pthread_mutex_unlock(&p->mu);
}

void progress_quarantined(progress_t *p)
{
    pthread_mutex_lock(&p->mu);
    p->quarantined++;
    pthread_mutex_unlock(&p->mu);
}

void progress_expect(progress_t *p, int64_t queued)
{
    pthread_mutex_lock(&p->mu);
    p->to_send = p->sent + queued;
    pthread_mutex_unlock(&p->mu);
}

void progress_batch(progress_t *p, int64_t n, int64_t stored, int64_t unchanged, int64_t refused)
{
    pthread_mutex_lock(&p->mu);
    p->batches++;
    p->sent += n;
    p->stored += stored;
    p->unchanged += unchanged;
    p->refused += refused;
    if (p->tty) {
        draw(p, false);
    } else if (!p->quiet) {
        fprintf(stderr,
                "trellis: batch %d: %lld sent, %lld stored, %lld unchanged, %lld refused "
                "(%lld of %lld)\n",
                p->batches, (long long)n, (long long)stored, (long long)unchanged,
                (long long)refused, (long long)p->sent, (long long)p->to_send);
    }
    pthread_mutex_unlock(&p->mu);
}

void progress_wait(progress_t *p, double seconds, const char *why)
{
    if (p->quiet)
        return;
    pthread_mutex_lock(&p->mu);
    if (p->tty)
        fputc('\n', stderr);
    fprintf(stderr, "trellis: %s; retrying in %.1f s\n", why, seconds);
    pthread_mutex_unlock(&p->mu);
}

void progress_end(progress_t *p)
{
    pthread_mutex_lock(&p->mu);
    if (p->tty) {
        draw(p, true);
        fputc('\n', stderr);
    }
    pthread_mutex_unlock(&p->mu);
}
