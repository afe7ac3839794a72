"""Helpers for the viewer's tests: a node with its viewer listener on a free
loopback port, and plain-HTTP requests to it from a chosen source address
(127.0.0.2 and the like stand for a proxy: Linux routes all of 127/8 to
loopback)."""

import http.client
import re

from harness import Node, free_port


def viewer_node(pki, pg, org, name, db="trellis", viewer=None, config=None):
    """A Node whose [viewer] listens on 127.0.0.1 (viewer: more [viewer] keys)."""
    port = free_port()
    cfg = {sec: dict(kv) for sec, kv in (config or {}).items()}
    cfg.setdefault("viewer", {}).update({"listen": f"127.0.0.1:{port}", **(viewer or {})})
    node = Node(pki, pg, org=org, name=name, db=db, config=cfg)
    node.viewer_port = port
    return node


def get(node, path, headers=None, source="127.0.0.1", method="GET", timeout=30):
    """(status, headers with lowercased names, body text) of one plain-HTTP request."""
    conn = http.client.HTTPConnection("127.0.0.1", node.viewer_port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


def links(html):
    """The href of every link and the action of every form on a page, unescaped."""
    out = re.findall(r'<a [^>]*href="([^"]*)"', html)
    out += re.findall(r'<form [^>]*action="([^"]*)"', html)
    return [h.replace("&amp;", "&") for h in out]


SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def missing_security_headers(headers):
    """Names of the security headers a viewer reply lacks (or has without their value)."""
    bad = [k for k, v in SECURITY_HEADERS.items() if v not in headers.get(k, "")]
    if "frame-ancestors 'none'" not in headers.get("content-security-policy", ""):
        bad.append("content-security-policy frame-ancestors")
    return bad
