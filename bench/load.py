#!/usr/bin/env python3
"""Load the production server (gunicorn) on loopback and print what it serves.

    .venv/bin/python bench/load.py [--seconds 15] [--connections 16] [--workers 2] [--threads 4]

Starts `kb serve` on a free 127.0.0.1 port with a throw-away SQLite database, then measures with wrk
(Debian's `wrk`): an article page, the search results page, and /api/suggest with varied questions;
and, with a Python client (the form needs a CSRF token per visitor), how many contact-form tickets per
second are stored. Traffic goes to loopback only, and every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "how do i cancel my subscription",
    "points not showing after order",
    "vip tier downgrade",
    "refferal not credited",
    "PK-5520",
    "change the launcher colour",
    "export customer data gdpr",
    "klaviyo sync",
    "discount code does not work at checkout",
    "invite my staff",
]

LUA = """
local questions = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/suggest?locale=en&q=" .. questions[(i %% #questions) + 1])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server did not answer at {url}")


def wrk(url: str, seconds: int, connections: int, script: Path | None = None) -> str:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        args[1:1] = ["-s", str(script)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p90 = re.search(r"90%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        f"{float(rps.group(1)) if rps else 0:8.1f} req/s   p50 {p50.group(1) if p50 else '?':>8}   "
        f"p90 {p90.group(1) if p90 else '?':>8}   "
        f"p99 {p99.group(1) if p99 else '?':>8}   non-2xx {errors.group(1) if errors else 0}"
    )


def ticket_client(base: str, stop: float, counts: list[int], latencies: list[float], n: int) -> None:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    while time.monotonic() < stop:
        page = opener.open(f"{base}/en/contact", timeout=30).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
            r'name="csrf_token"[^>]*value="([^"]+)"', page
        )
        form = {
            "csrf_token": token.group(1) if token else "",
            "name": f"Load {n}",
            "email": f"load{n}@example.com",
            "subject": "Bench ticket",
            "message": "A question no article answers: the load benchmark.",
            "topic": "",
            "store_url": "",
            "send": "1",
        }
        started = time.perf_counter()
        reply = opener.open(f"{base}/en/contact", data=urllib.parse.urlencode(form).encode(), timeout=30)
        body = reply.read().decode()
        if "KB-" in body:
            counts[n] += 1
            latencies.append(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="kb-load-"))
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "KB_DATABASE_URL": f"sqlite:///{work / 'kb.sqlite3'}",
        "KB_RATELIMIT_ENABLED": "false",
        "KB_LOG_LEVEL": "WARNING",
        "KB_TICKET_DELIVERY": "none",
    }
    kb = str(ROOT / ".venv" / "bin" / "kb")
    subprocess.run([kb, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    server = subprocess.Popen(
        [kb, "serve", "--port", str(port), "--workers", str(args.workers), "--threads", str(args.threads)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{base}/api/suggest?q=warm+up")
        for q in QUESTIONS:  # each worker loads its models on first use: warm them all
            for _ in range(args.workers * 2):
                urllib.request.urlopen(f"{base}/api/suggest?q={urllib.parse.quote(q)}", timeout=60).read()
        print(
            f"gunicorn: {args.workers} workers x {args.threads} threads, {args.connections} connections, "
            f"{args.seconds} s each, {os.cpu_count()} cores"
        )
        print(f"article page      {wrk(f'{base}/en/articles/set-up-points-expiry', args.seconds, args.connections)}")
        print(f"search page       {wrk(f'{base}/en/search?q=points+expiry', args.seconds, args.connections)}")
        script = work / "suggest.lua"
        script.write_text(LUA % ", ".join(json.dumps(urllib.parse.quote(q)) for q in QUESTIONS))
        print(f"/api/suggest      {wrk(base, args.seconds, args.connections, script)}")
        counts = [0] * args.connections
        latencies: list[float] = []
        stop = time.monotonic() + args.seconds
        threads = [
            threading.Thread(target=ticket_client, args=(base, stop, counts, latencies, n))
            for n in range(args.connections)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds + 60)
        latencies.sort()
        p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000 if latencies else float("nan")
        print(
            f"contact tickets   {sum(counts) / args.seconds:8.1f} tickets/s stored (form GET + POST per ticket), "
            f"POST p95 {p95:.0f} ms"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
