#!/usr/bin/env python3
"""Load the production server (gunicorn) on loopback and print what it serves.

    .venv/bin/python bench/load.py [--seconds 60] [--workers 2 4] [--database sqlite postgresql]
                                   [--connections 16 64] [--only TRACE...] [--corpus DIR] [--json]

For each database (a throw-away SQLite file, or a PostgreSQL server started in a temporary folder) and each
number of workers, starts `kb serve` on a free 127.0.0.1 port and replays each trace with wrk (Debian's
`wrk`; a Lua script walks the trace and reports p50/p95/p99) for ``--seconds`` at each number of
connections:

- article page (a new visitor each request: wrk keeps no cookies), and the same page for a returning
  visitor (visitor and session cookies sent); search results page; /api/suggest with 10 questions in turn;
- typeahead: 200 merchant questions (bench/eval/merchants-fit.jsonl) typed by simulated visitors, as the
  site's script sends them: a request when the box has been idle for the debounce (250 ms) and holds
  3 characters or more (kb/static/js/site.js), so some prefixes, the pauses between words, and the end;
- new questions: every request a whole question the server has not seen (the merchants' questions in
  varied wordings), so no worker answers one from its query cache.

wrk replays each trace in a closed loop (a client sends its next request when the last one is answered;
the think time is not replayed), and starts again at the top if it runs out. Then, with Python clients
(a form needs a CSRF token per visitor; the clients share the two cores with the server): contact-form
tickets stored per second, and votes ("Did this answer your question?") stored per second. Last, the PSS
of the gunicorn master and of each worker (from /proc/<pid>/smaps_rollup). Once per run, the same article
page saved as a file and served by nginx (as many worker processes as gunicorn's) gives the ceiling, and
each article figure is printed as a share of it. Traffic goes to loopback only; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from servers import free_port, nginx_static, postgres

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


def wrk(
    base: str, paths: list[str], seconds: int, connections: int, work: Path, name: str, header: str = ""
) -> dict[str, Any]:
    """Replay ``paths`` with wrk for ``seconds``; requests/s, latency percentiles in ms and errors."""
    script = work / f"{name}.lua"
    script.write_text(LUA % (", ".join(json.dumps(p) for p in paths), WRK_THREADS), encoding="utf-8")
    load = os.getloadavg()[0]
    threads = min(WRK_THREADS, connections)
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "-s", str(script)]
    if header:
        args += ["-H", header]
    out = subprocess.run([*args, base], capture_output=True, text=True, timeout=seconds + 90).stdout
    found = re.search(r"^RESULT (\{.*\})$", out, re.M)
    if not found:
        return {"trace": name, "error": out[-500:]}
    r = json.loads(found.group(1))
    return {
        "trace": name,
        "connections": connections,
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
    """PSS of the gunicorn master and of each worker (its children), in MB."""
    children = [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    each = [pss_mb(c) for c in children]
    return {
        "master_pss_mb": pss_mb(master),
        "workers": len(children),
        "worker_pss_mb": each,
        "workers_pss_mb": round(sum(each), 1),
    }


def form_client(base: str, stop: float, counts: list[int], latencies: list[float], n: int, kind: str) -> None:
    """One visitor after another: open the page, read its CSRF token, post; count what was stored."""
    token_at = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
    while time.monotonic() < stop:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        if kind == "tickets":
            page = opener.open(f"{base}/en/contact", timeout=30).read().decode()
            url, form = (
                f"{base}/en/contact",
                {
                    "name": f"Load {n}",
                    "email": f"load{n}@example.com",
                    "subject": "Bench ticket",
                    "message": "A question no article answers: the load benchmark.",
                    "topic": "",
                    "store_url": "",
                    "send": "1",
                },
            )
        else:
            page = opener.open(f"{base}{ARTICLE}", timeout=30).read().decode()
            url = f"{base}/feedback"
            form = {"article_id": ARTICLE_ID, "query": "", "step": "vote", "helpful": "yes" if n % 2 else "no"}
        token = token_at.search(page)
        form["csrf_token"] = token.group(1) if token else ""
        request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode())
        if kind == "votes":
            request.add_header("Accept", "application/json")
        started = time.perf_counter()
        try:
            reply = opener.open(request, timeout=30)
            body = reply.read().decode()
        except urllib.error.HTTPError as exc:
            body = f"HTTP {exc.code}"
        if ("KB-" in body) if kind == "tickets" else ('"step"' in body):
            counts[n] += 1
            latencies.append(time.perf_counter() - started)
        else:
            counts[-1] += 1  # not stored: an error


def posted(base: str, seconds: int, connections: int, kind: str) -> dict[str, Any]:
    """``connections`` Python clients posting forms of ``kind`` (tickets or votes) for ``seconds``."""
    counts = [0] * (connections + 1)
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    load = os.getloadavg()[0]
    clients = [
        threading.Thread(target=form_client, args=(base, stop, counts, latencies, n, kind)) for n in range(connections)
    ]
    for t in clients:
        t.start()
    for t in clients:
        t.join(timeout=seconds + 60)
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000 if latencies else float("nan")
    return {
        "trace": f"contact {kind}" if kind == "tickets" else kind,
        "connections": connections,
        "stored_per_s": round(sum(counts[:-1]) / seconds, 1),
        "post_p95_ms": round(p95),
        "errors": counts[-1],
        "load_start": round(load, 2),
        "load_end": round(os.getloadavg()[0], 2),
    }


ARTICLE = "/en/articles/set-up-points-expiry"
ARTICLE_ID = "en/set-up-points-expiry"
TRACES = (
    "article page",
    "article page, returning visitor",
    "search page",
    "suggest 10 questions",
    "typeahead",
    "new questions",
    "contact tickets",
    "votes",
)


def returning_visitor(base: str) -> str:
    """The Cookie header of a visitor who has read an article before (visitor id and session)."""
    jar = CookieJar()
    urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)).open(f"{base}{ARTICLE}", timeout=30).read()
    return "Cookie: " + "; ".join(f"{c.name}={c.value}" for c in jar)


@contextmanager
def database(kind: str, work: Path) -> Iterator[str]:
    if kind == "postgresql":
        with postgres() as url:
            yield url
    else:
        with nullcontext():
            yield f"sqlite:///{work / 'kb.sqlite3'}"


def corpus_folders(corpus: Path) -> dict[str, str]:
    """The settings that point kb at a corpus built by search_latency.py (its articles and its index)."""
    return {"KB_ARTICLES_DIR": str(corpus / "articles"), "KB_SEARCH_INDEX_DIR": str(corpus / "search_index")}


@contextmanager
def kb_serve(
    url: str, workers: int, threads: int, work: Path, corpus: Path | None = None
) -> Iterator[tuple[str, int, float]]:
    """`kb serve` on a free port over the database at ``url`` (and a generated ``corpus`` with its built
    index, when given); yields its base URL, master pid and start time."""
    port = free_port()
    env = {
        **os.environ,
        **(corpus_folders(corpus) if corpus else {}),
        "HF_HUB_OFFLINE": "1",
        "KB_DATABASE_URL": url,
        "KB_RATELIMIT_ENABLED": "false",
        "KB_SECRET_KEY": os.environ.get("KB_SECRET_KEY") or secrets.token_hex(32),  # kb serve needs a real one
        "KB_LOG_LEVEL": "WARNING",
        "KB_TICKET_DELIVERY": "none",
    }
    kb = str(ROOT / ".venv" / "bin" / "kb")
    subprocess.run([kb, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    started = time.monotonic()
    log = (work / f"server-{port}.log").open("w")
    server = subprocess.Popen(
        [kb, "serve", "--port", str(port), "--workers", str(workers), "--threads", str(threads)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{base}/api/suggest?q=warm+up")
        first = round(time.monotonic() - started, 1)
        for q in QUESTIONS:  # without a preloading master, each worker loads its models on first use
            for _ in range(workers * 2):
                urllib.request.urlopen(f"{base}{suggest_path(q, 'en')}", timeout=120).read()
        yield base, server.pid, first  # `kb serve` execs gunicorn: its pid is the master's
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def serve_traces(
    base: str, traces: dict[str, list[str]], wanted: list[str], args: argparse.Namespace, work: Path
) -> list[dict[str, Any]]:
    runs = []
    cookie = returning_visitor(base) if "article page, returning visitor" in wanted else ""
    for connections in args.connections:
        for name in wanted:
            if name in ("contact tickets", "votes"):
                run = posted(base, args.seconds, connections, "tickets" if name == "contact tickets" else "votes")
            else:
                header = cookie if name == "article page, returning visitor" else ""
                run = wrk(base, traces[name], args.seconds, connections, work, re.sub(r"\W+", "-", name), header)
                run["trace"] = name
            runs.append(run)
            if not args.json:
                print("  " + line(run), flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="length of each trace (default 60)")
    parser.add_argument("--connections", type=int, nargs="+", default=[16])
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite"])
    parser.add_argument("--only", nargs="*", default=None, help=f"traces to run (default: all): {', '.join(TRACES)}")
    parser.add_argument("--no-nginx", action="store_true", help="skip the nginx ceiling")
    parser.add_argument("--json", action="store_true", help="one JSON object with every figure")
    parser.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="serve a corpus built by search_latency.py (e.g. bench/out/corpus-10000-seed1-v2) instead of "
        "the demo articles; the article and vote traces need a demo article and are refused",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    wanted = [t for t in TRACES if args.only is None or t in args.only]
    if args.corpus and set(wanted) & {"article page", "article page, returning visitor", "votes"}:
        raise SystemExit("--corpus has no demo article for the article and vote traces: choose others with --only")
    traces = {
        "article page": [ARTICLE],
        "article page, returning visitor": [ARTICLE],
        "search page": ["/en/search?q=points+expiry"],
        "suggest 10 questions": [suggest_path(q, "en") for q in QUESTIONS],
        "typeahead": typeahead_trace(),
        "new questions": new_questions_trace(),
    }
    result: dict[str, Any] = {
        "threads": args.threads,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "servers": [],
    }
    work = Path(tempfile.mkdtemp(prefix="kb-load-"))
    page = b""
    try:
        for kind in args.database:
            with database(kind, work) as url:
                for workers in args.workers:
                    if not args.json:
                        print(f"gunicorn {workers} workers x {args.threads} threads, {kind}:", flush=True)
                    with kb_serve(url, workers, args.threads, work, args.corpus) as (base, master, first):
                        served: dict[str, Any] = {"database": kind, "workers": workers, "first_answer_s": first}
                        served["memory_warm"] = memory(master)
                        if any(t.startswith("article") for t in wanted):
                            page = page or urllib.request.urlopen(f"{base}{ARTICLE}", timeout=30).read()
                        served["traces"] = serve_traces(base, traces, wanted, args, work)
                        served["memory_after"] = memory(master)
                    result["servers"].append(served)
                    if not args.json:
                        m = served["memory_after"]
                        print(
                            f"  first answer {first} s after start; PSS: master {m['master_pss_mb']} MB, "
                            f"workers {m['worker_pss_mb']} MB (sum {m['workers_pss_mb']} MB)",
                            flush=True,
                        )
        if page and not args.no_nginx and any(t.startswith("article") for t in wanted):
            result["nginx"] = ceiling(page, args, work)
            result["share_of_nginx"] = shares(result["servers"], result["nginx"])
            if not args.json:
                for share in result["share_of_nginx"]:
                    print(f"  {share['of']}: {share['share']:.1%} of nginx", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))


def ceiling(page: bytes, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """The article page as a static file under nginx, and each gunicorn article figure as a share of it."""
    runs = []
    workers = max(args.workers)
    if not args.json:
        print(f"nginx {workers} workers, the same article page as a static file:", flush=True)
    with nginx_static(ARTICLE + ".html", page, workers) as base:
        for connections in args.connections:
            run = wrk(base, [ARTICLE + ".html"], args.seconds, connections, work, "nginx")
            run["trace"] = "article page as a static file (nginx)"
            runs.append(run)
            if not args.json:
                print("  " + line(run), flush=True)
    return runs


def shares(servers: list[dict[str, Any]], nginx: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each article page figure as a share of nginx's at the same number of connections."""
    static = {r["connections"]: r["rps"] for r in nginx if "rps" in r}
    out = []
    for served in servers:
        for r in served["traces"]:
            if r["trace"].startswith("article page") and "rps" in r and static.get(r["connections"]):
                of = f"{r['trace']}, {served['workers']} workers, {served['database']}, {r['connections']} conn"
                out.append({"of": of, "rps": r["rps"], "share": round(r["rps"] / static[r["connections"]], 4)})
    return out


def line(r: dict[str, Any]) -> str:
    if "stored_per_s" in r:
        return (
            f"{r['trace']:<32}{r['connections']:>3} conn {r['stored_per_s']:8.1f} stored/s (GET + POST)   "
            f"POST p95 {r['post_p95_ms']} ms   errors {r['errors']}   (load {r['load_start']} -> {r['load_end']})"
        )
    if "error" in r:
        return f"{r['trace']:<32}wrk failed: {r['error']}"
    return (
        f"{r['trace']:<32}{r['connections']:>3} conn {r['rps']:8.1f} req/s   p50 {r['p50_ms']:7.1f} ms   "
        f"p95 {r['p95_ms']:7.1f} ms   p99 {r['p99_ms']:7.1f} ms   errors {r['errors']}   "
        f"({r['distinct']} distinct of {r['trace_length']}; load {r['load_start']} -> {r['load_end']})"
    )


if __name__ == "__main__":
    main()
