/* RFC 9457 problem+json rendering. */
#include "tr_problem.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define TR_PROBLEM_BASE "https://trellis.invalid/problems/"

const char *tr_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

char *tr_problem_render(int status, const char *type_slug, const char *detail, size_t *len_out)
{
    char type[160];
    snprintf(type, sizeof(type), TR_PROBLEM_BASE "%s", type_slug ? type_slug : "about-blank");
    json_t *doc = json_pack("{s:s, s:s, s:i}", "type", type, "title", tr_http_reason(status),
                            "status", status);
    if (!doc)
        return NULL;
    if (detail && json_object_set_new(doc, "detail", json_string(detail)) != 0) {
        json_decref(doc);
        return NULL;
    }
    char *out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    if (out && len_out)
        *len_out = strlen(out);
    return out;
}
