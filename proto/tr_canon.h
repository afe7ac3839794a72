/* Canonical JSON for hashing and signing: object keys sorted by their UTF-8
 * bytes, no insignificant whitespace, integers only (a real number is
 * refused), strings with the minimal escapes of RFC 8785. Two parties that
 * agree on the value agree on the bytes. */
#ifndef TR_CANON_H
#define TR_CANON_H

#include <jansson.h>
#include <stddef.h>

/* Canonical bytes of v into a new NUL-terminated buffer (caller frees).
 * 0, or TR_E_INVAL (a real number, or nesting deeper than 64). */
int tr_canon_dump(const json_t *v, char **out, size_t *len);

/* The same bytes into a caller's buffer that is kept from call to call
 * (*buf of *cap bytes, both 0 at first; grown with realloc, freed by the
 * caller), for one who writes many values: no allocation per value once
 * the buffer is large enough. NUL-terminated; *len the bytes before the
 * NUL. 0 or TR_E_INVAL as tr_canon_dump (the buffer is kept either way). */
int tr_canon_dump_into(const json_t *v, char **buf, size_t *cap, size_t *len);

/* SHA-256 of len bytes into md: 0, or TR_E_INVAL. The algorithm is fetched
 * once per process, not on every call (OpenSSL 3 looks an implicit
 * EVP_sha256() up again each time, under a lock). Thread-safe. */
int tr_sha256(const void *data, size_t len, unsigned char md[32]);

/* The same as lowercase hex; out needs 65 bytes. */
int tr_sha256_hex(const void *data, size_t len, char out[65]);

/* Lowercase hex SHA-256 of the canonical bytes; out needs 65 bytes. */
int tr_canon_hash(const json_t *v, char out[65]);

#endif
