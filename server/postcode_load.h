/* trellisd --load-postcodes: the operator's one command that loads the
 * postcode lookup of "near me" searches from the ONS Postcode Directory
 * CSV or from OS Code-Point Open's folder of CSV files. A command-line
 * job, run apart from the node's event loop: it blocks. */
#ifndef TRELLIS_POSTCODE_LOAD_H
#define TRELLIS_POSTCODE_LOAD_H

#include <stddef.h>
#include <stdio.h>

/* Read path: an ONSPD CSV (its header row names the columns: pcds or pcd,
 * lat, long, and oslaud or lad, in any case; terminated postcodes and
 * those without coordinates are skipped), one Code-Point Open CSV file, or
 * a directory whose every .csv file, in name order, is one (Code-Point
 * Open's Data/CSV; grid references become WGS84 by osgb.h; quality 90,
 * no coordinates, skipped). Replace the postcodes and postcode_areas
 * tables of the database at db_url with them in one transaction, and place
 * the stored services again; any file refused, nothing changes. Progress
 * and counts, with the format read, go to out. 0, or a negative code with
 * the reason (the file and line) in err. */
int postcode_load(const char *db_url, const char *path, FILE *out, char *err, size_t err_len);

#endif
