/* Listening sockets: the mutual-TLS API and, when configured, the public
 * read API and the viewer's plain-HTTP pages. Addresses are literal IPs, so nothing resolves names
 * or blocks. Under a supervisor ([node] workers > 1) every worker binds each
 * address itself with SO_REUSEPORT and the kernel spreads new connections. */
#include "listener.h"
#include "conn.h"
#include "log.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKLOG 1024

static void on_connection(uv_stream_t *server, int status)
{
    node_t *node = server->data;
    if (status < 0) {
        log_event(LOG_WARN, "accept_failed", json_pack("{s:s}", "error", uv_strerror(status)));
        return;
    }
    conn_kind_t kind = server == (uv_stream_t *)&node->public_listener   ? CONN_PUBLIC
                       : server == (uv_stream_t *)&node->viewer_listener ? CONN_VIEWER
                                                                         : CONN_API;
    conn_accept(node, server, kind);
}

/* libuv 1.44's uv_tcp_bind has no SO_REUSEPORT flag: make the socket, set
 * the option before bind (the kernel only groups sockets that all set it, and
 * only for the same user), and hand it to libuv. */
static int bind_reuseport(uv_tcp_t *tcp, const struct sockaddr *addr)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, rc = 0;
    socklen_t len =
        addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, addr, len) != 0) {
        rc = -errno;
        goto fail;
    }
    rc = uv_tcp_open(tcp, fd); /* the handle owns fd from here: uv_close closes it */
    if (rc != 0)
        goto fail;
    return 0;
fail:
    close(fd);
    return rc;
}

static int bind_one(node_t *node, uv_tcp_t *tcp, const char *host, int port, const char *key,
                    const char *spec, char *err, size_t err_len)
{
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
    if (rc != 0)
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
    if (rc != 0) {
        snprintf(err, err_len, "%s: %s is not an IP address", key, host);
        return rc;
    }
    uv_tcp_init(node->loop, tcp);
    tcp->data = node;
    if (node->cfg.worker)
        rc = bind_reuseport(tcp, (const struct sockaddr *)&addr);
    else
        rc = uv_tcp_bind(tcp, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)tcp, BACKLOG, on_connection);
    if (rc != 0) {
        snprintf(err, err_len, "%s: cannot listen on %s: %s", key, spec, uv_strerror(rc));
        uv_close((uv_handle_t *)tcp, NULL);
    }
    return rc;
}

int listener_start(node_t *node, char *err, size_t err_len)
{
    const config_t *cfg = &node->cfg;
    int rc = bind_one(node, &node->listener, cfg->listen_host, cfg->listen_port, "[node] listen",
                      cfg->listen, err, err_len);
    if (rc != 0)
        return rc;
    node->listening = true;
    if (cfg->public_listen[0]) {
        rc = bind_one(node, &node->public_listener, cfg->public_host, cfg->public_port,
                      "[public] listen", cfg->public_listen, err, err_len);
        if (rc != 0)
            return rc;
        node->public_listening = true;
    }
    if (cfg->viewer_listen[0]) {
        rc = bind_one(node, &node->viewer_listener, cfg->viewer_host, cfg->viewer_port,
                      "[viewer] listen", cfg->viewer_listen, err, err_len);
        if (rc != 0)
            return rc;
        node->viewer_listening = true;
    }
    return 0;
}

void listener_stop(node_t *node)
{
    if (node->listening)
        uv_close((uv_handle_t *)&node->listener, NULL);
    if (node->public_listening)
        uv_close((uv_handle_t *)&node->public_listener, NULL);
    if (node->viewer_listening)
        uv_close((uv_handle_t *)&node->viewer_listener, NULL);
    node->listening = node->public_listening = node->viewer_listening = false;
}
