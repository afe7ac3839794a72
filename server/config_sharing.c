/* [sharing] values and the audience they give. "peers" is resolved when a
 * record is signed: a peer added later does not receive records signed
 * before (their audience is part of what was signed). */
#include "config_sharing.h"
#include "tr_identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(((config_t *)0)->sharing) / sizeof(char *) == TR_KIND_COUNT_,
               "one [sharing] key per record kind");

typedef struct {
    const char *items[TR_AUDIENCE_MAX];
    size_t n;
} org_set_t;

/* Add org unless it is own_org or already there. -1 when the set is full. */
static int set_add(org_set_t *s, const char *org, const char *own_org)
{
    if (own_org && strcmp(org, own_org) == 0)
        return 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i], org) == 0)
            return 0;
    if (s->n == TR_AUDIENCE_MAX)
        return -1;
    s->items[s->n++] = org;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A list value: each token an organisation id. buf is modified and the set
 * points into it. */
static int parse_list(char *buf, org_set_t *s, const char *own_org)
{
    for (char *save, *tok = strtok_r(buf, ", \t", &save); tok;
         tok = strtok_r(NULL, ", \t", &save)) {
        if (!tr_name_valid(tok) || set_add(s, tok, own_org) != 0)
            return -1;
    }
    return 0;
}

int config_sharing_check(const config_t *cfg, char *err, size_t err_len, const char *path)
{
    for (int k = 0; k < TR_KIND_COUNT_; k++) {
        const char *v = cfg->sharing[k];
        if (!v || !strcmp(v, "consortium") || !strcmp(v, "peers") || !strcmp(v, "none"))
            continue;
        char buf[TR_AUDIENCE_MAX * (TR_NAME_MAX + 2)];
        org_set_t s = {0};
        if (strlen(v) >= sizeof(buf) || (strcpy(buf, v), parse_list(buf, &s, NULL)) != 0 ||
            s.n == 0) {
            snprintf(err, err_len,
                     "%s: [sharing] %s must be consortium, peers, none or a list of at most %d "
                     "organisation ids",
                     path, tr_kind_name((tr_kind_t)k), TR_AUDIENCE_MAX);
            return -1;
        }
    }
    return 0;
}

json_t *config_audience(const config_t *cfg, const char *own_org, tr_kind_t kind)
{
    const char *v = cfg->sharing[kind] ? cfg->sharing[kind] : "peers";
    if (strcmp(v, "consortium") == 0)
        return json_string(TR_AUDIENCE_CONSORTIUM);
    org_set_t s = {0};
    char buf[TR_AUDIENCE_MAX * (TR_NAME_MAX + 2)] = "";
    if (strcmp(v, "peers") == 0) {
        for (size_t i = 0; i < cfg->n_peers; i++)
            if (cfg->peers[i].share & (1u << kind))
                (void)set_add(&s, cfg->peers[i].org, own_org); /* at most 64 peers */
    } else if (strcmp(v, "none") != 0) {
        snprintf(buf, sizeof(buf), "%s", v);
        (void)parse_list(buf, &s, own_org); /* checked at load */
    }
    qsort(s.items, s.n, sizeof(s.items[0]), cmp_str);
    json_t *a = json_array();
    for (size_t i = 0; i < s.n; i++)
        json_array_append_new(a, json_string(s.items[i]));
    return a;
}
