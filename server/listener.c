/* Listening socket of the API. Name resolution is not done here: the listen
 * address is a literal IP, so nothing can block at start-up or later. */
#include "listener.h"
#include "conn.h"
#include "log.h"

#include <stdio.h>

#define BACKLOG 1024

static void on_connection(uv_stream_t *server, int status)
{
    node_t *node = server->data;
    if (status < 0) {
        log_event(LOG_WARN, "accept_failed", json_pack("{s:s}", "error", uv_strerror(status)));
        return;
    }
    conn_accept(node);
}

int listener_start(node_t *node, char *err, size_t err_len)
{
    const config_t *cfg = &node->cfg;
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(cfg->listen_host, cfg->listen_port, (struct sockaddr_in *)&addr);
    if (rc != 0)
        rc = uv_ip6_addr(cfg->listen_host, cfg->listen_port, (struct sockaddr_in6 *)&addr);
    if (rc != 0) {
        snprintf(err, err_len, "[node] listen: %s is not an IP address", cfg->listen_host);
        return rc;
    }
    uv_tcp_init(node->loop, &node->listener);
    node->listener.data = node;
    rc = uv_tcp_bind(&node->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&node->listener, BACKLOG, on_connection);
    if (rc != 0) {
        snprintf(err, err_len, "[node] listen: cannot listen on %s: %s", cfg->listen,
                 uv_strerror(rc));
        uv_close((uv_handle_t *)&node->listener, NULL);
        return rc;
    }
    node->listening = true;
    return 0;
}

void listener_stop(node_t *node)
{
    if (node->listening)
        uv_close((uv_handle_t *)&node->listener, NULL);
    node->listening = false;
}
