/* The directory's distances in C (dir_geo.h). */
#include "dir_geo.h"

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
