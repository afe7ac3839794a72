/* Filter forms and code labels for the viewer's pages. Codes are the
 * validators' (short, lowercase, underscores); the labels are plain words. */
#include "view_form.h"
#include "html.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Codes whose label is not just the code in words. */
static const struct {
    const char *code, *label;
} special[] = {
    {"bsl", "BSL (British Sign Language)"},
    {"co_design", "Co-design"},
    {"co_production", "Co-production"},
    {"non_binary", "Non-binary people"},
    {"women", "Women"},
    {"men", "Men"},
    {"all", "Everyone"},
    {"lgbtq", "LGBTQ+"},
    {"16_17", "16 to 17"},
    {"18_24", "18 to 24"},
    {"25_34", "25 to 34"},
    {"35_44", "35 to 44"},
    {"45_54", "45 to 54"},
    {"55_64", "55 to 64"},
    {"65_plus", "65 and over"},
    {"under_16", "Under 16"},
    {"open", "Not answered yet"},
    {"marac", "MARAC"},
};

const char *view_label(const char *code, char *buf, size_t len)
{
    if (!len)
        return buf;
    buf[0] = '\0';
    if (!code)
        return buf;
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        if (strcmp(code, special[i].code) == 0) {
            snprintf(buf, len, "%s", special[i].label);
            return buf;
        }
    size_t n = 0;
    for (; code[n] && n + 1 < len; n++)
        buf[n] = code[n] == '_' ? ' ' : code[n];
    buf[n] = '\0';
    buf[0] = (char)toupper((unsigned char)buf[0]);
    return buf;
}

bool view_code_ok(const char *const *codes, const char *value)
{
    if (!value[0])
        return true;
    for (size_t i = 0; codes && codes[i]; i++)
        if (strcmp(codes[i], value) == 0)
            return true;
    return false;
}

void view_form_begin(strbuf_t *out, const char *action, const char *label)
{
    strbuf_puts(out, "<form class=\"filters\" method=\"get\" action=\"");
    html_attr(out, action);
    strbuf_puts(out, "\" aria-label=\"");
    html_attr(out, label);
    strbuf_puts(out, "\">\n");
}

void view_form_end(strbuf_t *out, const char *button)
{
    strbuf_puts(out, "<div><button type=\"submit\">");
    html_text(out, button);
    strbuf_puts(out, "</button></div>\n</form>\n");
}

void view_select(strbuf_t *out, const char *name, const char *label, const char *const *codes,
                 const char *current)
{
    char lab[96];
    strbuf_printf(out, "<div><label for=\"f-%s\">", name);
    html_text(out, label);
    strbuf_printf(out,
                  "</label><select id=\"f-%s\" name=\"%s\">\n<option value=\"\">Any</option>\n",
                  name, name);
    for (size_t i = 0; codes && codes[i]; i++) {
        strbuf_puts(out, "<option value=\"");
        html_attr(out, codes[i]);
        strbuf_puts(out, current && strcmp(current, codes[i]) == 0 ? "\" selected>" : "\">");
        html_text(out, view_label(codes[i], lab, sizeof(lab)));
        strbuf_puts(out, "</option>\n");
    }
    strbuf_puts(out, "</select></div>\n");
}

void view_select_yesno(strbuf_t *out, const char *name, const char *label, int value)
{
    strbuf_printf(out, "<div><label for=\"f-%s\">", name);
    html_text(out, label);
    strbuf_printf(out,
                  "</label><select id=\"f-%s\" name=\"%s\">\n<option value=\"\">Any</option>\n"
                  "<option value=\"true\"%s>Yes</option>\n<option value=\"false\"%s>No</option>\n"
                  "</select></div>\n",
                  name, name, value == 1 ? " selected" : "", value == 0 ? " selected" : "");
}

void view_input(strbuf_t *out, const char *name, const char *label, const char *type,
                const char *value)
{
    strbuf_printf(out, "<div><label for=\"f-%s\">", name);
    html_text(out, label);
    strbuf_printf(out, "</label><input id=\"f-%s\" name=\"%s\" type=\"%s\" value=\"", name, name,
                  type);
    html_attr(out, value);
    strbuf_puts(out, "\"></div>\n");
}
