"""WCAG 2.2 AA in a real browser: a node with the sample data loaded, every
viewer page that exists (found by following the links from /viewer/, one of
each kind), checked by tests/a11y/viewer_a11y.mjs: axe-core with zero
violations, keyboard use, reflow at 320 px and at 200% zoom, no CSP
violation; a screenshot of each page under BUILD_DIR/viewer-screenshots/.
playwright-core and axe-core come from npm into BUILD_DIR/a11y (npm only for
this test; nothing from npm ships); the browser is Debian's chromium
(deploy/install-deps.sh installs both)."""

import json
import os
import re
import shutil
import subprocess
from urllib.parse import urlsplit

import fedkit as fk
from fedkit import sd
from harness import BUILD_DIR, SOURCE_DIR, Checks, PgCluster, Pki
from viewkit import get, links, viewer_node

t = Checks("test_viewer_a11y")
A = sd.ORGS[0]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
A11Y = os.path.join(BUILD_DIR, "a11y")
SHOTS = os.path.join(BUILD_DIR, "viewer-screenshots")


def npm_modules():
    """node_modules with playwright-core and axe-core, installed once per build folder."""
    mods = os.path.join(A11Y, "node_modules")
    if all(os.path.isdir(os.path.join(mods, m)) for m in ("playwright-core", "axe-core")):
        return mods
    os.makedirs(A11Y, exist_ok=True)
    shutil.copy(os.path.join(SOURCE_DIR, "tests", "a11y", "package.json"), A11Y)
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=A11Y, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("npm install in " + A11Y + " failed: " + r.stderr[-1500:])
    return mods


def kind_of(path):
    """One page of each kind: a service page stands for all of them."""
    p = urlsplit(path)
    return re.sub(r"/[0-9a-f-]{36}$", "/ID", p.path) + ("?" if p.query else "")


def discover(node):
    """Every page reachable from /viewer/ (two links deep), one of each kind and
    query shape, CSV downloads and the stylesheet left out."""
    pages, kinds, todo = [], set(), ["/viewer/"]
    for _ in range(3):
        nxt = []
        for path in todo:
            if kind_of(path) in kinds:
                continue
            status, hdrs, body = get(node, path)
            if status != 200 or not hdrs.get("content-type", "").startswith("text/html"):
                continue
            kinds.add(kind_of(path))
            pages.append(path)
            for h in links(body):
                h = h.split("#")[0]  # a browser never sends the fragment
                if h.startswith("?"):
                    h = urlsplit(path).path + h
                if h.startswith("/viewer") and "format=csv" not in h and "/static/" not in h:
                    nxt.append(h)
        todo = nxt
    return pages


with PgCluster("a11y") as pg:
    pki = Pki()
    node = None
    try:
        t.check(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is installed (deploy/install-deps.sh)")
        t.check(shutil.which("npm"), "npm is installed (deploy/install-deps.sh)")
        mods = npm_modules()

        node = viewer_node(pki, pg, A, "a")
        node.start()
        agent = pki.agent(A, "office")
        refs, mine, _ = sd.referrals(A, 40)
        fk.post(node, agent, sd.services(A))
        fk.post(node, agent, refs + mine)
        fk.post(node, agent, sd.feedback(A))

        pages = discover(node)
        for must in ("/viewer/", "/viewer/directory", "/viewer/coverage", "/viewer/pathways",
                     "/viewer/feedback", "/viewer/feedback/easy-read"):
            t.check(must in pages, f"{must} is among the pages checked", str(pages))
        t.check(any(p.startswith("/viewer/directory/services/") for p in pages),
                "a service's own page is among them", str(pages))

        shutil.rmtree(SHOTS, ignore_errors=True)
        r = subprocess.run(["node", os.path.join(SOURCE_DIR, "tests", "a11y", "viewer_a11y.mjs"),
                            f"http://127.0.0.1:{node.viewer_port}", SHOTS, *pages],
                           capture_output=True, text=True, timeout=900,
                           env={**os.environ, "A11Y_MODULES": mods, "CHROMIUM": CHROMIUM})
        results = []
        for line in r.stdout.splitlines():
            try:
                results.append(json.loads(line))
            except ValueError:
                pass
        per_page = {x["page"]: x for x in results if "page" in x}
        t.check(r.returncode in (0, 1) and len(per_page) == len(pages),
                "the browser checked every page", (r.stderr or r.stdout)[-1500:])
        for p in pages:
            problems = per_page.get(p, {}).get("problems", ["not checked"])
            t.equal(problems, [], f"{p}: no axe violation, keyboard, reflow and CSP all right")
        shots = os.listdir(SHOTS) if os.path.isdir(SHOTS) else []
        t.check(len([s for s in shots if not s.endswith(".320.png")]) == len(pages),
                f"a screenshot of each page in {SHOTS}", str(shots))
        fk.stop_checked(t, node)
    finally:
        fk.close_nodes(node)
        pki.close()

t.finish()
