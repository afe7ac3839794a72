/* The directory's distances in C (dir_geo.h). */
#include "dir_geo.h"

#include <stdlib.h>
#include <string.h>

double dir_distance_m(double lng1, double lat1, double lng2, double lat2)
{
    return dir_distance_cos(lng1, lat1, cos(lat1 * RADIANS_PER_DEGREE), lng2, lat2,
                            cos(lat2 * RADIANS_PER_DEGREE));
}

void dir_centre_init(dir_centre_t *c, double lng, double lat, int64_t proximity)
{
    c->lng = lng;
    c->lat = lat;
    c->cos_lat = cos(lat * RADIANS_PER_DEGREE);
    c->radius = proximity > 0;
    if (!c->radius)
        return;
    double r = (double)proximity;
    double dlat = r / 110000.0;
    double phi = fabs(lat) + dlat;
    double cs = cos((phi < 89.9 ? phi : 89.9) * RADIANS_PER_DEGREE);
    double dl = r / (111320.0 * (cs > 0.01 ? cs : 0.01));
    if (dl > 360.0)
        dl = 360.0;
    c->lng_lo = lng - dl;
    c->lng_hi = lng + dl;
    c->lat_lo = lat - dlat;
    c->lat_hi = lat + dlat;
}

void dir_geo_set_add(dir_geo_set_t *s, double lat, double lng, uint32_t entry)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->pts = realloc(s->pts, s->cap * sizeof(*s->pts));
        if (!s->pts)
            abort();
    }
    s->pts[s->n++] = (dir_geo_pt_t){lat, lng, entry};
}

static int cmp_lat(const void *a, const void *b)
{
    const dir_geo_pt_t *x = a, *y = b;
    return (x->lat > y->lat) - (x->lat < y->lat);
}

void dir_geo_set_sort(dir_geo_set_t *s)
{
    if (s->n > 1)
        qsort(s->pts, s->n, sizeof(*s->pts), cmp_lat);
}

void dir_geo_set_free(dir_geo_set_t *s)
{
    free(s->pts);
    memset(s, 0, sizeof(*s));
}

void dir_geo_set_box(const dir_geo_set_t *s, const dir_centre_t *c, size_t n_entries,
                     uint64_t *bits)
{
    memset(bits, 0, (n_entries + 63) / 64 * sizeof(*bits));
    size_t lo = 0, hi = s->n; /* the first point at or above lat_lo */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->pts[mid].lat < c->lat_lo)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* The same comparisons as the per-place test (dir_index.c place_dist):
     * a point on the box's edge is in. */
    for (size_t i = lo; i < s->n && s->pts[i].lat <= c->lat_hi; i++) {
        const dir_geo_pt_t *p = &s->pts[i];
        if (p->lng >= c->lng_lo && p->lng <= c->lng_hi && p->entry < n_entries)
            bits[p->entry / 64] |= 1ull << (p->entry % 64);
    }
}
