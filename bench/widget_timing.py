"""Time the help widget in Debian's headless Chromium: a host page on one loopback origin, kb (the demo help
center and its built index) on another.

Figures (medians of ``--runs`` fresh browser contexts, so nothing is cached between runs):
- the host page's load event with and without the widget's script tag, alternated in the same run;
- from pressing the help button to the page's suggestions on screen (cold: the panel's files, the
  session and the page-context lookup are all fetched on that press);
- the suggest round trip as the panel sees it (Resource Timing of /widget/suggest) for typed questions.

    .venv/bin/python bench/widget_timing.py [--runs 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "how do points expire",
    "cancel my subscription",
    "referral was not credited",
    "add a vat number to invoices",
    "launcher not showing on my store",
    "import points balances from a csv",
]
WATCH = """(() => {  // in the page: from the press to the first suggestion in the panel's DOM
  const root = document.querySelector('[data-kb-widget]').shadowRoot;
  root.querySelector('button').addEventListener('click', () => { window.kbPressed = performance.now(); }, true);
  new MutationObserver(() => {
    if (!window.kbShown && root.querySelector('.kb-item-title')) window.kbShown = performance.now();
  }).observe(root, {subtree: true, childList: true});
})()"""
STEPS = """performance.getEntriesByType('resource')
  .filter(e => /widget\\/(panel\\.js|panel\\.css|session|context)/.test(e.name))
  .map(e => [e.name.split('/widget/')[1].split('?')[0], e.duration])"""
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Points settings</title></head>
<body><h1>Points settings</h1><p>Earning rules and expiry.</p>{tag}</body></html>"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_host(kb: dict[str, str]) -> Iterator[str]:
    class Host(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            tag = f'<script src="{kb["url"]}/widget.js" async></script>' if self.path.startswith("/with") else ""
            body = PAGE.format(tag=tag).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextmanager
def serve_kb(origin: str) -> Iterator[str]:
    import logging

    from werkzeug.serving import make_server

    from kb import create_app, db

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    folder = tempfile.mkdtemp(prefix="kb-widget-bench-")
    url = f"sqlite:///{folder}/kb.sqlite3"
    db.upgrade(url)
    app = create_app(
        {
            "ARTICLES_DIR": str(ROOT / "articles"),
            "SEARCH_INDEX_DIR": str(ROOT / "search_index"),
            "DATABASE_URL": url,
            "WIDGET_ORIGINS": origin,
            "RATELIMIT_ENABLED": False,
            "LOG_LEVEL": "WARNING",
        }
    )
    client = app.test_client()  # load the index and the models before timing anything
    client.get("/api/suggest?q=points expiry")
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def measure(runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    kb: dict[str, str] = {}
    with serve_host(kb) as host, serve_kb(host) as kb_url, sync_playwright() as p:
        kb["url"] = kb_url
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
        load: dict[str, list[float]] = {"without": [], "with": []}
        press: list[float] = []
        suggest: list[float] = []
        steps: dict[str, list[float]] = {}
        for run in range(runs + 1):  # run 0 warms the servers and the browser: not counted
            for kind in ("without", "with"):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(f"{host}/{kind}/points")
                took = page.evaluate(
                    "(() => { const n = performance.getEntriesByType('navigation')[0];"
                    " return n.loadEventEnd - n.startTime; })()"
                )
                if run:
                    load[kind].append(float(took))
                if kind == "with":
                    page.evaluate(WATCH)
                    page.locator("[data-kb-widget] button.kb-launcher").click()
                    page.locator(".kb-body .kb-item-title").first.wait_for(state="visible")
                    if run:
                        press.append(float(page.evaluate("window.kbShown - window.kbPressed")))
                        for name, took in page.evaluate(STEPS):
                            steps.setdefault(name, []).append(float(took))
                    question = QUESTIONS[run % len(QUESTIONS)]
                    page.evaluate("q => kb('search', q)", question)
                    page.wait_for_function(
                        "() => performance.getEntriesByType('resource').some(e => e.name.includes('/widget/suggest'))"
                    )
                    entries = page.evaluate(
                        "performance.getEntriesByType('resource').filter(e => e.name.includes('/widget/suggest'))"
                        ".map(e => e.duration)"
                    )
                    if run:
                        suggest.extend(float(e) for e in entries)
                context.close()
        browser.close()

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 1) if values else float("nan")

    return {
        "runs": runs,
        "host_load_ms_without_widget": median(load["without"]),
        "host_load_ms_with_widget": median(load["with"]),
        "press_to_suggestions_ms": median(press),
        "press_to_suggestions_ms_max": round(max(press), 1) if press else None,
        **{f"press_step_{name}_ms": median(values) for name, values in sorted(steps.items())},
        "suggest_round_trip_ms": median(suggest),
        "suggest_round_trip_ms_max": round(max(suggest), 1) if suggest else None,
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    figures = measure(args.runs)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        print(f"{key:34} {value}")


if __name__ == "__main__":
    main()
