/* Partial selection by quickselect (dir_select.h). */
#include "dir_select.h"

#include <stdlib.h>
#include <string.h>

static void swap(char *a, char *b, size_t size)
{
    char t[64];
    memcpy(t, a, size);
    memcpy(a, b, size);
    memcpy(b, t, size);
}

void dir_select_first(void *base, size_t n, size_t size, size_t k,
                      int (*cmp)(const void *, const void *))
{
    char *v = base, pivot[64];
    if (size > sizeof(pivot))
        abort();
    size_t lo = 0, hi = n; /* the boundary at k lies within [lo, hi) */
    while (k > lo && k < hi && hi - lo > 1) {
        memcpy(pivot, v + (lo + (hi - lo) / 2) * size, size);
        /* three ways: [lo, i) less, [i, m) equal, (j, hi) greater, [m, j] unread */
        size_t i = lo, m = lo, j = hi;
        while (m < j) {
            int c = cmp(v + m * size, pivot);
            if (c < 0)
                swap(v + i++ * size, v + m++ * size, size);
            else if (c > 0)
                swap(v + m * size, v + --j * size, size);
            else
                m++;
        }
        if (k <= i)
            hi = i;
        else if (k >= m)
            lo = m;
        else
            return; /* the boundary falls among the pivot's equals */
    }
}
