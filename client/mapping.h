/* Mapping files: which column of a charity's export means what, and how its
 * values become a Trellis record (docs/agent.md, "Mapping files"). INI:
 *
 *   [mapping]  kind (pathway.referral, feedback.entry, directory.service), format, date_format,
 * case_reference, date, identifiers, list_separator [field M]  one body member M: column, rule,
 * codes, value, default, optional [codes T]  TRELLIS_CODE = CMS value (one line per CMS value; "=
 * *" for any other value) [event S]  a pathway.event of status S derived from a referral row:
 *              column (its date), reason, reason_codes, reason_default
 *
 * Everything is checked when the file is loaded (members, rules, codes
 * against the record kinds' code lists), so a mistake is reported with its
 * section before a single row is read. */
#ifndef MAPPING_H
#define MAPPING_H

#include "tr_anon.h"
#include "tr_record.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    RULE_CODE = 0, /* one value through a codes table */
    RULE_CODES,    /* a list (split on list_separator), each through a codes table */
    RULE_WEEK,     /* a date -> ISO week */
    RULE_DISTRICT, /* a postcode or district -> district */
    RULE_AGE,      /* an age in years -> age band */
    RULE_DOB,      /* a date of birth -> age band at the row's date */
    RULE_TEXT,     /* free text, scanned for personal data */
    RULE_UUID,     /* a UUID as it is */
    RULE_CONST,    /* value, the same for every row */
    RULE_COPY,     /* public directory text as it is (checked by the node's directory rules) */
    RULE_NUMBER,   /* a whole number */
    RULE_YESNO,    /* yes or no (Yes, Y, True, 1 / No, N, False, 0) -> true or false */
} map_rule_t;

/* The JSON type of a member: a const or default value is read as it. */
typedef enum { MAP_STRING = 0, MAP_LIST, MAP_INT, MAP_BOOL } map_type_t;

typedef struct {
    char *to;   /* the Trellis code */
    char *from; /* the CMS's value, normalised (trimmed, single spaces) */
} map_code_t;

typedef struct {
    char *name;
    map_code_t *codes;
    size_t n;
    char *fallback; /* "= *": what any other value becomes; NULL: an error */
} map_table_t;

typedef struct {
    char *member; /* the body member (a directory's nested ones dotted: trellis.needs) */
    char *column; /* NULL for RULE_CONST */
    map_rule_t rule;
    map_type_t type;
    const map_table_t *table;
    char *value;   /* RULE_CONST */
    char *def;     /* used when the cell is empty */
    bool optional; /* leave the member out when empty */
} map_field_t;

typedef struct {
    char *status;
    char *column; /* the date of the status */
    char *reason_column;
    const map_table_t *reason_table;
    char *reason_default;
} map_event_t;

typedef enum { MAP_FORMAT_AUTO = 0, MAP_FORMAT_CSV, MAP_FORMAT_JSON } map_format_t;

typedef struct {
    char *path;
    tr_kind_t kind;
    map_format_t format;
    tr_date_order_t date_order;
    char *case_reference; /* the column whose value becomes the record id */
    char *date_column;    /* the row's date (referral date): days and ages count from it */
    char **identifiers;   /* columns never sent, looked for in free text */
    size_t n_identifiers;
    char list_separator;
    map_field_t *fields;
    size_t n_fields;
    map_event_t *events;
    size_t n_events;
    map_table_t *tables;
    size_t n_tables;
} mapping_t;

/* Load and check a mapping file: a new mapping, or NULL with the file, the
 * section and what is wrong in err. */
mapping_t *mapping_load(const char *path, char *err, size_t err_len);
void mapping_free(mapping_t *m);

/* Normalise a CMS value for matching in place: trimmed, runs of spaces as one. */
void mapping_normalise(char *s);

/* The Trellis code for value in t (matched without regard to case after
 * normalising), the fallback, or NULL. */
const char *mapping_lookup(const map_table_t *t, const char *value);

/* A spreadsheet's yes or no: 1 yes, 0 no, -1 neither. */
int mapping_yesno(const char *value);

/* A const or default value as its member's type (a new reference), or NULL
 * when it is not one (not a whole number, not yes or no). */
json_t *mapping_typed(map_type_t type, const char *value);

#endif
