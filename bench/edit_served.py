#!/usr/bin/env python3
"""How long an edited article takes to reach visitors of the running site: saved, `kb index`, served.

    .venv/bin/python bench/edit_served.py [--corpus DIR] [--rounds 3] [--workers 2] [--json]

Starts the production server (`kb serve`: gunicorn, as load.py starts it) over a copy of the demo
articles and their index, or over a corpus built by search_latency.py (edited in place and put back).
Each round appends a paragraph holding a word no article has to one English article, runs `kb index` as a
writer's deploy does, and asks the site every 50 ms, on a new connection each time, for the article page
and for a search of that word (/api/search), until both show it in ``--confirm`` answers in a row (the
workers each take the new build on their own); then puts the article back and times the same until the
word is gone. Figures: seconds from the save to `kb index` done, and to the site serving the change; and the
slowest answer (article page and search together) after `kb index`, while the workers took the new build.
Nothing is asserted; the load average is printed, since other work on the machine slows every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from load import ROOT, corpus_folders, database, kb_serve

DEMO = ROOT / "articles"
POLL_S = 0.05
PATIENCE_S = 120.0


def fetch(url: str) -> str:
    request = urllib.request.Request(url, headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(answer.read().decode("utf-8"))


def shows(base: str, article_url: str, word: str) -> bool:
    """Whether this answer's worker serves the article with ``word``, and finds it first for ``word`` (a word
    no other article has; without it the article is not first: the script checks before each edit)."""
    page = word in fetch(base + article_url)
    found = json.loads(fetch(f"{base}/api/search?q={word}&locale=en"))["results"]
    return page and bool(found) and found[0]["url"].split("#")[0] == article_url


def until(base: str, article_url: str, word: str, wanted: bool, confirm: int) -> tuple[float, float]:
    """Seconds until ``confirm`` answers in a row agree that the site shows ``word`` (or not), and the slowest
    answer meanwhile (a visitor held up while a worker opened the build)."""
    started = time.monotonic()
    streak, first, slowest = 0, 0.0, 0.0
    while time.monotonic() - started < PATIENCE_S:
        asked = time.monotonic()
        agrees = shows(base, article_url, word) == wanted
        answered = time.monotonic()
        slowest = max(slowest, answered - asked)
        if agrees:
            first = first or answered  # when the visitor had it, however long the answer took
            streak += 1
            if streak >= confirm:
                return first - started, slowest
        else:
            streak, first = 0, 0.0
        time.sleep(POLL_S)
    raise SystemExit(f"the site did not {'show' if wanted else 'drop'} the edit within {PATIENCE_S:.0f} s")


def kb_index(env: dict[str, str]) -> float:
    started = time.monotonic()
    subprocess.run([str(ROOT / ".venv" / "bin" / "kb"), "index"], env=env, cwd=ROOT, check=True, capture_output=True)
    return time.monotonic() - started


def one_change(base: str, env: dict[str, str], article_url: str, word: str, shown: bool, confirm: int) -> dict:
    """Run `kb index` on the saved article and wait until the site agrees; seconds from the save."""
    indexed = kb_index(env)
    waited, slowest = until(base, article_url, word, shown, confirm)
    served = round(indexed + waited, 2)
    return {"kb_index_s": round(indexed, 2), "served_s": served, "slowest_answer_s": round(slowest, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=None, help="a corpus built by search_latency.py")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--confirm", type=int, default=8, help="answers in a row that must agree (default 8)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kb-edit-"))
    try:
        corpus = args.corpus
        if corpus is None:
            corpus = work / "demo"
            shutil.copytree(DEMO, corpus / "articles")
            shutil.copytree(ROOT / "search_index", corpus / "search_index", symlinks=True)
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            **corpus_folders(corpus),
        }
        english = sorted((corpus / "articles").glob("en/*/*.md"))
        path = english[len(english) // 2]
        original = path.read_text(encoding="utf-8")
        article_url = f"/en/articles/{path.stem}"
        rounds: list[dict[str, Any]] = []
        load_start = os.getloadavg()[0]
        with database("sqlite", work) as url:
            env["KB_DATABASE_URL"] = url
            with kb_serve(url, args.workers, args.threads, work, corpus) as (base, _master, _first):
                for n in range(args.rounds):
                    word = f"zedit{secrets.token_hex(4)}"
                    if shows(base, article_url, word):
                        raise SystemExit(f"{article_url} is already found first for {word}: choose another")
                    edited = original.rstrip("\n") + f"\n\nThe {word} setting was added in this edit.\n"
                    try:
                        path.write_text(edited, encoding="utf-8")
                        edit = one_change(base, env, article_url, word, True, args.confirm)
                    finally:
                        path.write_text(original, encoding="utf-8")
                    revert = one_change(base, env, article_url, word, False, args.confirm)
                    rounds.append({"round": n + 1, "edit": edit, "revert": revert})
                    if not args.json:
                        print(f"round {n + 1}: edit {edit}, revert {revert}", flush=True)
        result = {
            "corpus": str(args.corpus or "demo"),
            "article": path.relative_to(corpus / "articles").as_posix(),
            "workers": args.workers,
            "rounds": rounds,
            "load_start": round(load_start, 2),
            "load_end": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
            "when": time.strftime("%Y-%m-%d %H:%M"),
        }
        print(json.dumps(result) if args.json else f"load average {result['load_start']} -> {result['load_end']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
