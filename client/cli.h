/* Small helpers every `trellis` command group shares: the one-line error
 * format, exit codes and strict number parsing for options. */
#ifndef CLI_H
#define CLI_H

#include <stdio.h>

/* Documented in `trellis --help` and docs/agent.md; scripts rely on them. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,        /* the command ran and failed (admin commands) */
    CLI_EXIT_USAGE = 2,       /* the command line itself is wrong */
    CLI_EXIT_REFUSED = 3,     /* some records were refused or quarantined */
    CLI_EXIT_UNREACHABLE = 4, /* the node could not be reached (what is spooled stays) */
    CLI_EXIT_LOCAL = 5,       /* a local error: a file, the spool, the configuration */
};

/* Print "trellis: <message>" as exactly one line on stderr. Control characters
 * (from arguments echoed back) become '?', so the message stays one line. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse a whole decimal number within [min, max]; 0 or TR_E_INVAL. */
int cli_parse_int(const char *s, long min, long max, long *out);

#endif
