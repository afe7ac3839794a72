"""The client agent against a real node over real TLS into real PostgreSQL:
`trellis agent init` and `agent status`, directly and through a real HTTP
proxy (tinyproxy), with the node down and up."""

import json
import os
import stat

from agent_harness import Agent, Proxy
from harness import Checks, Node, PgCluster, Pki

t = Checks("test_agent_push")
ORG = "northside-womens-aid"

with PgCluster("agent") as pg:
    pki = Pki()
    node = agent = proxy = None
    try:
        node = Node(pki, pg, org=ORG, name="node").start()
        agent = Agent(pki, node, ORG)

        # --- init: a commented agent.conf, a secret only we may read ---
        conf = open(agent.conf).read()
        t.check(conf.startswith("; Trellis agent configuration") and f"url = {node.url}" in conf,
                "agent init writes a commented agent.conf with the node's URL")
        st = os.stat(agent.secret)
        t.check(stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 65,
                "the local secret is 32 bytes in hex, mode 0600")
        secret = open(agent.secret).read()
        r = agent.run("agent", "init", "--dir", agent.dir, config=False)
        t.check(r.returncode == 5 and "exists already" in r.stderr,
                "a second init refuses to replace agent.conf", r.stderr)
        r = agent.run("agent", "init", "--dir", agent.dir, "--force", "--node", node.url,
                      "--ca", pki.ca, "--cert", agent.certs["chain"], "--key",
                      agent.certs["key"], "--spool", agent.spool, "--secret", agent.secret,
                      config=False)
        t.check(r.returncode == 0 and open(agent.secret).read() == secret,
                "init --force rewrites agent.conf and keeps the secret", r.stderr)

        # --- status: the node's health and who it sees ---
        r = agent.run("agent", "status", "--json")
        doc = json.loads(r.stdout) if r.returncode == 0 else {}
        t.check(doc.get("node", {}).get("health") == "ready"
                and doc["node"].get("sees_us_as", {}).get("org") == ORG
                and doc.get("certificate", {}).get("org") == ORG,
                "agent status: the node is ready and sees the agent's organisation",
                r.stdout + r.stderr)
        r = agent.run("agent", "status")
        t.check(r.returncode == 0 and "node sees:   agent office of " + ORG in r.stdout,
                "agent status in words", r.stdout)

        # Flags beat the environment, which beats the file.
        r = agent.run("agent", "status", "--node", "https://127.0.0.1:1",
                      env={"TRELLIS_NODE": node.url})
        t.equal(r.returncode, 4, "a flag beats TRELLIS_NODE (and an unreachable node is exit 4)")
        r = agent.run("agent", "status", env={"TRELLIS_NODE": "https://127.0.0.1:1"})
        t.equal(r.returncode, 4, "TRELLIS_NODE beats the file")
        r = agent.run("agent", "bogus")
        t.equal(r.returncode, 2, "an unknown subcommand is a usage error (2)")

        # --- through a real proxy: the config key, then https_proxy ---
        proxy = Proxy([node.port])
        r = agent.run("agent", "status", "--proxy", proxy.url)
        t.check(r.returncode == 0 and "CONNECT" in proxy.read_log(),
                "status through tinyproxy given by --proxy", r.stderr + proxy.read_log()[-500:])
        before = proxy.read_log().count("CONNECT")
        r = agent.run("agent", "status", env={"https_proxy": proxy.url})
        t.check(r.returncode == 0 and proxy.read_log().count("CONNECT") > before,
                "status through the proxy given by https_proxy", r.stderr)
        before = proxy.read_log().count("CONNECT")
        r = agent.run("agent", "status", env={"https_proxy": proxy.url, "no_proxy": "127.0.0.1"})
        t.check(r.returncode == 0 and proxy.read_log().count("CONNECT") == before,
                "no_proxy keeps the node's address off the proxy", r.stderr)
        r = agent.run("agent", "status", "--proxy", "none", env={"https_proxy": "http://127.0.0.1:1"})
        t.equal(r.returncode, 0, "proxy = none ignores https_proxy")

        # --- node down: exit 4 ---
        node.stop()
        r = agent.run("agent", "status")
        t.check(r.returncode == 4 and "unreachable" in r.stdout, "node down: status says "
                "unreachable, exit 4", r.stdout + r.stderr)
    finally:
        for x in (proxy, agent, node):
            if x:
                x.close()
        pki.close()

t.finish()
