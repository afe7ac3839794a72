#!/usr/bin/env python3
"""bench_node_idle: hold many idle mutual-TLS connections to a server and
report the server's memory before and after.

Each connection completes its handshake, sends one keep-alive GET, reads the
whole reply and then stays idle. The server's memory is read, summed over
--pids (e.g. nginx master and workers), before any connection, after each of
--counts connections are open and idle (and checked still open), and after
they are all closed again. The figure per connection is PSS (Pss from
/proc/PID/smaps_rollup): a page several of the processes share is counted
once in the sum, where summing VmRSS counts it in every process (nginx's
workers share most of the master's pages). VmRSS is kept beside it for
reference. Prints one JSON object on stdout; progress on stderr.

The connections are spread over --procs holder processes (asyncio, stdlib
ssl): one Python process opens ~400 TLS connections a second, so 10,000 take
25 s alone. The holder does not verify the server (like ab): its CPU is what
bounds how fast connections open, and the server's side is the same.

    bench_node_idle.py --port 8443 --cert agent.chain.crt --key agent.key \
        --path /healthz --pids 123,124 --counts 1000,10000 --procs 2
"""

import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import time


def rss_kib(pids):
    """Pss and Pss_Anon (smaps_rollup), VmRSS and RssAnon (status), in KiB,
    each summed over the processes."""
    total = {"Pss": 0, "Pss_Anon": 0, "VmRSS": 0, "RssAnon": 0}
    for pid in pids:
        for name in ("smaps_rollup", "status"):
            with open(f"/proc/{pid}/{name}") as f:
                for line in f:
                    key, _, val = line.partition(":")
                    if key in total:
                        total[key] += int(val.split()[0])
    return total


# ---- worker: holds its share of the connections, driven over stdin/stdout ----

async def open_one(ctx, port, request, conns, errors, sem):
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                        ssl_handshake_timeout=30), 30)
        except (OSError, ssl.SSLError, asyncio.TimeoutError) as e:
            errors.append(f"connect: {e!r}")
            return
        try:
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = 0
            for line in lines[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v.strip())
            if length:
                await asyncio.wait_for(reader.readexactly(length), 30)
            if status != 200:
                errors.append(f"status {status}")
        except (OSError, ssl.SSLError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                ValueError, IndexError) as e:
            errors.append(f"request: {e!r}")
            writer.transport.abort()
            return
        conns.append((reader, writer))


async def worker(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.load_cert_chain(args.cert, args.key)
    request = f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    loop = asyncio.get_running_loop()
    conns, errors = [], []
    sem = asyncio.Semaphore(args.concurrency)

    def say(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    async def wait_line():
        return (await loop.run_in_executor(None, sys.stdin.readline)).strip()

    for target in (int(c) for c in args.counts.split(",")):
        await asyncio.gather(*(open_one(ctx, args.port, request, conns, errors, sem)
                               for _ in range(target - len(conns))))
        say({"open": len(conns), "errors": len(errors)})
        await wait_line()  # "check": the parent waited for things to settle
        await asyncio.sleep(0)
        alive = sum(1 for r, w in conns if not r.at_eof() and not w.is_closing())
        say({"alive": alive, "errors": sorted(set(errors))[:3]})
        if await wait_line() != "next":
            break
    for _, w in conns:
        w.transport.abort()
    await asyncio.sleep(0.2)


# ---- parent: starts the workers, reads the server's memory at each stage ----

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True, help="client certificate chain (leaf, org CA)")
    ap.add_argument("--key", required=True)
    ap.add_argument("--path", default="/healthz")
    ap.add_argument("--pids", help="server process ids, comma separated")
    ap.add_argument("--counts", default="1000,10000")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=64, help="handshakes in flight per process")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait before reading RSS")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        asyncio.run(worker(args))
        return

    pids = [int(p) for p in args.pids.split(",") if p]
    counts = sorted(int(c) for c in args.counts.split(","))
    n = max(1, args.procs)
    shares = [",".join(str(c // n + (1 if i < c % n else 0)) for c in counts) for i in range(n)]
    base = [sys.executable, os.path.abspath(__file__), "--worker", "--port", str(args.port),
            "--cert", args.cert, "--key", args.key, "--path", args.path,
            "--concurrency", str(args.concurrency)]
    result = {"pids": pids, "procs": n, "before": rss_kib(pids), "stages": []}
    workers = [subprocess.Popen(base + ["--counts", s], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for s in shares]

    def read_all():
        out = []
        for w in workers:
            line = w.stdout.readline()
            if not line:
                raise RuntimeError("a holder process exited early")
            out.append(json.loads(line))
        return out

    def send_all(word):
        for w in workers:
            w.stdin.write(word + "\n")
            w.stdin.flush()

    try:
        for i, target in enumerate(counts):
            t0 = time.monotonic()
            opened = read_all()
            took = time.monotonic() - t0
            time.sleep(args.settle)
            send_all("check")
            checked = read_all()
            rss = rss_kib(pids)
            alive = sum(c["alive"] for c in checked)
            grow = rss["Pss"] - result["before"]["Pss"]
            anon = rss["Pss_Anon"] - result["before"]["Pss_Anon"]
            grow_rss = rss["VmRSS"] - result["before"]["VmRSS"]
            result["stages"].append({
                "target": target, "open": sum(o["open"] for o in opened), "alive": alive,
                "errors": sum(o["errors"] for o in opened), "open_seconds": round(took, 2),
                "rss": rss, "growth_kib": grow,
                "kib_per_conn": round(grow / alive, 2) if alive else None,
                "anon_kib_per_conn": round(anon / alive, 2) if alive else None,
                "rss_kib_per_conn": round(grow_rss / alive, 2) if alive else None,
                "error_samples": sorted({e for c in checked for e in c["errors"]})[:3],
            })
            print(f"bench_node_idle: {alive}/{target} idle connections open "
                  f"({took:.1f}s to open), server PSS {rss['Pss']} KiB, VmRSS {rss['VmRSS']} KiB",
                  file=sys.stderr, flush=True)
            send_all("next" if i + 1 < len(counts) else "close")
        for w in workers:
            w.wait(30)
        time.sleep(1)
        result["after_close"] = rss_kib(pids)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
