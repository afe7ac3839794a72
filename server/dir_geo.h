/* The directory's distances in C, as sql/011's trellis_distance_m and
 * sql/007's trellis_near_box compute them in the database, operation for
 * operation, so that the index orders and cuts exactly as the SQL path
 * does (dir_index.c). */
#ifndef TRELLIS_DIR_GEO_H
#define TRELLIS_DIR_GEO_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PostgreSQL's radians(): the argument times this constant. */
#define RADIANS_PER_DEGREE 0.0174532925199432957692

/* trellis_distance_m(a, b) with a the place and b the centre, operation
 * for operation, so that equal inputs give the same float8 and the order
 * of near-equal distances is the database's; the cosines of the two
 * latitudes given (each the same value whenever it is computed). Inline:
 * called for every place a proximity listing measures. */
static inline double dir_distance_cos(double lng1, double lat1, double cos1, double lng2,
                                      double lat2, double cos2)
{
    double s1 = sin((lat2 - lat1) * RADIANS_PER_DEGREE / 2);
    double s2 = sin((lng2 - lng1) * RADIANS_PER_DEGREE / 2);
    double x = pow(s1, 2) + cos1 * cos2 * pow(s2, 2);
    double r = sqrt(x);
    return 2 * 6371008.8 * asin(r < 1 ? r : 1);
}

/* trellis_distance_m of sql/011 in C: metres between two (lng, lat). */
double dir_distance_m(double lng1, double lat1, double lng2, double lat2);

/* A listing's centre, and the box its radius looks in. */
typedef struct {
    bool radius; /* only places in the search box (trellis_near_box) count */
    double lng_lo, lng_hi, lat_lo, lat_hi;
    double lng, lat, cos_lat;
} dir_centre_t;

/* The centre (lng, lat) and, with proximity > 0 metres, trellis_near_box
 * of sql/007: the box the GiST index looks in. A place outside it never
 * counts even when within the radius (the box is a little narrower than
 * the circle east and west), exactly as in the SQL path. */
void dir_centre_init(dir_centre_t *c, double lng, double lat, int64_t proximity);

/* Every placed point of the index with its entry's position, in latitude
 * order: a proximity listing with a radius looks only at the entries with
 * a point in its box (a service with none is not listed), instead of
 * measuring every place of every service. */
typedef struct {
    double lat, lng;
    uint32_t entry;
} dir_geo_pt_t;

typedef struct {
    dir_geo_pt_t *pts;
    size_t n, cap;
} dir_geo_set_t;

void dir_geo_set_add(dir_geo_set_t *s, double lat, double lng, uint32_t entry);
void dir_geo_set_sort(dir_geo_set_t *s);
void dir_geo_set_free(dir_geo_set_t *s);
/* Set bit e of bits (n_entries bits, cleared here) for each entry with a
 * point in c's box (c->radius must be set). */
void dir_geo_set_box(const dir_geo_set_t *s, const dir_centre_t *c, size_t n_entries,
                     uint64_t *bits);

#endif
