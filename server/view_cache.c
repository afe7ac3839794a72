/* The viewer's result cache: a handful of entries, looked up by key, good
 * for one data generation and a minute at most (view_cache.h). */
#include "view_cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key, *text;
    uint64_t gen, at_ms;
} entry_t;

static entry_t entries[VIEW_CACHE_ENTRIES];

const char *view_cache_get(const char *key, uint64_t gen, uint64_t now_ms)
{
    for (size_t i = 0; i < VIEW_CACHE_ENTRIES; i++) {
        entry_t *e = &entries[i];
        if (e->key && strcmp(e->key, key) == 0 && e->gen == gen && now_ms >= e->at_ms &&
            now_ms - e->at_ms < VIEW_CACHE_TTL_MS)
            return e->text;
    }
    return NULL;
}

static void drop(entry_t *e)
{
    free(e->key);
    free(e->text);
    memset(e, 0, sizeof(*e));
}

void view_cache_put(const char *key, uint64_t gen, uint64_t now_ms, const char *text)
{
    if (strlen(text) > VIEW_CACHE_MAX_BYTES)
        return;
    /* The same key, else a free slot, else the oldest. */
    entry_t *slot = NULL;
    for (size_t i = 0; i < VIEW_CACHE_ENTRIES && !slot; i++)
        if (entries[i].key && strcmp(entries[i].key, key) == 0)
            slot = &entries[i];
    for (size_t i = 0; i < VIEW_CACHE_ENTRIES && !slot; i++)
        if (!entries[i].key)
            slot = &entries[i];
    if (!slot) {
        slot = &entries[0];
        for (size_t i = 1; i < VIEW_CACHE_ENTRIES; i++)
            if (entries[i].at_ms < slot->at_ms)
                slot = &entries[i];
    }
    drop(slot);
    slot->key = strdup(key);
    slot->text = strdup(text);
    if (!slot->key || !slot->text)
        abort();
    slot->gen = gen;
    slot->at_ms = now_ms;
}

void view_cache_clear(void)
{
    for (size_t i = 0; i < VIEW_CACHE_ENTRIES; i++)
        drop(&entries[i]);
}
