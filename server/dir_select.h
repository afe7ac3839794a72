/* Partial selection: the first k of an array in some order, without
 * sorting the rest. A proximity page needs the nearest page * per_page
 * candidates ordered, not every candidate within the radius (dir_index.c). */
#ifndef TRELLIS_DIR_SELECT_H
#define TRELLIS_DIR_SELECT_H

#include <stddef.h>

/* Reorder base (n elements of size bytes, size at most 64) so that its
 * first k are the k least by cmp, in no particular order. cmp must be a
 * total order (no two elements equal) for the result to be determined;
 * with ties the first k are still k least. Quickselect, linear on average. */
void dir_select_first(void *base, size_t n, size_t size, size_t k,
                      int (*cmp)(const void *, const void *));

#endif
