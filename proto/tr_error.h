/* Trellis's own error codes: one enum, each with a stable name and a message.
 * Functions that can fail return 0 or a negative code; libuv's codes pass
 * through unchanged (they are negative errno values, far below TR_E_BASE). */
#ifndef TR_ERROR_H
#define TR_ERROR_H

#define TR_E_BASE (-20000)

#define TR_ERRORS(X)                                                                               \
    X(NOMEM, "out of memory")                                                                      \
    X(INVAL, "invalid argument")                                                                   \
    X(CONFIG, "configuration error")                                                               \
    X(IO, "input/output error")                                                                    \
    X(TLS, "TLS error")                                                                            \
    X(CERT, "certificate error")                                                                   \
    X(IDENTITY, "certificate does not carry a Trellis identity")                                   \
    X(HTTP, "malformed HTTP request")                                                              \
    X(LIMIT, "limit exceeded")                                                                     \
    X(DB, "database error")                                                                        \
    X(DB_UNAVAILABLE, "database unavailable")                                                      \
    X(SCHEMA, "database schema is newer than this node knows")                                     \
    X(NOT_FOUND, "not found")                                                                      \
    X(CANCELLED, "cancelled")

typedef enum {
    TR_OK = 0,
#define TR_ERR_ENUM(name, msg) TR_E_##name,
    TR_E_FIRST_ = TR_E_BASE,
    TR_ERRORS(TR_ERR_ENUM)
#undef TR_ERR_ENUM
} tr_error_t;

/* "TR_E_LIMIT" style name of a code, or "UNKNOWN". */
const char *tr_err_name(int code);
/* Human message of a Trellis code; for other negative codes a libuv/errno message. */
const char *tr_strerror(int code);

#endif
