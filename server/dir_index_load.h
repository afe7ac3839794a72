/* The node's directory index kept current and put to work: loaded at
 * start-up in the background, brought up to date before a listing when
 * something was stored since (node->data_generation), and answering
 * /oruk/services, /oruk/service_at_locations and the viewer's directory with
 * PostgreSQL fetching only the page's documents. Until it is loaded, when
 * it is off ([directory] index = off) or past DIR_INDEX_MAX_ENTRIES, the
 * listing is dir_query_build's SQL, the reference. docs/directory.md. */
#ifndef TRELLIS_DIR_INDEX_LOAD_H
#define TRELLIS_DIR_INDEX_LOAD_H

#include "dir_query.h"
#include "node.h"
#include "req_query.h"

/* List f for req. cb gets one row shaped as dir_query_build's (total, items,
 * lookup), whichever way it was computed. ctx is taken as by req_query: 0,
 * or a code after which ctx is freed, nothing runs and the caller replies
 * (TR_E_INVAL: a list dir_query_build cannot take). f and view are copied. */
int dir_index_list(req_t *req, const dir_filter_t *f, dir_list_t what, const dir_view_t *view,
                   req_query_cb cb, void *ctx, void (*free_ctx)(void *));

/* Begin loading in the background (the database is up); nothing when
 * [directory] index = off or already begun. */
void dir_index_start(node_t *node);
/* Free it, once the loop has stopped. */
void dir_index_stop(node_t *node);

typedef struct {
    uint64_t entries;     /* services held */
    uint64_t reloads;     /* full loads, the first included */
    uint64_t refreshes;   /* changes applied (seq > last) */
    uint64_t answers;     /* listings computed from the index */
    uint64_t sql_answers; /* listings answered by the SQL path instead */
    bool ready;
} dir_index_stats_t;

void dir_index_stats(const node_t *node, dir_index_stats_t *out);

#endif
