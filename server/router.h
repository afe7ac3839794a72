/* The route table: method and path pattern to handler. Unknown paths get 404,
 * a known path with another method 405 with Allow. */
#ifndef TRELLIS_ROUTER_H
#define TRELLIS_ROUTER_H

#include "conn.h"

typedef void (*route_handler_t)(req_t *req);

/* Find the route of req and run its handler (or reply 404/405). */
void router_dispatch(req_t *req);

/* Routes are numbered for metrics. */
int router_count(void);
const char *router_name(int index);

#endif
