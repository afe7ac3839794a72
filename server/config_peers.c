/* [peer NAME] sections: the nodes this one pulls from, and what it shares
 * with each. Sharing is decided by the sender, per peer and per kind. */
#include "config_peers.h"
#include "tr_identity.h"
#include "tr_record.h"

#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static peer_cfg_t *peer_named(config_t *cfg, const char *name, bool create)
{
    for (size_t i = 0; i < cfg->n_peers; i++)
        if (strcmp(cfg->peers[i].name, name) == 0)
            return &cfg->peers[i];
    if (!create || cfg->n_peers == CONFIG_MAX_PEERS)
        return NULL;
    cfg->peers = realloc(cfg->peers, (cfg->n_peers + 1) * sizeof(*cfg->peers));
    if (!cfg->peers)
        abort();
    peer_cfg_t *p = &cfg->peers[cfg->n_peers++];
    memset(p, 0, sizeof(*p));
    p->name = xstrdup(name);
    p->pull = true;
    p->share = 1u << TR_KIND_DIRECTORY_SERVICE; /* the shared directory, unless told more */
    return p;
}

/* "directory.service, pathway.referral" or "all" or "none". */
static int parse_share(const char *v, unsigned *out)
{
    if (strcmp(v, "all") == 0) {
        *out = (1u << TR_KIND_COUNT_) - 1;
        return 0;
    }
    *out = 0;
    if (strcmp(v, "none") == 0)
        return 0;
    char buf[512];
    if (strlen(v) >= sizeof(buf))
        return -1;
    strcpy(buf, v);
    for (char *save, *tok = strtok_r(buf, ", \t", &save); tok;
         tok = strtok_r(NULL, ", \t", &save)) {
        tr_kind_t k;
        if (tr_kind_parse(tok, &k) != 0)
            return -1;
        *out |= 1u << k;
    }
    return 0;
}

int config_peer_set(config_t *cfg, const char *name, const char *key, const char *value, char *why,
                    size_t why_len)
{
    if (!tr_name_valid(name)) {
        snprintf(why, why_len, "peer names are like org ids: lowercase letters, digits, '-'");
        return -1;
    }
    peer_cfg_t *p = peer_named(cfg, name, true);
    if (!p) {
        snprintf(why, why_len, "at most %d peers", CONFIG_MAX_PEERS);
        return -1;
    }
    if (strcmp(key, "url") == 0) {
        if (strncmp(value, "https://", 8) != 0 || strlen(value) > 255 || strlen(value) < 10) {
            snprintf(why, why_len, "url must be https://host:port");
            return -1;
        }
        free(p->url);
        p->url = xstrdup(value);
    } else if (strcmp(key, "org") == 0) {
        if (!tr_name_valid(value)) {
            snprintf(why, why_len, "org must be an organisation id");
            return -1;
        }
        free(p->org);
        p->org = xstrdup(value);
    } else if (strcmp(key, "share") == 0) {
        if (parse_share(value, &p->share) != 0) {
            snprintf(why, why_len,
                     "share lists record kinds (directory.service, "
                     "pathway.referral, pathway.event, feedback.entry, "
                     "feedback.response), or all, or none");
            return -1;
        }
    } else if (strcmp(key, "pull") == 0) {
        if (strcmp(value, "yes") && strcmp(value, "no")) {
            snprintf(why, why_len, "pull must be yes or no");
            return -1;
        }
        p->pull = strcmp(value, "yes") == 0;
    } else {
        snprintf(why, why_len, "unknown key %s (url, org, share, pull)", key);
        return -1;
    }
    return 0;
}

int config_peers_check(const config_t *cfg, char *err, size_t err_len, const char *path)
{
    for (size_t i = 0; i < cfg->n_peers; i++) {
        const peer_cfg_t *p = &cfg->peers[i];
        if (!p->url || !p->org) {
            snprintf(err, err_len, "%s: [peer %s] needs url and org", path, p->name);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->peers[j].org, p->org) == 0) {
                snprintf(err, err_len, "%s: [peer %s] and [peer %s] name the same org", path,
                         cfg->peers[j].name, p->name);
                return -1;
            }
        }
    }
    return 0;
}

void config_peers_free(config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_peers; i++) {
        free(cfg->peers[i].name);
        free(cfg->peers[i].url);
        free(cfg->peers[i].org);
    }
    free(cfg->peers);
    cfg->peers = NULL;
    cfg->n_peers = 0;
}

const peer_cfg_t *config_peer_by_org(const config_t *cfg, const char *org)
{
    for (size_t i = 0; i < cfg->n_peers; i++)
        if (strcmp(cfg->peers[i].org, org) == 0)
            return &cfg->peers[i];
    return NULL;
}

void config_peers_write_example(FILE *out)
{
    fprintf(out, "\n# One section per peer node: this node pulls from it (GET /v1/fed/changes)\n"
                 "# and lets it pull what share grants it. The peer's certificate must name org.\n"
                 ";[peer riverside]\n"
                 "# https://host:port of the peer's API (required)\n"
                 ";url = https://riverside.example.org.uk:8443\n"
                 "# the organisation the peer's node certificate names (required)\n"
                 ";org = riverside-sv-centre\n"
                 "# record kinds this node sends it, its own and relayed: a list, all, or none\n"
                 ";share = directory.service\n"
                 "# pull from this peer: yes or no\n"
                 ";pull = yes\n");
}
