/* Reading one postcode file for trellisd --load-postcodes: the ONS
 * Postcode Directory CSV (a header row names its columns) or one file of
 * OS Code-Point Open's Data/CSV folder (no header; ten columns by
 * position, OSGB36 grid references). Each postcode the lookup keeps goes
 * to a callback; the reader knows nothing of the database. */
#ifndef TRELLIS_POSTCODE_READ_H
#define TRELLIS_POSTCODE_READ_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    POSTCODE_ANY = 0,       /* as an argument: whichever the first row shows */
    POSTCODE_ONSPD = 1,     /* the ONS Postcode Directory */
    POSTCODE_CODEPOINT = 2, /* OS Code-Point Open */
} postcode_format_t;

/* One postcode for the lookup; every pointer borrowed for the call only. */
typedef struct {
    const char *postcode; /* capitals, no space: "LS61AA" */
    const char *district; /* its outward code: "LS6" */
    const char *lad;      /* local authority GSS code, "" if none */
    double lat, lng;      /* WGS84 degrees */
} postcode_row_t;

/* 0, or a negative code to stop the reading (with the reason in err). */
typedef int (*postcode_row_cb)(const postcode_row_t *row, void *ud, char *err, size_t err_len);

typedef struct {
    long long rows; /* data rows read (headers not counted) */
    long long kept; /* of them, postcodes given to the callback */
} postcode_counts_t;

/* Longest row read, in bytes: an ONSPD row is some 300, a Code-Point Open
 * one under 100. A longer row refuses the file. */
#define POSTCODE_ROW_MAX 16384

/* Read the file f (named name in messages) of the format expect, or of
 * either when POSTCODE_ANY: a first row that is a postcode and ten fields
 * is Code-Point Open, anything else the ONSPD header. ONSPD rows without
 * a live, placed, valid postcode are skipped, as are Code-Point Open rows
 * of positional quality 90 (no coordinates) and postcodes that are not
 * full UK postcodes; a Code-Point Open row that is not ten fields with
 * numbers where numbers belong refuses the file. *format gets the format
 * read, counts are added to. 0, or a negative code with "name line N:
 * reason" in err. */
int postcode_read(FILE *f, const char *name, postcode_format_t expect, postcode_format_t *format,
                  postcode_row_cb cb, void *ud, postcode_counts_t *counts, char *err,
                  size_t err_len);

#endif
