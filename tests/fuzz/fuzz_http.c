/* Fuzz target for server/http.c: each input is parsed twice, whole and in pieces (split and
 * paused as a hash of it decides); both must yield the same requests and the same outcome. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_DIGESTS 64

typedef struct {
    unsigned seed;
    bool may_pause;
    unsigned requests;
    uint64_t digests[MAX_DIGESTS];
} fuzz_state_t;

static unsigned next_rand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211u;
    return h;
}

/* Reads every byte handed out, so ASan sees a pointer the arena's realloc left dangling. */
static uint64_t digest_request(const http_request_t *req)
{
    uint64_t h = 14695981039346656037u;
    if (req->target[req->target_len] != '\0' || req->body[req->body_len] != '\0')
        abort();
    h = mix(h, req->target, req->target_len + 1);
    h = mix(h, req->path, strlen(req->path) + 1);
    h = mix(h, req->query, strlen(req->query) + 1);
    for (unsigned i = 0; i < req->n_headers; i++) {
        h = mix(h, req->headers[i].name, strlen(req->headers[i].name) + 1);
        h = mix(h, req->headers[i].value, strlen(req->headers[i].value) + 1);
    }
    h = mix(h, req->body, req->body_len + 1);
    unsigned char meta[4] = {(unsigned char)req->method, req->keep_alive, req->http_major,
                             req->http_minor};
    h = mix(h, meta, sizeof meta);
    (void)http_request_header(req, "content-length");
    /* The media-type parser sees every header value. */
    for (unsigned i = 0; i < req->n_headers; i++) {
        bool json = http_media_type_is(req->headers[i].value, "application/json");
        if (json && strncasecmp(req->headers[i].value, "application/json", 16) != 0)
            abort();
        h = mix(h, &json, 1);
    }
    return h;
}

static int on_request(http_parser_t *p, http_request_t *req, void *ud)
{
    fuzz_state_t *st = ud;
    if (st->requests < MAX_DIGESTS)
        st->digests[st->requests] = digest_request(req);
    st->requests++;
    http_request_free(req);
    return st->may_pause && next_rand(&st->seed) % 4 == 0 ? 1 : 0;
}

/* Feeds data in pieces of at most max_piece bytes (0: all at once), each its own heap copy so a
 * read past the piece is caught; resumes after every pause. Returns HTTP_OK or HTTP_ERROR. */
static int parse(const uint8_t *data, size_t size, size_t max_piece, fuzz_state_t *st)
{
    static const http_limits_t limits = {
        .max_url = 256, .max_header_bytes = 1024, .max_headers = 16, .max_body = 4096};
    http_parser_t p;
    http_parser_init(&p, &limits, on_request, st);
    int rc = HTTP_OK;
    size_t off = 0;
    while (off < size && rc != HTTP_ERROR) {
        size_t n = max_piece ? 1 + next_rand(&st->seed) % max_piece : size - off;
        if (n > size - off)
            n = size - off;
        char *piece = malloc(n);
        if (piece == NULL)
            abort();
        memcpy(piece, data + off, n);
        size_t done = 0;
        while (done < n) {
            size_t used = 0;
            rc = http_parser_feed(&p, piece + done, n - done, &used);
            if (used > n - done || (rc == HTTP_OK && used != n - done))
                abort();
            /* A 100 Continue is owed only inside a request, never after an error. */
            if (http_parser_expects_continue(&p) &&
                (!http_parser_mid_request(&p) || rc == HTTP_ERROR))
                abort();
            if (http_parser_expects_continue(&p) && next_rand(&st->seed) % 2)
                http_parser_continue_sent(&p);
            done += used;
            if (rc != HTTP_PAUSED)
                break;
            http_parser_resume(&p);
            rc = HTTP_OK;
        }
        free(piece);
        off += n;
    }
    if (rc == HTTP_ERROR) {
        int status;
        const char *slug, *detail;
        http_parser_error(&p, &status, &slug, &detail);
        if (status < 400 || status > 505 || slug == NULL || detail == NULL || *detail == '\0')
            abort();
        if (http_parser_mid_request(&p))
            abort();
    }
    http_parser_close(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Seeding from a hash keeps every byte of a seed file part of the request stream. */
    unsigned seed = 2166136261u;
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 16777619u;

    static fuzz_state_t whole, split; /* static: too big to want on the stack */
    memset(&whole, 0, sizeof whole);
    memset(&split, 0, sizeof split);
    split.seed = seed;
    split.may_pause = true;
    int rc_whole = parse(data, size, 0, &whole);
    int rc_split = parse(data, size, 1 + seed % 64, &split);

    /* Which status an error gets may depend on where a span was cut (a long target that also
     * holds a bad byte), but whether there is one, and what came before it, may not. */
    if (rc_whole != rc_split || whole.requests != split.requests)
        abort();
    unsigned n = whole.requests < MAX_DIGESTS ? whole.requests : MAX_DIGESTS;
    if (memcmp(whole.digests, split.digests, n * sizeof whole.digests[0]) != 0)
        abort();
    return 0;
}
