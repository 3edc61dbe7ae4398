"""Print the help widget's transfer sizes: the loader (budget 3 KB gzipped) and the panel's script and
stylesheet together (budget 25 KB gzipped), raw and gzipped at level 9 as a server would send them.

    .venv/bin/python bench/widget_size.py [--json]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "kb" / "static" / "widget"
BUDGETS = {"loader": 3 * 1024, "panel": 25 * 1024}
PARTS = {"loader": ["loader.js"], "panel": ["panel.js", "panel.css"]}


def sizes() -> dict[str, dict[str, int | bool]]:
    """Raw and gzipped bytes of the loader and of the panel, and whether each fits its budget."""
    figures: dict[str, dict[str, int | bool]] = {}
    for name, files in PARTS.items():
        raw = [(ASSETS / f).read_bytes() for f in files]
        zipped = sum(len(gzip.compress(data, compresslevel=9)) for data in raw)
        figures[name] = {
            "raw_bytes": sum(len(data) for data in raw),
            "gzip_bytes": zipped,
            "budget_bytes": BUDGETS[name],
            "within_budget": zipped <= BUDGETS[name],
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    figures = sizes()
    if parser.parse_args().json:
        print(json.dumps(figures, indent=2))
        return
    for name, f in figures.items():
        status = "ok" if f["within_budget"] else "OVER BUDGET"
        budget = f"(budget {f['budget_bytes']} B: {status})"
        print(f"{name:7} {f['raw_bytes']:7d} B raw  {f['gzip_bytes']:6d} B gzipped  {budget}")


if __name__ == "__main__":
    main()
