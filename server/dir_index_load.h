/* The node's directory index kept current and put to work: loaded at
 * start-up in the background, brought up to date before a listing when
 * something was stored since (node->data_generation), and answering
 * /oruk/services, /oruk/service_at_locations and the viewer's directory
 * from memory, each visible service's document kept with its filter
 * fields: no query unless something was stored or the filter needs what
 * only the database knows. Until it is loaded, when it is off ([directory]
 * index = off) or past its limits (DIR_INDEX_MAX_ENTRIES, [directory]
 * index_max_mb), the listing is dir_query_build's SQL, the reference.
 * docs/directory.md. */
#ifndef TRELLIS_DIR_INDEX_LOAD_H
#define TRELLIS_DIR_INDEX_LOAD_H

#include "dir_query.h"
#include "node.h"
#include "req_query.h"

/* A listing's answer, whichever way it was computed: the three columns of
 * dir_query_build's row. Everything borrowed for the callback's time. */
typedef struct {
    int64_t total;          /* matching items on every page */
    const char *items_json; /* the page's JSON array (dir_query.h, column 1), len bytes */
    size_t len;
    const char *lookup; /* "ok", "not_loaded" or "unknown_postcode" (dir_query.h) */
    /* From the index, /oruk/services: the page's ORUK list items as
     * api_oruk.c renders them from items_json (tr_oruk_service_summary,
     * compact), kept per service: a JSON array of n_items, summaries_len
     * bytes. NULL otherwise: render from items_json. */
    const char *summaries;
    size_t summaries_len, n_items;
} dir_rows_t;

/* Called once, and must reply (a response_* call, after which req is
 * gone): rows, or NULL with rc TR_E_DB_UNAVAILABLE (the database could not
 * be reached) or TR_E_DB (a query failed). ctx stays the caller's to read
 * and is freed after the callback returns. It may run before
 * dir_index_list returns (a page from memory needs no query). */
typedef void (*dir_rows_cb)(req_t *req, const dir_rows_t *rows, int rc, void *ctx);

/* List f for req. ctx is taken as by req_query: 0 (cb runs, now or later,
 * or never if the connection goes first: ctx is freed all the same), or a
 * code after which ctx is freed, nothing runs and the caller replies
 * (TR_E_INVAL: a list dir_query_build cannot take). f and view are copied. */
int dir_index_list(req_t *req, const dir_filter_t *f, dir_list_t what, const dir_view_t *view,
                   dir_rows_cb cb, void *ctx, void (*free_ctx)(void *));

/* Begin loading in the background (the database is up); nothing when
 * [directory] index = off or already begun. */
void dir_index_start(node_t *node);
/* Free it, once the loop has stopped. */
void dir_index_stop(node_t *node);

typedef struct {
    uint64_t entries;         /* services held */
    uint64_t reloads;         /* full loads, the first included */
    uint64_t refreshes;       /* changes applied (seq > last) */
    uint64_t answers;         /* listings computed from the index */
    uint64_t sql_answers;     /* listings answered by the SQL path instead */
    uint64_t bytes;           /* memory counted against [directory] index_max_mb */
    uint64_t searches;        /* listings with a search answered from the index */
    uint64_t searches_memory; /* ... of them evaluated in memory (dir_fts.h) */
    uint64_t tsq_kept;        /* ... with the tsquery kept: no round trip (dir_search.h) */
    uint64_t searches_kept;   /* ... with the database's matches kept (a phrase) */
    uint64_t centres_kept;    /* listings by a postcode whose centre was kept */
    bool ready;
} dir_index_stats_t;

void dir_index_stats(const node_t *node, dir_index_stats_t *out);

#endif
