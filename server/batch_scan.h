/* A pass over a POST /v1/records body that builds nothing: it counts the
 * records and estimates what jansson would allocate for the whole tree, and
 * stops at the first limit passed. jansson has no streaming interface, and a
 * body of 8 MiB of empty objects becomes some 700 MB of tree: this runs
 * first, so a batch over max_batch_records or over the memory budget is
 * refused having cost one read of its bytes. No I/O, no allocation. */
#ifndef TRELLIS_BATCH_SCAN_H
#define TRELLIS_BATCH_SCAN_H

#include <stddef.h>

typedef enum {
    BATCH_SCAN_OK = 0,     /* within both limits (the JSON may still be invalid) */
    BATCH_SCAN_TOO_MANY,   /* more than max_records records */
    BATCH_SCAN_TOO_COSTLY, /* the tree would take more than max_cost bytes */
} batch_scan_result_t;

/* Records are the elements of every array that is a member of the top-level
 * object: a batch must be {"records": [...]}, and counting every such array
 * leaves no key spelling (an escape, a duplicate) that would go uncounted.
 * The cost is an over-estimate of jansson's allocations on 64-bit glibc
 * (an object 240 bytes, an array 144, a string 96 plus its bytes, another
 * value 48, a member 64). Invalid JSON is not judged here: within the limits
 * the parser reports it. *records (may be NULL) gets the count seen. */
batch_scan_result_t batch_scan(const char *text, size_t len, size_t max_records, size_t max_cost,
                               size_t *records);

#endif
