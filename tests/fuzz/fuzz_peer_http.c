/* Fuzz target for the peer response parser (server/peer_tls.c): each input is one peer's reply,
 * parsed whole and in pieces (sizes from a hash of it); both must agree on the outcome, status,
 * framing and body, the body never passes its bound, and an error never names response bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peer_client.h"
#include "tr_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BODY 4096

typedef struct {
    int rc;
    size_t used; /* bytes of the input the response took */
    int status;
    bool keep_alive;
    char content_type[128];
    char *body;
    size_t body_len;
} outcome_t;

static void parse(const uint8_t *data, size_t size, size_t max_piece, unsigned seed, outcome_t *out)
{
    peer_client_parser_t p;
    peer_client_parser_init(&p, MAX_BODY);
    memset(out, 0, sizeof *out);
    out->rc = PEER_PARSE_MORE;
    size_t off = 0;
    while (off < size && out->rc == PEER_PARSE_MORE) {
        seed = seed * 1103515245u + 12345u;
        size_t n = max_piece ? 1 + (seed >> 16) % max_piece : size - off;
        if (n > size - off)
            n = size - off;
        /* Its own heap copy: a read past the piece is caught. */
        char *piece = malloc(n);
        if (piece == NULL)
            abort();
        memcpy(piece, data + off, n);
        size_t used = 0;
        out->rc = peer_client_parser_feed(&p, piece, n, &used);
        free(piece);
        if (used > n || (out->rc == PEER_PARSE_MORE && used != n))
            abort();
        off += used;
    }
    out->used = off;
    if (out->rc == PEER_PARSE_DONE) {
        out->status = p.status;
        out->keep_alive = p.keep_alive;
        memcpy(out->content_type, p.content_type, sizeof out->content_type);
        out->body = peer_client_parser_take_body(&p, &out->body_len);
        if (out->body_len > MAX_BODY || out->status < 200 || out->status > 599)
            abort();
        if (out->body && out->body[out->body_len] != '\0')
            abort();
        if (strlen(out->content_type) >= sizeof out->content_type)
            abort();
    } else if (out->rc != PEER_PARSE_MORE) {
        if ((out->rc != TR_E_HTTP && out->rc != TR_E_LIMIT) || p.error == NULL || !*p.error)
            abort();
        /* Errors are sticky. */
        size_t used = 1;
        if (peer_client_parser_feed(&p, "HTTP/1.1 200 OK\r\n", 17, &used) != out->rc || used)
            abort();
    }
    peer_client_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned seed = 2166136261u;
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 16777619u;
    outcome_t whole, split;
    parse(data, size, 0, seed, &whole);
    parse(data, size, 1 + seed % 48, seed, &split);
    /* An error may be named differently depending on where a span was cut, but whether there
     * is one, and a complete response, may not. */
    bool whole_err = whole.rc < 0, split_err = split.rc < 0;
    if (whole_err != split_err || (whole.rc == PEER_PARSE_DONE) != (split.rc == PEER_PARSE_DONE))
        abort();
    if (whole.rc == PEER_PARSE_DONE &&
        (whole.used != split.used || whole.status != split.status ||
         whole.keep_alive != split.keep_alive ||
         strcmp(whole.content_type, split.content_type) != 0 || whole.body_len != split.body_len ||
         (whole.body_len && memcmp(whole.body, split.body, whole.body_len) != 0)))
        abort();
    free(whole.body);
    free(split.body);
    return 0;
}
