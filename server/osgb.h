/* British National Grid (OSGB36) eastings and northings to WGS84 latitude
 * and longitude, by the Ordnance Survey's published method ("A guide to
 * coordinate systems in Great Britain"): the inverse Transverse Mercator
 * projection on the Airy 1830 ellipsoid, then the 7-parameter Helmert
 * transformation to WGS84. Pure arithmetic: no I/O, no allocation. */
#ifndef TRELLIS_OSGB_H
#define TRELLIS_OSGB_H

/* Eastings and northings in metres to OSGB36 latitude and longitude in
 * degrees (east positive), on the Airy 1830 ellipsoid. Exact to well under
 * a millimetre of the projection: this is the inverse the OS guide gives. */
void osgb_grid_to_osgb36(double easting, double northing, double *lat, double *lng);

/* OSGB36 latitude and longitude (degrees, at ellipsoid height 0) to WGS84
 * by the OS's 7-parameter Helmert transformation: within about 5 m of the
 * national definition (OSTN15) over Great Britain, enough for proximity. */
void osgb_osgb36_to_wgs84(double lat, double lng, double *wlat, double *wlng);

/* Both steps: grid metres to WGS84 degrees. */
void osgb_grid_to_wgs84(double easting, double northing, double *lat, double *lng);

#endif
