/* The directory's full-text search in memory (dir_fts.h): a dictionary of
 * lexemes, a sorted posting list of documents per lexeme, and tsqueries
 * evaluated over them as bitmaps, one bit a document: a few hundred word
 * operations for 10,000 services, where the database's pre-query read
 * every matching row. */
#include "dir_fts.h"
#include "tr_error.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t *docs; /* ascending */
    uint32_t n, cap;
} post_t;

struct dir_fts {
    char **lex;    /* number -> lexeme */
    post_t *post;  /* number -> documents holding it */
    size_t n, cap; /* lexemes */
    int32_t *dict; /* open addressing over lex, -1 empty */
    size_t dict_cap;
    size_t bytes; /* lexemes' text and the posting lists' capacity */
    bool broken;
};

enum { Q_VAL, Q_AND, Q_OR, Q_NOT };

typedef struct {
    int op;
    int left, right; /* node numbers; right unused for Q_NOT (left) and Q_VAL */
    char *lex;       /* Q_VAL */
} qnode_t;

struct dir_tsq {
    qnode_t node[DIR_TSQ_MAX_NODES];
    int n, root; /* root -1: the empty query */
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* ---- the dictionary and the posting lists ---- */

dir_fts_t *dir_fts_new(void)
{
    dir_fts_t *f = calloc(1, sizeof(*f));
    if (!f)
        abort();
    return f;
}

void dir_fts_free(dir_fts_t *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->lex[i]);
        free(f->post[i].docs);
    }
    free(f->lex);
    free(f->post);
    free(f->dict);
    free(f);
}

bool dir_fts_ok(const dir_fts_t *f)
{
    return !f->broken;
}

size_t dir_fts_bytes(const dir_fts_t *f)
{
    return f->bytes + f->cap * (sizeof(char *) + sizeof(post_t)) + f->dict_cap * sizeof(int32_t);
}

static void dict_grow(dir_fts_t *f)
{
    size_t cap = f->dict_cap ? f->dict_cap * 2 : 1024;
    int32_t *d = xrealloc(NULL, cap * sizeof(*d));
    for (size_t i = 0; i < cap; i++)
        d[i] = -1;
    for (size_t k = 0; k < f->n; k++) {
        size_t i = hash_bytes(f->lex[k], strlen(f->lex[k])) & (cap - 1);
        while (d[i] >= 0)
            i = (i + 1) & (cap - 1);
        d[i] = (int32_t)k;
    }
    free(f->dict);
    f->dict = d;
    f->dict_cap = cap;
}

/* The number of the lexeme s (len bytes), or -1 when unknown and not create. */
static int32_t lookup(dir_fts_t *f, const char *s, size_t len, bool create)
{
    if (!f->dict_cap || (create && (f->n + 1) * 2 > f->dict_cap))
        dict_grow(f);
    size_t i = hash_bytes(s, len) & (f->dict_cap - 1);
    for (; f->dict[i] >= 0; i = (i + 1) & (f->dict_cap - 1)) {
        const char *l = f->lex[f->dict[i]];
        if (strncmp(l, s, len) == 0 && l[len] == '\0')
            return f->dict[i];
    }
    if (!create)
        return -1;
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 1024;
        f->lex = xrealloc(f->lex, f->cap * sizeof(*f->lex));
        f->post = xrealloc(f->post, f->cap * sizeof(*f->post));
    }
    char *copy = xrealloc(NULL, len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    f->lex[f->n] = copy;
    f->post[f->n] = (post_t){0};
    f->bytes += len + 1;
    f->dict[i] = (int32_t)f->n;
    return (int32_t)f->n++;
}

/* The first position in p not below doc. */
static uint32_t post_find(const post_t *p, uint32_t doc)
{
    uint32_t lo = 0, hi = p->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->docs[mid] < doc)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void post_add(dir_fts_t *f, post_t *p, uint32_t doc)
{
    /* A load puts documents in ascending order: an append. */
    uint32_t at = p->n && p->docs[p->n - 1] < doc ? p->n : post_find(p, doc);
    if (at < p->n && p->docs[at] == doc)
        return;
    if (p->n == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 4;
        p->docs = xrealloc(p->docs, cap * sizeof(*p->docs));
        f->bytes += (cap - p->cap) * sizeof(*p->docs);
        p->cap = cap;
    }
    memmove(p->docs + at + 1, p->docs + at, (p->n - at) * sizeof(*p->docs));
    p->docs[at] = doc;
    p->n++;
}

/* One quoted string of a tsvector's or tsquery's text from *pp (at the
 * opening quote), unescaped ('' and \\ as PostgreSQL's output functions
 * double them) into buf; *pp after the closing quote. false when
 * unterminated. */
static bool quoted(const char **pp, char **buf, size_t *cap, size_t *len)
{
    const char *p = *pp + 1;
    *len = 0;
    for (;;) {
        if (*p == '\0')
            return false;
        if (*p == '\'' && p[1] != '\'')
            break;
        if ((*p == '\'' && p[1] == '\'') || (*p == '\\' && p[1] != '\0'))
            p++;
        if (*len + 2 > *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *buf = xrealloc(*buf, *cap);
        }
        (*buf)[(*len)++] = *p++;
    }
    *pp = p + 1;
    return true;
}

void dir_fts_add(dir_fts_t *f, uint32_t doc, const char *tsv, uint32_t **lex, uint32_t *n)
{
    uint32_t *ids = NULL, cap = 0;
    char *buf = NULL;
    size_t bcap = 0, len;
    *n = 0;
    for (const char *p = tsv ? tsv : ""; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        if (*p != '\'' || !quoted(&p, &buf, &bcap, &len) || *n == DIR_FTS_MAX_LEXEMES) {
            f->broken = true; /* not a tsvector's text: searches ask the database */
            break;
        }
        /* positions and weights (:1,3A) are not kept: no phrase is evaluated here */
        while (*p && *p != ' ')
            p++;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            ids = xrealloc(ids, cap * sizeof(*ids));
        }
        int32_t k = lookup(f, buf, len, true);
        ids[(*n)++] = (uint32_t)k;
        post_add(f, &f->post[k], doc);
    }
    free(buf);
    *lex = ids;
}

void dir_fts_remove(dir_fts_t *f, uint32_t doc, const uint32_t *lex, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        post_t *p = &f->post[lex[i]];
        uint32_t at = post_find(p, doc);
        if (at < p->n && p->docs[at] == doc) {
            memmove(p->docs + at, p->docs + at + 1, (p->n - at - 1) * sizeof(*p->docs));
            p->n--;
        }
    }
}

/* ---- the query ---- */

typedef struct {
    const char *p;
    dir_tsq_t *q;
    int rc;
    char *buf;
    size_t cap;
} parser_t;

static void skip_space(parser_t *ps)
{
    while (*ps->p == ' ')
        ps->p++;
}

static int new_node(parser_t *ps, int op, int left, int right)
{
    if (ps->q->n == DIR_TSQ_MAX_NODES) {
        ps->rc = TR_E_LIMIT;
        return -1;
    }
    ps->q->node[ps->q->n] = (qnode_t){op, left, right, NULL};
    return ps->q->n++;
}

static int parse_or(parser_t *ps);

/* An operand, a NOT or a parenthesised expression. */
static int parse_unary(parser_t *ps)
{
    skip_space(ps);
    if (*ps->p == '!') {
        ps->p++;
        int x = parse_unary(ps);
        return x < 0 ? -1 : new_node(ps, Q_NOT, x, -1);
    }
    if (*ps->p == '(') {
        ps->p++;
        int x = parse_or(ps);
        skip_space(ps);
        if (x < 0)
            return -1;
        if (*ps->p != ')') {
            ps->rc = ps->rc ? ps->rc : TR_E_INVAL;
            return -1;
        }
        ps->p++;
        return x;
    }
    size_t len;
    if (*ps->p != '\'' || !quoted(&ps->p, &ps->buf, &ps->cap, &len)) {
        ps->rc = TR_E_INVAL;
        return -1;
    }
    if (*ps->p == ':') { /* a prefix or weights: not evaluated here */
        ps->rc = TR_E_LIMIT;
        return -1;
    }
    int x = new_node(ps, Q_VAL, -1, -1);
    if (x < 0)
        return -1;
    char *lex = xrealloc(NULL, len + 1);
    memcpy(lex, ps->buf, len);
    lex[len] = '\0';
    ps->q->node[x].lex = lex;
    return x;
}

/* NOT binds tightest, then AND, then OR (a phrase, between NOT and AND in
 * PostgreSQL, is refused). */
static int parse_and(parser_t *ps)
{
    int x = parse_unary(ps);
    for (;;) {
        skip_space(ps);
        if (x < 0)
            return -1;
        if (*ps->p == '<') {
            ps->rc = TR_E_LIMIT;
            return -1;
        }
        if (*ps->p != '&')
            return x;
        ps->p++;
        int y = parse_unary(ps);
        x = y < 0 ? -1 : new_node(ps, Q_AND, x, y);
    }
}

static int parse_or(parser_t *ps)
{
    int x = parse_and(ps);
    for (;;) {
        skip_space(ps);
        if (x < 0 || *ps->p != '|')
            return x;
        ps->p++;
        int y = parse_and(ps);
        x = y < 0 ? -1 : new_node(ps, Q_OR, x, y);
    }
}

void dir_tsq_free(dir_tsq_t *q)
{
    if (!q)
        return;
    for (int i = 0; i < q->n; i++)
        free(q->node[i].lex);
    free(q);
}

int dir_tsq_parse(const char *text, dir_tsq_t **out)
{
    dir_tsq_t *q = calloc(1, sizeof(*q));
    if (!q)
        abort();
    parser_t ps = {text ? text : "", q, 0, NULL, 0};
    q->root = -1;
    skip_space(&ps);
    if (*ps.p) {
        q->root = parse_or(&ps);
        skip_space(&ps);
        if (ps.rc == 0 && (q->root < 0 || *ps.p))
            ps.rc = *ps.p == '<' ? TR_E_LIMIT : TR_E_INVAL;
    }
    free(ps.buf);
    if (ps.rc != 0) {
        dir_tsq_free(q);
        *out = NULL;
        return ps.rc;
    }
    *out = q;
    return 0;
}

/* Node x's matches into bits (words 64-bit words), tmp a scratch area of
 * words per level of depth below x. */
static void eval(const dir_fts_t *f, const dir_tsq_t *q, int x, size_t words, uint64_t *bits,
                 uint64_t *tmp)
{
    const qnode_t *nd = &q->node[x];
    switch (nd->op) {
    case Q_VAL: {
        memset(bits, 0, words * sizeof(*bits));
        int32_t k = lookup((dir_fts_t *)f, nd->lex, strlen(nd->lex), false);
        if (k < 0)
            return;
        const post_t *p = &f->post[k];
        for (uint32_t i = 0; i < p->n && p->docs[i] / 64 < words; i++)
            bits[p->docs[i] / 64] |= 1ull << (p->docs[i] % 64);
        return;
    }
    case Q_NOT:
        eval(f, q, nd->left, words, bits, tmp);
        for (size_t i = 0; i < words; i++)
            bits[i] = ~bits[i];
        return;
    default:
        eval(f, q, nd->left, words, bits, tmp);
        eval(f, q, nd->right, words, tmp, tmp + words);
        for (size_t i = 0; i < words; i++)
            bits[i] = nd->op == Q_AND ? bits[i] & tmp[i] : bits[i] | tmp[i];
        return;
    }
}

void dir_tsq_eval(const dir_fts_t *f, const dir_tsq_t *q, size_t n_docs, uint64_t *bits)
{
    size_t words = (n_docs + 63) / 64;
    if (q->root < 0 || !words) {
        memset(bits, 0, words * sizeof(*bits));
        return;
    }
    /* Each binary node needs one scratch bitmap below it: at most n levels. */
    uint64_t *tmp = xrealloc(NULL, words * sizeof(*tmp) * (size_t)q->n);
    eval(f, q, q->root, words, bits, tmp);
    free(tmp);
    if (n_docs % 64) /* bits past the last document (a NOT set them) */
        bits[words - 1] &= (1ull << (n_docs % 64)) - 1;
}
