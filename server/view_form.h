/* The viewer's filter forms and code labels: a code list (NULL-ended, from
 * proto's validators) turned into a labelled <select>, the check that a
 * chosen value is one of the codes, and the plain-words label of a code. */
#ifndef TRELLIS_VIEW_FORM_H
#define TRELLIS_VIEW_FORM_H

#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>

/* The label of a code ("cannot_change" -> "Cannot change", "bsl" -> "BSL
 * (British Sign Language)"), written into buf; returns buf. */
const char *view_label(const char *code, char *buf, size_t len);

/* value is "" or one of codes. */
bool view_code_ok(const char *const *codes, const char *value);

/* The form that filters a page (GET, to the page itself) and its end with
 * the submit button. */
void view_form_begin(strbuf_t *out, const char *action, const char *label);
void view_form_end(strbuf_t *out, const char *button);

/* A labelled <select name="name"> with "Any" and each code; current (may
 * be "") is selected. */
void view_select(strbuf_t *out, const char *name, const char *label, const char *const *codes,
                 const char *current);
/* A labelled <select> of Any, Yes (true) and No (false); value 1, 0 or -1
 * (any). */
void view_select_yesno(strbuf_t *out, const char *name, const char *label, int value);
/* A labelled text <input name="name">; value (the client's) is escaped. */
void view_input(strbuf_t *out, const char *name, const char *label, const char *type,
                const char *value);

#endif
