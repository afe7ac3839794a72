"""The Open Referral UK read API on a real node: every endpoint, the page
format, CORS, filters, and every service and page validated against the
profile's JSON schema (../shared/oruk/schema-service.json). Also the public
listener: no client certificate, /oruk/ only, confidential services by area."""

import copy
import json
import os
import socket
import ssl
import subprocess
import sys
import time

try:
    import jsonschema  # Debian's python3-jsonschema
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

from harness import SOURCE_DIR, Checks, Node, PgCluster, Pki, api, free_port

sys.path.insert(0, os.path.join(SOURCE_DIR, "deploy"))
import sample_data as sd  # noqa: E402

t = Checks("test_oruk_api")
SHARED = os.path.join(SOURCE_DIR, "..", "shared", "oruk")
schema = json.load(open(os.path.join(SHARED, "schema-service.json")))
validator = jsonschema.Draft202012Validator(
    schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER) \
    if hasattr(jsonschema, "Draft202012Validator") else jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.FormatChecker())


def schema_errors(obj):
    return [f"{'/'.join(map(str, e.path))}: {e.message}"[:200] for e in validator.iter_errors(obj)]


def public_get(port, path):
    """GET over TLS with no client certificate (as a council's service finder)."""
    ctx = ssl.create_default_context(cafile=pki.ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return int(lines[0].split()[1]), hdrs, json.loads(body) if body else None


with PgCluster("oruk") as pg:
    pki = Pki()
    for org in sd.ORGS:
        pki.add_org(org)
    try:
        public_port = free_port()
        node = Node(pki, pg, org=sd.ORGS[0], name="node",
                    config={"public": {"listen": f"127.0.0.1:{public_port}"}})
        # Each member writes its services on its own node; this node pulls
        # the other members' from theirs (a node takes only its own agents').
        others = []
        for i, org in enumerate(sd.ORGS[1:]):
            pg.create_db(f"member{i}")
            other = Node(pki, pg, org=org, name=f"member{i}", db=f"member{i}")
            other.add_peer(node)
            node.add_peer(other)
            others.append(other)
        for n in [node] + others:
            n.start()
        nodes = {n.org: n for n in [node] + others}
        agents = {org: pki.agent(org, "office") for org in sd.ORGS}
        services = {}
        for org, agent in agents.items():
            recs = sd.services(org)
            services.update({r["id"]: r for r in recs})
            status, _, reply = api(nodes[org], agent, "POST", "/v1/records", {"records": recs})
            t.check(status == 200 and reply["stored"] == len(recs), f"{org}: services stored",
                    str(reply)[:300])
        deadline = time.time() + 30
        while time.time() < deadline and int(pg.psql(
                "SELECT count(*) FROM directory_services")[0][0]) < len(services):
            time.sleep(0.2)
        t.equal(int(pg.psql("SELECT count(*) FROM directory_services")[0][0]), len(services),
                "every member's services reach this node")
        agent = agents[sd.ORGS[0]]

        status, hdrs, root = api(node, agent, "GET", "/oruk/")
        t.check(status == 200 and root.get("version") == "3.0" and "openapi_url" in root,
                "/oruk/ describes the API")
        t.equal(hdrs.get("access-control-allow-origin"), "*", "CORS: Access-Control-Allow-Origin *")

        status, hdrs, page = api(node, agent, "GET", "/oruk/services?per_page=3")
        keys = {"total_items", "total_pages", "page_number", "size", "first_page", "last_page",
                "empty", "contents"}
        t.check(status == 200 and keys <= set(page) and page["total_items"] == len(services) and
                page["size"] == 3 and page["first_page"] and not page["last_page"] and
                page["total_pages"] == (len(services) + 2) // 3,
                "/oruk/services pages like example-service_list.json", str(page)[:300])
        errs = [e for s in page["contents"] for e in schema_errors(s)]
        t.check(not errs, "list entries validate against schema-service.json", str(errs[:3]))
        status, _, last = api(node, agent, "GET", f"/oruk/services?per_page=3&page={page['total_pages']}")
        t.check(last["last_page"] and not last["first_page"], "the last page says so")

        for sid in services:
            status, hdrs, svc = api(node, agent, "GET", f"/oruk/services/{sid}")
            errs = schema_errors(svc) if status == 200 else ["status %d" % status]
            t.check(status == 200 and svc["id"] == sid and not errs,
                    f"/oruk/services/{sid[:8]}… validates against the schema", str(errs[:3]))
            origin = services[sid]["origin"]
            said = [i for i in svc.get("organization", {}).get("organization_identifiers", [])
                    if i.get("identifier_scheme") == "trellis"]
            t.check(said and said[0]["identifier"] == origin and
                    said[0]["organization_id"] == sd.org_id(origin),
                    f"/oruk/services/{sid[:8]}… says which member published it", str(said))
        t.equal(api(node, agent, "GET", "/oruk/services/" + "0" * 8 + "-0000-4000-8000-" +
                    "0" * 12)[0], 404, "an unknown service: 404")

        def count(query):
            return api(node, agent, "GET", "/oruk/services?" + query)[2]["total_items"]

        t.equal(count("search=helpline"), 1, "search finds the helpline")
        t.equal(count("need=refuge"), 2, "filter by need")
        t.equal(count("for_gender=men"),
                sum(1 for s in services.values()
                    if set(s["body"]["trellis"]["for_genders"]) & {"men", "all"}),
                "filter by gender includes services for all")
        t.equal(count("minimum_age=16&maximum_age=17"),
                sum(1 for s in services.values()
                    if s["body"]["maximum_age"] >= 16 and s["body"]["minimum_age"] <= 17),
                "an age range keeps the services whose ages overlap it")
        org_id = next(iter(services.values()))["body"]["organization"]["id"]
        t.equal(count(f"organization_id={org_id}"), 3, "filter by organization_id")
        t.equal(count("modified_after=2030-01-01"), 0, "modified_after")
        status, _, big = api(node, agent, "GET", "/oruk/services?per_page=1000")
        t.check(status == 200 and big["per_page"] == 200 and big["size"] == len(services),
                "per_page over 200: served as 200, and the page says so", str(big)[:200])
        status, _, rep = api(node, agent, "GET", "/oruk/services?per_page=1&per_page=1000")
        t.check(status == 200 and rep["size"] == 1, "a repeated parameter: the first value")
        t.equal(api(node, agent, "GET", "/oruk/services?minimum_age=old")[0], 400,
                "a bad age: 400")

        status, _, sals = api(node, agent, "GET", "/oruk/service_at_locations")
        t.check(status == 200 and sals["total_items"] >= 1, "/oruk/service_at_locations lists")
        sal_id = sals["contents"][0]["id"]
        sal_validator = jsonschema.Draft202012Validator(
            schema["properties"]["service_at_locations"]["items"],
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        for item in sals["contents"]:
            status, _, sal = api(node, agent, "GET", f"/oruk/service_at_locations/{item['id']}")
            errs = list(sal_validator.iter_errors(sal)) + schema_errors(sal.get("service", {}))
            t.check(status == 200 and sal["id"] == item["id"] and
                    sal["location_id"] == sal["location"]["id"] and
                    sal["service"]["id"] == sal["service_id"] and
                    any(x["id"] == item["id"] for x in sal["service"].get(
                        "service_at_locations", [])) and not errs,
                    "/oruk/service_at_locations/{id}: that one, with its location and service",
                    str(errs[:3]))

        # CORS preflight and HEAD wherever GET works; the API describes itself.
        for path in ("/oruk/", "/oruk/services", f"/oruk/services/{sal['service_id']}",
                     "/oruk/service_at_locations", "/oruk/taxonomies", "/oruk/organizations",
                     "/oruk/openapi.json"):
            status, hdrs, _ = api(node, agent, "OPTIONS", path, headers={
                "Origin": "https://finder.example.org", "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "x-requested-with"})
            t.check(status in (200, 204) and hdrs.get("access-control-allow-origin") == "*" and
                    "GET" in hdrs.get("access-control-allow-methods", "") and
                    hdrs.get("access-control-allow-headers"), f"OPTIONS {path}: CORS preflight")
            g_status, g_hdrs, _ = api(node, agent, "GET", path)
            h_status, h_hdrs, h_body = api(node, agent, "HEAD", path)
            t.check(h_status == g_status == 200 and h_body == "" and
                    h_hdrs.get("content-length") == g_hdrs.get("content-length"),
                    f"HEAD {path}: GET's status and length, no body")
        url = root["openapi_url"]
        t.check(url.startswith("https://") and url.endswith("/oruk/openapi.json"),
                "openapi_url points at this node", url)
        status, _, doc = api(node, agent, "GET", "/oruk/openapi.json")
        params = {p["name"] for p in doc["paths"]["/services"]["get"]["parameters"]} \
            if status == 200 else set()
        t.check({"taxonomy_id", "taxonomy_term_id", "search", "day", "start_time", "end_time",
                 "minimal", "postcode", "proximity", "modified_after"} <= params,
                "the served OpenAPI lists the filters /services honours", str(params))
        for p in params:
            t.check(p == "format" or api(node, agent, "GET", "/oruk/services?" + p + "=")[0] == 200,
                    f"a filter the OpenAPI lists is known: {p}")
        for path in ("/oruk/taxonomies", "/oruk/taxonomy_terms"):
            status, _, pg_ = api(node, agent, "GET", path)
            t.check(status == 200 and "contents" in pg_, f"{path} pages")

        # The public listener: no client certificate, the read API only.
        status, hdrs, page = public_get(public_port, "/oruk/services?per_page=200")
        t.check(status == 200 and page["total_items"] == len(services) and
                hdrs.get("access-control-allow-origin") == "*",
                "public listener: /oruk/services without a client certificate")
        confidential = [sid for sid, s in services.items()
                        if s["body"]["trellis"]["location_confidential"]]
        for sid in confidential:
            status, _, svc = public_get(public_port, f"/oruk/services/{sid}")
            t.check(status == 200 and not svc.get("service_at_locations") and
                    svc.get("service_areas") and not schema_errors(svc),
                    "public view of a confidential service: its area only")
            t.check(any(i.get("identifier") == services[sid]["origin"]
                        for i in svc.get("organization", {}).get("organization_identifiers", [])),
                    "the public view says who published it too")
        status, _, _ = public_get(public_port, "/v1/whoami")
        t.equal(status, 404, "public listener: /v1/ is not there")
        status, _, _ = public_get(public_port, "/metrics")
        t.equal(status, 404, "public listener: /metrics is not there")

        # A kept reply (view_cache.h) lasts until the next store: the same
        # list asked for again after a new version shows the new version.
        own = next(r for r in services.values() if r["origin"] == sd.ORGS[0])
        t.equal(count("search=zanzibarquest"), 0, "a word no service has: none")
        t.equal(count("search=zanzibarquest"), 0, "the same list again (kept): none")
        v2 = copy.deepcopy(own)
        v2["version"] = own["version"] + 1
        v2["body"]["description"] += " Zanzibarquest."
        status, _, reply = api(node, agent, "POST", "/v1/records", {"records": [v2]})
        t.check(status == 200 and reply.get("stored") == 1, "a new version is stored",
                str(reply)[:300])
        status, _, found = api(node, agent, "GET", "/oruk/services?search=zanzibarquest")
        t.check(status == 200 and [c["id"] for c in found["contents"]] == [own["id"]],
                "after a store the same list is asked again: the new version, not the kept reply",
                str(found)[:300])
        node.close()
        for other in others:
            other.close()
    finally:
        pki.close()

t.finish()
