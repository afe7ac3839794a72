/* Shared command-line helpers for `trellis`: the error line every command
 * prints and option number parsing. */
#include "cli.h"
#include "tr_error.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

void cli_error(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "trellis: %s\n", msg);
}

int cli_parse_int(const char *s, long min, long max, long *out)
{
    /* strtol alone accepts " 12", "+12" and "12abc": insist on digits only. */
    if (!s || !isdigit((unsigned char)s[0]))
        return TR_E_INVAL;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return TR_E_INVAL;
    *out = v;
    return 0;
}
