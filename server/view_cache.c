/* The node's reply cache: up to VIEW_CACHE_ENTRIES texts, looked up by key
 * (a hash first, then the key), good for one data generation and a minute
 * at most, the least recently used making room (view_cache.h). */
#include "view_cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key, *text;
    size_t len;
    uint64_t hash, gen, at_ms, used;
} entry_t;

static entry_t entries[VIEW_CACHE_ENTRIES];
static size_t total_bytes;
static uint64_t clock_uses; /* orders uses: the smallest used is the least recent */
static uint64_t n_hits, n_misses;

/* FNV-1a: a cheap first test before comparing keys of a few hundred bytes. */
static uint64_t hash_of(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static entry_t *find(const char *key, uint64_t h)
{
    for (size_t i = 0; i < VIEW_CACHE_ENTRIES; i++)
        if (entries[i].key && entries[i].hash == h && strcmp(entries[i].key, key) == 0)
            return &entries[i];
    return NULL;
}

const char *view_cache_get_len(const char *key, uint64_t gen, uint64_t now_ms, size_t *len)
{
    entry_t *e = find(key, hash_of(key));
    if (!e || e->gen != gen || now_ms < e->at_ms || now_ms - e->at_ms >= VIEW_CACHE_TTL_MS) {
        n_misses++;
        return NULL;
    }
    n_hits++;
    e->used = ++clock_uses;
    if (len)
        *len = e->len;
    return e->text;
}

const char *view_cache_get(const char *key, uint64_t gen, uint64_t now_ms)
{
    return view_cache_get_len(key, gen, now_ms, NULL);
}

static void drop(entry_t *e)
{
    if (e->key)
        total_bytes -= e->len;
    free(e->key);
    free(e->text);
    memset(e, 0, sizeof(*e));
}

static entry_t *least_recent(void)
{
    entry_t *lru = NULL;
    for (size_t i = 0; i < VIEW_CACHE_ENTRIES; i++)
        if (entries[i].key && (!lru || entries[i].used < lru->used))
            lru = &entries[i];
    return lru;
}

void view_cache_put_len(const char *key, uint64_t gen, uint64_t now_ms, const char *text,
                        size_t len)
{
    if (len > VIEW_CACHE_MAX_BYTES || strlen(key) > VIEW_CACHE_KEY_MAX)
        return;
    uint64_t h = hash_of(key);
    entry_t *slot = find(key, h);
    if (slot)
        drop(slot);
    /* Room in bytes, then a free entry, the least recently used going first. */
    while (total_bytes + len > VIEW_CACHE_TOTAL_BYTES) {
        entry_t *lru = least_recent();
        if (!lru)
            break;
        drop(lru);
    }
    for (size_t i = 0; i < VIEW_CACHE_ENTRIES && !slot; i++)
        if (!entries[i].key)
            slot = &entries[i];
    if (!slot) {
        slot = least_recent();
        drop(slot);
    }
    slot->key = strdup(key);
    slot->text = malloc(len + 1);
    if (!slot->key || !slot->text)
        abort();
    memcpy(slot->text, text, len);
    slot->text[len] = '\0';
    slot->len = len;
    slot->hash = h;
    slot->gen = gen;
    slot->at_ms = now_ms;
    slot->used = ++clock_uses;
    total_bytes += len;
}

void view_cache_put(const char *key, uint64_t gen, uint64_t now_ms, const char *text)
{
    view_cache_put_len(key, gen, now_ms, text, strlen(text));
}

void view_cache_counts(uint64_t *hits, uint64_t *misses)
{
    *hits = n_hits;
    *misses = n_misses;
}

void view_cache_clear(void)
{
    for (size_t i = 0; i < VIEW_CACHE_ENTRIES; i++)
        drop(&entries[i]);
    total_bytes = 0;
}
