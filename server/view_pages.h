/* The viewer's pages, one view_<page>.c each, routed in router.c on the
 * viewer listener only. Each builds its HTML (or CSV) with html.h and
 * replies through viewer.h. */
#ifndef TRELLIS_VIEW_PAGES_H
#define TRELLIS_VIEW_PAGES_H

#include "conn.h"

/* view_directory.c: the search, /viewer/directory (dir_query.h) */
void view_directory(req_t *req);

/* view_coverage.c: the needs with no service taking referrals, by district */
void view_coverage(req_t *req);

/* view_service.c: one directory service, /viewer/directory/services/{id} */
void view_service(req_t *req);

/* view_pathways.c: flows, outcomes, days and waits for a period of weeks
 * (docs/pathways.md) */
void view_pathways(req_t *req);

/* view_feedback.c: "you said, we did" and its easy-read view */
void view_feedback(req_t *req);
void view_feedback_easy(req_t *req);

#endif
