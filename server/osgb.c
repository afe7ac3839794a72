/* OSGB36 grid references to WGS84, from the formulas of the Ordnance
 * Survey's "A guide to coordinate systems in Great Britain" (annexes on
 * the Transverse Mercator projection and the Helmert transformation). */
#include "osgb.h"

#include <math.h>

#define DEG (M_PI / 180.0)
#define ARCSEC (DEG / 3600.0)

/* Airy 1830, the ellipsoid of OSGB36. */
static const double AIRY_A = 6377563.396, AIRY_B = 6356256.909;
/* GRS80, WGS84's ellipsoid to well under a millimetre for this use. */
static const double GRS80_A = 6378137.000, GRS80_B = 6356752.3141;

/* The National Grid's projection: scale on the central meridian, the true
 * origin (49°N 2°W) and the false origin's offsets in metres. */
static const double F0 = 0.9996012717;
static const double LAT0 = 49.0 * DEG, LNG0 = -2.0 * DEG;
static const double E0 = 400000.0, N0 = -100000.0;

/* The meridional arc from the true origin's latitude to lat (the guide's M). */
static double meridian_arc(double lat, double b, double n)
{
    double n2 = n * n, n3 = n2 * n;
    double d = lat - LAT0, s = lat + LAT0;
    return b * F0 *
           ((1 + n + 1.25 * n2 + 1.25 * n3) * d -
            (3 * n + 3 * n2 + 21.0 / 8 * n3) * sin(d) * cos(s) +
            (15.0 / 8 * n2 + 15.0 / 8 * n3) * sin(2 * d) * cos(2 * s) -
            35.0 / 24 * n3 * sin(3 * d) * cos(3 * s));
}

void osgb_grid_to_osgb36(double easting, double northing, double *lat, double *lng)
{
    const double a = AIRY_A, b = AIRY_B;
    const double e2 = (a * a - b * b) / (a * a), n = (a - b) / (a + b);

    /* The latitude whose meridional arc is the northing, by iteration to
     * 0.01 mm; a handful of rounds over Great Britain. The bound only
     * guards against a non-finite input. */
    double phi = (northing - N0) / (a * F0) + LAT0;
    double m = meridian_arc(phi, b, n);
    for (int i = 0; i < 100 && fabs(northing - N0 - m) >= 0.00001; i++) {
        phi += (northing - N0 - m) / (a * F0);
        m = meridian_arc(phi, b, n);
    }

    double sp = sin(phi), t = tan(phi), sec = 1.0 / cos(phi);
    double nu = a * F0 / sqrt(1 - e2 * sp * sp);                  /* transverse radius */
    double rho = a * F0 * (1 - e2) * pow(1 - e2 * sp * sp, -1.5); /* meridional */
    double eta2 = nu / rho - 1;
    double t2 = t * t, t4 = t2 * t2, t6 = t4 * t2;
    double nu3 = nu * nu * nu, nu5 = nu3 * nu * nu, nu7 = nu5 * nu * nu;

    double vii = t / (2 * rho * nu);
    double viii = t / (24 * rho * nu3) * (5 + 3 * t2 + eta2 - 9 * t2 * eta2);
    double ix = t / (720 * rho * nu5) * (61 + 90 * t2 + 45 * t4);
    double x = sec / nu;
    double xi = sec / (6 * nu3) * (nu / rho + 2 * t2);
    double xii = sec / (120 * nu5) * (5 + 28 * t2 + 24 * t4);
    double xiia = sec / (5040 * nu7) * (61 + 662 * t2 + 1320 * t4 + 720 * t6);

    double de = easting - E0, de2 = de * de, de3 = de2 * de;
    double de4 = de2 * de2, de5 = de4 * de, de6 = de4 * de2, de7 = de6 * de;
    *lat = (phi - vii * de2 + viii * de4 - ix * de6) / DEG;
    *lng = (LNG0 + x * de - xi * de3 + xii * de5 - xiia * de7) / DEG;
}

/* Geodetic coordinates at height 0 to Earth-centred Cartesian ones. */
static void to_cartesian(double lat, double lng, double a, double b, double xyz[3])
{
    double e2 = (a * a - b * b) / (a * a);
    double sp = sin(lat), cp = cos(lat);
    double nu = a / sqrt(1 - e2 * sp * sp);
    xyz[0] = nu * cp * cos(lng);
    xyz[1] = nu * cp * sin(lng);
    xyz[2] = (1 - e2) * nu * sp;
}

/* Cartesian to geodetic latitude and longitude (radians), iterating the
 * latitude to far below a millimetre. */
static void from_cartesian(const double xyz[3], double a, double b, double *lat, double *lng)
{
    double e2 = (a * a - b * b) / (a * a);
    double p = hypot(xyz[0], xyz[1]);
    double phi = atan2(xyz[2], p * (1 - e2));
    for (int i = 0; i < 10; i++) {
        double sp = sin(phi);
        double nu = a / sqrt(1 - e2 * sp * sp);
        phi = atan2(xyz[2] + e2 * nu * sp, p);
    }
    *lat = phi;
    *lng = atan2(xyz[1], xyz[0]);
}

void osgb_osgb36_to_wgs84(double lat, double lng, double *wlat, double *wlng)
{
    /* The OS publishes WGS84 -> OSGB36; going back, every sign is turned:
     * translations in metres, scale in parts per million, rotations in
     * arc-seconds (small-angle form). */
    const double tx = 446.448, ty = -125.157, tz = 542.060;
    const double s = -20.4894e-6;
    const double rx = 0.1502 * ARCSEC, ry = 0.2470 * ARCSEC, rz = 0.8421 * ARCSEC;

    double in[3], out[3];
    to_cartesian(lat * DEG, lng * DEG, AIRY_A, AIRY_B, in);
    out[0] = tx + (1 + s) * in[0] - rz * in[1] + ry * in[2];
    out[1] = ty + rz * in[0] + (1 + s) * in[1] - rx * in[2];
    out[2] = tz - ry * in[0] + rx * in[1] + (1 + s) * in[2];
    double la, lo;
    from_cartesian(out, GRS80_A, GRS80_B, &la, &lo);
    *wlat = la / DEG;
    *wlng = lo / DEG;
}

void osgb_grid_to_wgs84(double easting, double northing, double *lat, double *lng)
{
    double la, lo;
    osgb_grid_to_osgb36(easting, northing, &la, &lo);
    osgb_osgb36_to_wgs84(la, lo, lat, lng);
}
