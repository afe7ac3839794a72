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

struct dir_search {
    kept_t k[DIR_SEARCH_KEEP_MAX];
    size_t n, bytes;
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
}

void dir_search_free(dir_search_t *s)
{
    if (!s)
        return;
    dir_search_clear(s);
    free(s);
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
