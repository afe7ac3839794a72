"""The viewer behind nginx, through the shipped example deploy/nginx/trellis-viewer.conf
(only its ports and file paths changed): TLS and basic auth at the proxy, the
signed-in user's name carried to the page and the node's log, a header the
browser forges overwritten, and the viewer's own headers passed through."""

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from base64 import b64encode

import fedkit as fk
from fedkit import sd
from harness import SOURCE_DIR, Checks, PgCluster, Pki, free_port
from viewkit import get, missing_security_headers, viewer_node

t = Checks("test_viewer_proxy")
A = sd.ORGS[0]
EXAMPLE = os.path.join(SOURCE_DIR, "deploy", "nginx", "trellis-viewer.conf")


class Nginx:
    """nginx in the foreground, one process, every file in a temporary folder."""

    def __init__(self, site_text):
        self.dir = tempfile.mkdtemp(prefix="trellis-nginx-")
        self.port = None
        self.proc = None
        with open(os.path.join(self.dir, "site.conf"), "w") as f:
            f.write(site_text)
        d = self.dir
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"daemon off;\nmaster_process off;\npid {d}/nginx.pid;\n"
                    f"error_log {d}/error.log info;\nevents {{ worker_connections 64; }}\n"
                    f"http {{\n  access_log {d}/access.log;\n"
                    f"  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n"
                    f"  fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n"
                    f"  scgi_temp_path {d}/scgi;\n  include {d}/site.conf;\n}}\n")

    def start(self, port):
        self.port = port
        self.proc = subprocess.Popen(["nginx", "-p", self.dir, "-e", f"{self.dir}/error.log",
                                      "-c", f"{self.dir}/nginx.conf"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited: " + self.proc.stderr.read().decode()[-2000:]
                                   + self.log())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not listen: " + self.log())

    def log(self):
        try:
            return open(os.path.join(self.dir, "error.log")).read()[-2000:]
        except OSError:
            return ""

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def through(proxy, pki, path, user=None, password=None, headers=None):
    """A browser's request: HTTPS to the proxy, basic auth when user is given."""
    ctx = ssl.create_default_context(cafile=pki.ca)
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, timeout=30, context=ctx)
    hdrs = dict(headers or {})
    if user:
        hdrs["Authorization"] = "Basic " + b64encode(f"{user}:{password}".encode()).decode()
    try:
        conn.request("GET", path, headers=hdrs)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode("utf-8",
                                                                                    "replace")
    finally:
        conn.close()


with PgCluster("viewproxy") as pg:
    pki = Pki()
    node = proxy = None
    try:
        node = viewer_node(pki, pg, A, "a", viewer={"trusted_proxies": "127.0.0.2"})
        node.start()
        fk.post(node, pki.agent(A, "office"), [fk.entry(A, "Evening hours, please.")])

        certs = pki.node(A, "a")
        htpasswd = os.path.join(tempfile.mkdtemp(prefix="trellis-htpasswd-"), "users")
        hashed = subprocess.run(["openssl", "passwd", "-apr1", "s3cret-pass"], check=True,
                                capture_output=True, text=True).stdout.strip()
        with open(htpasswd, "w") as f:
            f.write(f"alice:{hashed}\n")

        port = free_port()
        text = open(EXAMPLE).read()
        subs = [("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
                ("/etc/ssl/trellis-viewer/fullchain.pem", certs["chain"]),
                ("/etc/ssl/trellis-viewer/privkey.pem", certs["key"]),
                ("/etc/nginx/trellis-viewer.htpasswd", htpasswd),
                ("http://127.0.0.1:8081", f"http://127.0.0.1:{node.viewer_port}")]
        for old, new in subs:
            t.check(old in text, f"the example has {old!r} to point at the test's own")
            text = text.replace(old, new)
        t.check("proxy_bind 127.0.0.2;" in text
                and "proxy_set_header X-Forwarded-User $remote_user;" in text,
                "the example binds to the trusted address and sets the user header")
        proxy = Nginx(text)
        proxy.start(port)

        status, hdrs, _ = through(proxy, pki, "/viewer/")
        t.equal(status, 401, "through the proxy without signing in: 401 from nginx")
        status, _, _ = through(proxy, pki, "/viewer/", "alice", "wrong")
        t.equal(status, 401, "a wrong password: 401")
        status, hdrs, body = through(proxy, pki, "/viewer/feedback", "alice", "s3cret-pass")
        t.equal(status, 200, "signed in: the feedback page through the proxy")
        t.check("Signed in as <strong>alice</strong>" in body, "the page names the signed-in user")
        t.check("Evening hours, please." in body, "the page shows the node's data")
        t.equal(missing_security_headers(hdrs), [], "the viewer's headers pass through nginx")
        status, _, body = through(proxy, pki, "/viewer/", "alice", "s3cret-pass",
                                  headers={"X-Forwarded-User": "bob"})
        t.check(status == 200 and "<strong>alice</strong>" in body and "bob" not in body,
                "a user header forged by the browser is overwritten by the proxy")
        css = body.split('<link rel="stylesheet" href="', 1)[1].split('"', 1)[0]
        status, hdrs, _ = through(proxy, pki, css, "alice", "s3cret-pass")
        t.check(status == 200 and "max-age=31536000" in hdrs.get("cache-control", ""),
                "the stylesheet through the proxy, cached for a year", str(hdrs))
        status, hdrs, text = through(proxy, pki, "/viewer/feedback?format=csv", "alice",
                                     "s3cret-pass")
        t.check(status == 200 and hdrs.get("content-type", "").startswith("text/csv")
                and "Evening hours" in text, "the CSV download through the proxy")

        views = [e for e in node.log_events() if e.get("event") == "view"]
        t.check(any(e.get("user") == "alice" and e.get("path") == "/viewer/feedback"
                    for e in views), "the node logs each view with the proxy's user",
                str(views[-2:])[:300])
        t.check(all(e.get("user") != "bob" for e in views), "the forged name is logged nowhere")

        status, _, body = get(node, "/viewer/", headers={"X-Forwarded-User": "bob"})
        t.check(status == 200 and "bob" not in body,
                "straight to the node from 127.0.0.1 (not the proxy's address): no user")
        fk.stop_checked(t, node)
    finally:
        if proxy:
            proxy.close()
        fk.close_nodes(node)
        pki.close()

t.finish()
