/* The viewer's request side: admitting a request (its signed-in user), the
 * query checks and replies every page shares, the stylesheet and the index.
 * Pages themselves live in view_<page>.c. */
#include "viewer.h"
#include "html.h"
#include "query.h"
#include "response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARAMS 32

bool viewer_admit(req_t *req)
{
    const config_t *cfg = &req->conn->node->cfg;
    if (!req->conn->from_proxy || !cfg->viewer_user_header[0])
        return true; /* loopback without a proxy: nobody's word to take */
    const char *user = http_request_header(req->http, cfg->viewer_user_header);
    if (!user || !user[0]) {
        char d[160];
        snprintf(d, sizeof(d),
                 "the sign-in proxy named no user in %s; sign in through the proxy "
                 "([viewer] user_header)",
                 cfg->viewer_user_header);
        response_problem(req, 403, "not-signed-in", d);
        return false;
    }
    size_t n = strlen(user);
    bool ok = n <= VIEWER_USER_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)user[i] >= 0x20 && user[i] != 0x7f;
    if (!ok) {
        response_problem(req, 400, "bad-user-header",
                         "the signed-in user's name is longer than 256 bytes or holds control "
                         "characters");
        return false;
    }
    req->viewer_user = strdup(user);
    if (!req->viewer_user)
        abort();
    return true;
}

bool viewer_bad_query(req_t *req, const char *const *allowed)
{
    const char *names[MAX_PARAMS + 2];
    size_t n = 0;
    for (; allowed && allowed[n] && n < MAX_PARAMS; n++)
        names[n] = allowed[n];
    names[n++] = "format";
    names[n] = NULL;
    const char *q = req->http->query, *bad;
    size_t bad_len;
    if (!query_only(q, names, &bad, &bad_len)) {
        char d[200];
        /* The name is the client's: not echoed, only counted in. */
        snprintf(d, sizeof(d), "unknown parameter; this page takes %zu named filters and format",
                 n - 1);
        response_problem(req, 400, "unknown-parameter", d);
        return true;
    }
    char format[8];
    int rc = query_get(q, "format", format, sizeof(format));
    if (rc < 0 || (rc == 1 && strcmp(format, "csv") != 0 && strcmp(format, "html") != 0)) {
        response_problem(req, 400, "bad-parameter", "format must be html or csv");
        return true;
    }
    return false;
}

bool viewer_wants_csv(const req_t *req)
{
    char format[8];
    return query_get(req->http->query, "format", format, sizeof(format)) == 1 &&
           strcmp(format, "csv") == 0;
}

void viewer_rule(const req_t *req, tr_smallnum_rule_t *rule)
{
    const config_t *cfg = &req->conn->node->cfg;
    rule->threshold = (long long)cfg->viewer_small_number_threshold;
    rule->rounding = (long long)cfg->viewer_rounding;
}

const char *viewer_count_text(const req_t *req, long long n, char *buf, size_t len)
{
    tr_smallnum_rule_t rule;
    viewer_rule(req, &rule);
    return tr_smallnum_text(&rule, tr_smallnum_count(&rule, n), buf, len);
}

void viewer_page_begin(req_t *req, strbuf_t *out, const char *title, const char *nav,
                       bool easy_read)
{
    html_page_t page = {
        .title = title,
        .nav = nav,
        .user = req->viewer_user,
        .org = req->conn->node->org,
        .easy_read = easy_read,
    };
    html_page_begin(out, &page);
}

void viewer_send_html(req_t *req, int status, strbuf_t *out)
{
    response_send(req, status, "text/html; charset=utf-8", NULL, out->buf ? out->buf : "",
                  out->len);
    strbuf_free(out);
}

void viewer_send_csv(req_t *req, const char *filename, strbuf_t *out)
{
    char hdr[160];
    /* filename is the page's own constant, never a client's value. */
    snprintf(hdr, sizeof(hdr), "Content-Disposition: attachment; filename=\"%s\"\r\n", filename);
    response_send(req, 200, "text/csv; charset=utf-8; header=present", hdr,
                  out->buf ? out->buf : "", out->len);
    strbuf_free(out);
}

void viewer_root(req_t *req)
{
    static const char body[] = "See /viewer/\n";
    response_send(req, 303, "text/plain; charset=utf-8", "Location: /viewer/\r\n", body,
                  sizeof(body) - 1);
}

void viewer_static(req_t *req)
{
    const char *want = html_css_path() + strlen("/viewer/static/");
    const char *got = req->http->path + strlen("/viewer/static/");
    if (strcmp(want, got) != 0) {
        response_problem(req, 404, "not-found",
                         "no such file; the stylesheet's name changes with its content");
        return;
    }
    size_t len;
    const char *css = html_css(&len);
    /* The name changes with the content: a year's caching is safe. */
    response_send_cached(req, 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable",
                         NULL, css, len);
}

void viewer_index(req_t *req)
{
    if (viewer_bad_query(req, NULL))
        return;
    strbuf_t out = {0};
    viewer_page_begin(req, &out, "Consortium viewer", NULL, false);
    strbuf_puts(&out, "<p>What this node holds, as its organisation may see it. Every page works "
                      "without JavaScript, and every table can be downloaded as CSV.</p>\n"
                      "<ul>\n"
                      "<li><a href=\"/viewer/directory\">Directory</a>: find a service by words, "
                      "need, area, who it is for and whether it is taking referrals.</li>\n"
                      "<li><a href=\"/viewer/coverage\">Coverage</a>: which needs have no service "
                      "taking referrals in which districts.</li>\n"
                      "<li><a href=\"/viewer/pathways\">Pathways</a>: where people are referred, "
                      "and where referrals stall.</li>\n"
                      "<li><a href=\"/viewer/feedback\">Feedback</a>: you said, we did.</li>\n"
                      "<li><a href=\"/viewer/feedback/easy-read\">Easy read</a>: the feedback log "
                      "in plain words.</li>\n"
                      "</ul>\n");
    html_page_end(&out);
    viewer_send_html(req, 200, &out);
}
