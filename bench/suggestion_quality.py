"""What the contact form would suggest for labelled merchant questions, by kind of question.

Runs ``kb eval --dump`` on a JSON-lines file (``query``, ``relevant`` slugs, ``locale``, ``kind``) and
prints, per kind and overall: right article in the top 3, right article suggested, a wrong article
suggested (suggestions shown, none of them right), and for unanswerable questions no suggestion at all.

    python bench/suggestion_quality.py bench/eval/merchants-heldout.jsonl [--kb .venv/bin/kb] [--json]

Nothing is fitted on bench/eval/merchants-heldout.jsonl: it is the held-out set of issue #12.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any


def run_eval(kb: str, queries: Path, mode: str) -> list[dict[str, Any]]:
    """The ranked and suggested slugs of every query, from the CLI's dump."""
    with tempfile.TemporaryDirectory() as folder:
        dump = Path(folder) / "dump.jsonl"
        done = subprocess.run(
            [kb, "eval", str(queries), "--mode", mode, "--json", "--dump", str(dump)],
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        )
        if done.returncode != 0:
            sys.exit(f"kb eval failed:\n{done.stdout}\n{done.stderr}")
        return [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines()]


def figures(items: list[dict[str, Any]], outcomes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per kind (and "all", "answerable"): counts and shares."""
    groups: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for item, outcome in zip(items, outcomes, strict=True):
        groups[item.get("kind", "?")].append((item, outcome))
        groups["answerable" if item.get("relevant") else "unanswerable (all)"].append((item, outcome))
        if item.get("locale", "en") != "en" and item.get("kind") == "crosslang":
            groups[f"crosslang {item['locale']}"].append((item, outcome))
    table: dict[str, dict[str, Any]] = {}
    for kind, pairs in sorted(groups.items()):
        answerable = [(i, o) for i, o in pairs if i.get("relevant")]
        unanswerable = [(i, o) for i, o in pairs if not i.get("relevant")]
        row: dict[str, Any] = {"n": len(pairs)}
        if answerable:
            n = len(answerable)
            row["top3"] = sum(any(r in i["relevant"] for r in o["ranked"][:3]) for i, o in answerable) / n
            row["suggested"] = sum(any(r in i["relevant"] for r in o["suggested"]) for i, o in answerable) / n
            row["wrong"] = (
                sum(bool(o["suggested"]) and not any(r in i["relevant"] for r in o["suggested"]) for i, o in answerable)
                / n
            )
        if unanswerable:
            row["no_suggestion"] = sum(not o["suggested"] for _, o in unanswerable) / len(unanswerable)
        table[kind] = row
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("queries", type=Path)
    parser.add_argument("--kb", default=".venv/bin/kb", help="the kb command to measure")
    parser.add_argument("--mode", default="hybrid", choices=["hybrid", "keyword", "semantic"])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    items = [json.loads(line) for line in args.queries.read_text(encoding="utf-8").splitlines() if line.strip()]
    table = figures(items, run_eval(args.kb, args.queries, args.mode))
    if args.json:
        print(json.dumps({"set": args.queries.name, "mode": args.mode, "figures": table}, indent=2))
        return
    print(f"{args.queries.name} ({args.mode}), load average {os.getloadavg()[0]:.1f}")
    print(f"{'kind':<20}{'n':>5}{'top 3':>8}{'suggested':>11}{'wrong':>8}{'no sugg.':>10}")
    for kind, row in table.items():
        cells = [f"{row[k]:.2f}" if k in row else "" for k in ("top3", "suggested", "wrong", "no_suggestion")]
        print(f"{kind:<20}{row['n']:>5}{cells[0]:>8}{cells[1]:>11}{cells[2]:>8}{cells[3]:>10}")


if __name__ == "__main__":
    main()
