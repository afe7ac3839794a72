/* trellisd --load-postcodes: the operator's one command that loads the
 * postcode lookup of "near me" searches from the ONS Postcode Directory CSV.
 * A command-line job, run apart from the node's event loop: it blocks. */
#ifndef TRELLIS_POSTCODE_LOAD_H
#define TRELLIS_POSTCODE_LOAD_H

#include <stddef.h>
#include <stdio.h>

/* Read the ONSPD CSV at path (its header row names the columns: pcds or
 * pcd, lat, long, and oslaud or lad, in any case; terminated postcodes and
 * those without coordinates are skipped), replace the postcodes and
 * postcode_areas tables of the database at db_url with it in one
 * transaction, and place the stored services again. Progress and counts go
 * to out. 0, or a negative code with the reason in err. */
int postcode_load(const char *db_url, const char *path, FILE *out, char *err, size_t err_len);

#endif
