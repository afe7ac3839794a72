/* Full-text search answers kept while the directory index is unchanged
 * (dir_search.h). A few hundred entries at most: a linear lookup. */
#include "dir_search.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *words;
    int64_t *seqs;
    size_t n;
} kept_t;

typedef struct {
    char *words, *tsq;
    uint64_t used; /* tick of the last get or put */
} tsq_t;

typedef struct {
    char postcode[12]; /* "" empty */
    double lng, lat;
} centre_t;

struct dir_search {
    centre_t c[DIR_SEARCH_CENTRES];
    kept_t k[DIR_SEARCH_KEEP_MAX];
    size_t n, bytes;
    tsq_t t[DIR_SEARCH_TSQ_MAX];
    size_t n_t;
    uint64_t tick;
};

dir_search_t *dir_search_new(void)
{
    dir_search_t *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    return s;
}

void dir_search_clear(dir_search_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->k[i].words);
        free(s->k[i].seqs);
    }
    s->n = s->bytes = 0;
    for (size_t i = 0; i < DIR_SEARCH_CENTRES; i++)
        s->c[i].postcode[0] = '\0';
}

static size_t centre_slot(const char *postcode)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = postcode; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h & (DIR_SEARCH_CENTRES - 1);
}

bool dir_search_centre_get(const dir_search_t *s, const char *postcode, double *lng, double *lat)
{
    const centre_t *c = &s->c[centre_slot(postcode)];
    if (!c->postcode[0] || strcmp(c->postcode, postcode) != 0)
        return false;
    *lng = c->lng;
    *lat = c->lat;
    return true;
}

void dir_search_centre_put(dir_search_t *s, const char *postcode, double lng, double lat)
{
    if (strlen(postcode) >= sizeof(s->c[0].postcode))
        return;
    centre_t *c = &s->c[centre_slot(postcode)];
    strcpy(c->postcode, postcode);
    c->lng = lng;
    c->lat = lat;
}

void dir_search_free(dir_search_t *s)
{
    if (!s)
        return;
    dir_search_clear(s);
    for (size_t i = 0; i < s->n_t; i++) {
        free(s->t[i].words);
        free(s->t[i].tsq);
    }
    free(s);
}

/* A linear look-up: a thousand short strcmp, a few microseconds, far
 * below the round trip it saves. */
const char *dir_search_tsq_get(dir_search_t *s, const char *words)
{
    for (size_t i = 0; i < s->n_t; i++) {
        if (strcmp(s->t[i].words, words) == 0) {
            s->t[i].used = ++s->tick;
            return s->t[i].tsq;
        }
    }
    return NULL;
}

void dir_search_tsq_put(dir_search_t *s, const char *words, const char *tsq)
{
    if (strlen(tsq) > DIR_SEARCH_TSQ_TEXT_MAX || dir_search_tsq_get(s, words))
        return;
    size_t at = s->n_t;
    if (at == DIR_SEARCH_TSQ_MAX) { /* the least recently used goes */
        at = 0;
        for (size_t i = 1; i < s->n_t; i++)
            if (s->t[i].used < s->t[at].used)
                at = i;
        free(s->t[at].words);
        free(s->t[at].tsq);
    } else {
        s->n_t++;
    }
    s->t[at].words = strdup(words);
    s->t[at].tsq = strdup(tsq);
    if (!s->t[at].words || !s->t[at].tsq)
        abort();
    s->t[at].used = ++s->tick;
}

const int64_t *dir_search_get(const dir_search_t *s, const char *words, size_t *n)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->k[i].words, words) == 0) {
            *n = s->k[i].n;
            return s->k[i].seqs;
        }
    }
    return NULL;
}

void dir_search_put(dir_search_t *s, const char *words, const int64_t *seqs, size_t n)
{
    size_t bytes = n * sizeof(*seqs) + strlen(words) + 1;
    size_t ignored;
    if (bytes > DIR_SEARCH_KEEP_BYTES / 4 || dir_search_get(s, words, &ignored))
        return;
    if (s->n == DIR_SEARCH_KEEP_MAX || s->bytes + bytes > DIR_SEARCH_KEEP_BYTES)
        dir_search_clear(s);
    kept_t *k = &s->k[s->n];
    k->words = strdup(words);
    k->seqs = malloc(n ? n * sizeof(*seqs) : 1);
    if (!k->words || !k->seqs)
        abort();
    if (n)
        memcpy(k->seqs, seqs, n * sizeof(*seqs));
    k->n = n;
    s->n++;
    s->bytes += bytes;
}

size_t dir_search_count(const dir_search_t *s)
{
    return s->n;
}

size_t dir_search_bytes(const dir_search_t *s)
{
    return s->bytes;
}
