/* Unit tests for server/osgb.c against published reference points: the
 * Ordnance Survey guide's worked example of the inverse projection, and
 * grid references whose WGS84 coordinates by the same Helmert
 * transformation are published with Chris Veness's Movable Type scripts
 * (and kept as test data by PyGeodesy's tests/testOsgr.py). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "osgb.h"

/* Metres between two nearby points (degrees), on a sphere: plenty to
 * judge an error of a few metres. */
static double metres(double lat1, double lng1, double lat2, double lng2)
{
    const double r = 6371008.8, d = M_PI / 180;
    double dy = (lat2 - lat1) * d;
    double dx = (lng2 - lng1) * d * cos((lat1 + lat2) / 2 * d);
    return r * hypot(dx, dy);
}

static double dms(int deg, int min, double sec)
{
    return deg + min / 60.0 + sec / 3600.0;
}

/* "A guide to coordinate systems in Great Britain", the worked example of
 * eastings and northings to latitude and longitude: given to a ten-
 * thousandth of an arc-second (3 mm), so checked to twice that. */
static void test_guide_worked_example(void **state)
{
    (void)state;
    double lat, lng;
    osgb_grid_to_osgb36(651409.903, 313177.270, &lat, &lng);
    double want_lat = dms(52, 39, 27.2531), want_lng = dms(1, 43, 4.5177);
    print_message("OSGB36 %.9f %.9f: off by %.5f\" and %.5f\"\n", lat, lng, (lat - want_lat) * 3600,
                  (lng - want_lng) * 3600);
    assert_true(fabs(lat - want_lat) * 3600 < 0.0002);
    assert_true(fabs(lng - want_lng) * 3600 < 0.0002);
}

/* The projection alone, at the true origin and on the central meridian:
 * 49°N 2°W is E 400000 N -100000 by the grid's definition, and any point
 * on the central meridian (E 400000) has longitude 2°W exactly. */
static void test_true_origin(void **state)
{
    (void)state;
    double lat, lng;
    osgb_grid_to_osgb36(400000, -100000, &lat, &lng);
    assert_true(fabs(lat - 49) < 1e-9 && fabs(lng + 2) < 1e-9);
    osgb_grid_to_osgb36(400000, 800000, &lat, &lng);
    assert_true(fabs(lng + 2) < 1e-9 && lat > 57 && lat < 58);
}

/* Grid references to WGS84 by the 7-parameter Helmert transformation,
 * published to 1e-6° (about 0.1 m): ours within 0.5 m. */
static void test_helmert_references(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        double e, n, lat, lng;
    } cases[] = {
        {"the guide's example, TG 51409 13177", 651409.903, 313177.270, 52.657979, 1.716052},
        {"TQ 32014 23971, 51°N 0°07'12\"W", 532014, 123971, 50.999995, -0.120004},
        {"TQ 48853 24427, 51°N 0°07'12\"E", 548853.602, 124427.985, 50.999995, 0.120004},
        {"TL 29158 35174, 52°N 0°07'12\"W exactly", 529158.072, 235174.785, 52.0, -0.12},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double lat, lng;
        osgb_grid_to_wgs84(cases[i].e, cases[i].n, &lat, &lng);
        double off = metres(lat, lng, cases[i].lat, cases[i].lng);
        print_message("%s: %.6f %.6f, %.2f m off\n", cases[i].what, lat, lng, off);
        assert_true(off < 0.5);
    }
}

/* The datum shift alone: PyGeodesy's convertDatum gives 51.477284°N
 * 0.000020°E in OSGB36 for the WGS84 point 51.4778°N 0.0016°W at the
 * Greenwich observatory; the shift is about 110 m east, here undone. */
static void test_datum_shift(void **state)
{
    (void)state;
    double lat, lng;
    osgb_osgb36_to_wgs84(51.477284, 0.000020, &lat, &lng);
    double off = metres(lat, lng, 51.4778, -0.0016);
    print_message("Greenwich %.6f %.6f, %.2f m off\n", lat, lng, off);
    assert_true(off < 0.5);
    assert_true(metres(51.477284, 0.000020, 51.4778, -0.0016) > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guide_worked_example),
        cmocka_unit_test(test_true_origin),
        cmocka_unit_test(test_helmert_references),
        cmocka_unit_test(test_datum_shift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
