/* Validation primitives the per-kind validators are built from. Each checks
 * one member of an object, reports into errs with the member's JSON path,
 * and never copies the refused value into a message. path arguments are the
 * object's own path ("$.body"); members are appended (".name", "[3]"). */
#ifndef TR_CHECK_H
#define TR_CHECK_H

#include "tr_verror.h"

#include <jansson.h>
#include <stdbool.h>

/* obj must be an object; every member must be in allowed (NULL-terminated);
 * every name in required must be present. False if obj is not an object. */
bool tr_check_object(json_t *obj, const char *path, const char *const *allowed,
                     const char *const *required, tr_verrors_t *e);

/* A string member of at most max_len bytes (valid UTF-8, no control
 * characters but \n and \t when multiline). NULL if absent or bad. */
const char *tr_check_string(json_t *obj, const char *key, const char *path, size_t max_len,
                            bool required, tr_verrors_t *e);

/* Free text: as tr_check_string (multiline allowed) and refused if the PII
 * scanner finds any kind in pii_mask (code "personal_data", the message names
 * the kind of data found, never the data). */
const char *tr_check_text(json_t *obj, const char *key, const char *path, size_t max_len,
                          bool required, unsigned pii_mask, tr_verrors_t *e);

/* One of values (NULL-terminated). Returns the index, or -1. */
int tr_check_enum(json_t *obj, const char *key, const char *path, const char *const *values,
                  bool required, tr_verrors_t *e);

/* An array of distinct members of values, min_items..max_items long. */
bool tr_check_enum_array(json_t *obj, const char *key, const char *path, const char *const *values,
                         size_t min_items, size_t max_items, bool required, tr_verrors_t *e);

/* An integer in [min, max] (JSON reals are refused: no floats in signed content). */
bool tr_check_int(json_t *obj, const char *key, const char *path, json_int_t min, json_int_t max,
                  bool required, json_int_t *out, tr_verrors_t *e);

bool tr_check_bool(json_t *obj, const char *key, const char *path, bool required, bool *out,
                   tr_verrors_t *e);

/* A lowercase canonical UUID string (8-4-4-4-12 hex). */
const char *tr_check_uuid(json_t *obj, const char *key, const char *path, bool required,
                          tr_verrors_t *e);

/* An ISO week "2026-W47" (week 01..53, year 2000..2100). */
const char *tr_check_iso_week(json_t *obj, const char *key, const char *path, bool required,
                              tr_verrors_t *e);

bool tr_is_uuid(const char *s);
bool tr_is_iso_week(const char *s);

/* Join path and member into out: "$.body" + "needs" -> "$.body.needs". */
void tr_path_member(char *out, size_t len, const char *path, const char *key);
/* "$.body.needs" + 2 -> "$.body.needs[2]". */
void tr_path_index(char *out, size_t len, const char *path, size_t index);

#endif
