/* Names and messages of Trellis's error codes. */
#include "tr_error.h"

#include <string.h>

static const struct {
    const char *name;
    const char *msg;
} errors[] = {
#define TR_ERR_ROW(name, msg) {"TR_E_" #name, msg},
    TR_ERRORS(TR_ERR_ROW)
#undef TR_ERR_ROW
};

#define N_ERRORS (sizeof(errors) / sizeof(errors[0]))

static int index_of(int code)
{
    int i = code - TR_E_BASE - 1;
    return (i >= 0 && (unsigned)i < N_ERRORS) ? i : -1;
}

const char *tr_err_name(int code)
{
    int i = index_of(code);
    return i < 0 ? (code == 0 ? "OK" : "UNKNOWN") : errors[i].name;
}

const char *tr_strerror(int code)
{
    int i = index_of(code);
    if (i >= 0)
        return errors[i].msg;
    if (code == 0)
        return "success";
    return code < 0 ? strerror(-code) : "unknown error";
}
