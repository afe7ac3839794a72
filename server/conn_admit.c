/* Admission at accept (conn_admit.h): connection limits per listener and
 * per public address, and who may reach the viewer's plain HTTP. */
#include "conn_admit.h"
#include "config_viewer.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* The key a public connection is counted under: its IPv4 address, or its IPv6 /64 (one host
 * commonly holds a whole /64, so per address would be no limit at all). */
static void public_key(const struct sockaddr_storage *ss, char *key, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        uv_ip4_name((const struct sockaddr_in *)ss, ip, sizeof(ip));
        snprintf(key, len, "public/%s", ip);
        return;
    }
    if (ss->ss_family == AF_INET6) {
        struct sockaddr_in6 a = *(const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
            uv_inet_ntop(AF_INET, &a.sin6_addr.s6_addr[12], ip, sizeof(ip));
            snprintf(key, len, "public/%s", ip);
            return;
        }
        memset(&a.sin6_addr.s6_addr[8], 0, 8);
        uv_ip6_name(&a, ip, sizeof(ip));
        snprintf(key, len, "public/%s/64", ip);
        return;
    }
    snprintf(key, len, "public/?");
}

/* The viewer speaks plain HTTP: only loopback and the trusted proxies may reach it. A listener
 * on a non-loopback address is there for the proxy, not for browsers going round its sign-in. */
static const char *viewer_refusal(node_t *node, conn_t *conn, const struct sockaddr_storage *ss)
{
    const config_t *cfg = &node->cfg;
    unsigned char addr[16];
    char ip[INET6_ADDRSTRLEN] = "?", key[INET6_ADDRSTRLEN + 8];
    if (config_viewer_addr((const struct sockaddr *)ss, addr) != 0)
        return "viewer: not an IP peer";
    if (ss->ss_family == AF_INET)
        uv_ip4_name((const struct sockaddr_in *)ss, ip, sizeof(ip));
    else
        uv_ip6_name((const struct sockaddr_in6 *)ss, ip, sizeof(ip));
    snprintf(key, sizeof(key), "viewer/%s", ip);
    conn->ident = node_ident_acquire(node, key);
    conn->from_proxy = config_viewer_trusted(cfg, addr);
    if (!conn->from_proxy && !config_viewer_loopback(addr))
        return "viewer: neither loopback nor a trusted proxy";
    if (node->n_viewer_conns > cfg->viewer_max_connections)
        return "viewer max_connections";
    return NULL;
}

/* Refusals at accept cost no TLS work. The public listener has a pool of its own, so however
 * many service finders (or a flood posing as them) connect, agents and peers keep theirs. */
const char *conn_admit_refusal(node_t *node, conn_t *conn, const struct sockaddr_storage *ss)
{
    const config_t *cfg = &node->cfg;
    if (node->draining)
        return "draining";
    if (conn->is_viewer)
        return viewer_refusal(node, conn, ss);
    if (!conn->is_public)
        return node->n_conns - node->n_public_conns - node->n_viewer_conns > cfg->max_connections
                   ? "max_connections"
                   : NULL;
    char key[80];
    public_key(ss, key, sizeof(key));
    conn->ident = node_ident_acquire(node, key);
    if (node->n_public_conns > cfg->public_max_connections)
        return "public max_connections";
    if (conn->ident->conns > cfg->public_max_per_address)
        return "public max_connections_per_address";
    return NULL;
}
