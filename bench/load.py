#!/usr/bin/env python3
"""Load the production server (gunicorn) on loopback and print what it serves.

    .venv/bin/python bench/load.py [--seconds 60] [--connections 16] [--workers 2] [--threads 4] [--json]

Starts `kb serve` on a free 127.0.0.1 port with a throw-away SQLite database, then replays each trace
with wrk (Debian's `wrk`; a Lua script walks the trace and reports p50/p95/p99) for ``--seconds``:

- article page, search results page, /api/suggest with 10 questions in turn (the old traces);
- typeahead: 200 merchant questions (bench/eval/merchants-fit.jsonl) typed by simulated visitors, as the
  site's script sends them: a request when the box has been idle for the debounce (250 ms) and holds
  3 characters or more (kb/static/js/site.js), so some prefixes, the pauses between words, and the end;
- new questions: every request a whole question the server has not seen (the merchants' questions in
  varied wordings), so no worker answers one from its query cache.

wrk replays each trace in a closed loop (a client sends its next request when the last one is answered;
the think time is not replayed), and starts again at the top if it runs out. Then, with a Python client
(the form needs a CSRF token per visitor), contact-form tickets stored per second. Last, the summed PSS
of the workers (from /proc/<pid>/smaps_rollup), which shows what the preloaded master shares with them.
Traffic goes to loopback only, and every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIT = ROOT / "bench" / "eval" / "merchants-fit.jsonl"
HELDOUT = ROOT / "bench" / "eval" / "merchants-heldout.jsonl"
DEBOUNCE_MS = 250  # kb/static/js/site.js: debounce(..., 250)
MIN_CHARS = 3  # kb/static/js/site.js: if (q.length < 3) close()
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
WORDINGS = ["{q}", "{q}?", "hi, {q}", "{q} please", "quick question: {q}", "{q} thanks", "help: {q}", "so {q}"]

LUA = """
local paths = {%s}
local threads = 0
function setup(thread)
  thread:set("start", threads)
  threads = threads + 1
end
local i = 0
function init(args)
  i = math.floor(start * #paths / %d)
end
function request()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p95_us": %%d, "p99_us": %%d, ' ..
    '"status_errors": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""
WRK_THREADS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=30).read()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server did not answer at {url}")


def merchant_questions(path: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return list(dict.fromkeys((r["query"], r["locale"]) for r in rows))


def typed(question: str, rng: random.Random) -> list[str]:
    """What the search box sends while one visitor types ``question``: the value each time the debounce
    fires (the box idle for 250 ms), if it holds 3 characters or more once trimmed."""
    sent = []
    for n in range(1, len(question) + 1):
        if n == len(question):
            gap = 10_000.0  # done typing: the debounce fires
        elif question[n] == " " or question[n - 1] == " ":
            gap = rng.lognormvariate(5.4, 0.6)  # around 220 ms at a word's edge, often a pause
        else:
            gap = rng.lognormvariate(4.9, 0.45)  # around 135 ms between letters
        value = question[:n].strip()
        if gap >= DEBOUNCE_MS and len(value) >= MIN_CHARS:
            sent.append(value)
    return sent


def suggest_path(q: str, locale: str) -> str:
    return f"/api/suggest?q={urllib.parse.quote(q)}&locale={locale}"


def typeahead_trace(count: int = 200, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    asked = merchant_questions(FIT)[:count]
    return [suggest_path(v, locale) for q, locale in asked for v in typed(q, rng)]


def new_questions_trace(seed: int = 12) -> list[str]:
    """Whole questions, each asked once: the merchants' questions (both sets) in varied wordings."""
    asked = merchant_questions(FIT) + merchant_questions(HELDOUT)
    paths = list(dict.fromkeys(suggest_path(w.format(q=q), loc) for w in WORDINGS for q, loc in asked))
    random.Random(seed).shuffle(paths)
    return paths


def wrk(base: str, paths: list[str], seconds: int, connections: int, work: Path, name: str) -> dict[str, Any]:
    """Replay ``paths`` with wrk for ``seconds``; requests/s, latency percentiles in ms and errors."""
    script = work / f"{name}.lua"
    script.write_text(LUA % (", ".join(json.dumps(p) for p in paths), WRK_THREADS), encoding="utf-8")
    load = os.getloadavg()[0]
    args = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", str(script)]
    out = subprocess.run([*args, base], capture_output=True, text=True, timeout=seconds + 90).stdout
    found = re.search(r"^RESULT (\{.*\})$", out, re.M)
    if not found:
        return {"trace": name, "error": out[-500:]}
    r = json.loads(found.group(1))
    return {
        "trace": name,
        "trace_length": len(paths),
        "distinct": len(set(paths)),
        "requests": r["requests"],
        "rps": round(r["requests"] / (r["duration_us"] / 1e6), 1),
        "p50_ms": round(r["p50_us"] / 1000, 1),
        "p95_ms": round(r["p95_us"] / 1000, 1),
        "p99_ms": round(r["p99_us"] / 1000, 1),
        "errors": r["status_errors"] + r["socket_errors"],
        "load_start": round(load, 2),
        "load_end": round(os.getloadavg()[0], 2),
    }


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def memory(master: int) -> dict[str, Any]:
    """PSS of the gunicorn master and the sum over its workers (its children), in MB."""
    children = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    return {
        "master_pss_mb": pss_mb(master),
        "workers": len(children),
        "workers_pss_mb": round(sum(pss_mb(c) for c in children), 1),
    }


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


def tickets(base: str, seconds: int, connections: int) -> dict[str, Any]:
    counts = [0] * connections
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    clients = [
        threading.Thread(target=ticket_client, args=(base, stop, counts, latencies, n)) for n in range(connections)
    ]
    for t in clients:
        t.start()
    for t in clients:
        t.join(timeout=seconds + 60)
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000 if latencies else float("nan")
    return {"trace": "contact tickets", "tickets_per_s": round(sum(counts) / seconds, 1), "post_p95_ms": round(p95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of each trace (default 60)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--only", nargs="*", default=None, help="trace names to run (default: all)")
    parser.add_argument("--json", action="store_true", help="one JSON object with every figure")
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
        "KB_SECRET_KEY": os.environ.get("KB_SECRET_KEY") or secrets.token_hex(32),  # kb serve needs a real one
        "KB_LOG_LEVEL": "WARNING",
        "KB_TICKET_DELIVERY": "none",
    }
    kb = str(ROOT / ".venv" / "bin" / "kb")
    subprocess.run([kb, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    started = time.monotonic()
    server = subprocess.Popen(
        [kb, "serve", "--port", str(port), "--workers", str(args.workers), "--threads", str(args.threads)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(work / "server.log").open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {
        "workers": args.workers,
        "threads": args.threads,
        "connections": args.connections,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }
    try:
        wait_up(f"{base}/api/suggest?q=warm+up")
        result["first_answer_s"] = round(time.monotonic() - started, 1)
        for q in QUESTIONS:  # without a preloading master, each worker loads its models on first use
            for _ in range(args.workers * 2):
                urllib.request.urlopen(f"{base}{suggest_path(q, 'en')}", timeout=120).read()
        result["memory_warm"] = memory(server.pid)
        traces = {
            "article page": ["/en/articles/set-up-points-expiry"],
            "search page": ["/en/search?q=points+expiry"],
            "suggest 10 questions": [suggest_path(q, "en") for q in QUESTIONS],
            "typeahead": typeahead_trace(),
            "new questions": new_questions_trace(),
        }
        runs = []
        for name, paths in traces.items():
            if args.only is None or name in args.only:
                runs.append(wrk(base, paths, args.seconds, args.connections, work, name.replace(" ", "-")))
                runs[-1]["trace"] = name
                if not args.json:
                    print(line(runs[-1]), flush=True)
        if args.only is None or "contact tickets" in args.only:
            runs.append(tickets(base, args.seconds, args.connections))
            if not args.json:
                print(line(runs[-1]), flush=True)
        result["traces"] = runs
        result["memory_after"] = memory(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        m = result["memory_after"]
        print(
            f"gunicorn {args.workers} workers x {args.threads} threads, {args.connections} connections, "
            f"{args.seconds} s per trace, {os.cpu_count()} cores; first answer {result['first_answer_s']} s "
            f"after start; PSS: master {m['master_pss_mb']} MB, {m['workers']} workers {m['workers_pss_mb']} MB"
        )


def line(r: dict[str, Any]) -> str:
    if "tickets_per_s" in r:
        return (
            f"{r['trace']:<22}{r['tickets_per_s']:8.1f} tickets/s stored (GET + POST)   POST p95 {r['post_p95_ms']} ms"
        )
    if "error" in r:
        return f"{r['trace']:<22}wrk failed: {r['error']}"
    return (
        f"{r['trace']:<22}{r['rps']:8.1f} req/s   p50 {r['p50_ms']:7.1f} ms   p95 {r['p95_ms']:7.1f} ms   "
        f"p99 {r['p99_ms']:7.1f} ms   errors {r['errors']}   ({r['distinct']} distinct of {r['trace_length']}; "
        f"load {r['load_start']} -> {r['load_end']})"
    )


if __name__ == "__main__":
    sys.exit(main())
