/* The sender thread of a streaming push (push_sender.h). */
#include "push_sender.h"

#include "send.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct push_sender {
    const agent_config_t *c;
    node_http_t *h;
    progress_t *p;
    spool_t *spool; /* the sender's own connection */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t more;
    uint64_t chunks; /* commits the reader has signalled */
    bool done;       /* the reader has finished */
    int rc;
    char err[512];
};

static void *sender_main(void *arg)
{
    push_sender_t *s = arg;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->done && s->chunks == seen)
            pthread_cond_wait(&s->more, &s->mu);
        seen = s->chunks;
        bool last = s->done;
        pthread_mutex_unlock(&s->mu);
        /* Sends until the queue is empty, including what is committed while
         * it runs; a node out of reach past retry_for ends the sending, and
         * the reader spools on for `trellis sync`. */
        s->rc = send_queue(s->spool, s->h, s->c, s->p, s->err, sizeof(s->err));
        if (s->rc != SEND_OK || last)
            break;
    }
    return NULL;
}

push_sender_t *push_sender_start(const agent_config_t *c, spool_gate_t *gate, node_http_t *h,
                                 progress_t *p, char *err, size_t err_len)
{
    push_sender_t *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    s->c = c;
    s->h = h;
    s->p = p;
    if (!(s->spool = spool_open(c->spool, err, err_len))) {
        free(s);
        return NULL;
    }
    spool_set_gate(s->spool, gate);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->more, NULL);
    int e = pthread_create(&s->thread, NULL, sender_main, s);
    if (e != 0) {
        snprintf(err, err_len, "cannot start the sender thread: %s", strerror(e));
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->more);
        spool_close(s->spool);
        free(s);
        return NULL;
    }
    return s;
}

void push_sender_wake(void *sender)
{
    push_sender_t *s = sender;
    pthread_mutex_lock(&s->mu);
    s->chunks++;
    pthread_cond_signal(&s->more);
    pthread_mutex_unlock(&s->mu);
}

int push_sender_finish(push_sender_t *s, char *err, size_t err_len)
{
    pthread_mutex_lock(&s->mu);
    s->done = true;
    pthread_cond_signal(&s->more);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    int rc = s->rc;
    if (rc != SEND_OK)
        snprintf(err, err_len, "%s", s->err);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->more);
    spool_close(s->spool);
    free(s);
    return rc;
}
