"""Time ``Searcher.search`` and ``Searcher.suggest`` on the demo articles and on a generated corpus.

Every timed query is new to the process, so the figures include embedding the query with both models.
Also printed: index build throughput and the time of an incremental re-index after one edit.

The generated corpus recombines the demo articles' sections under varied titles, article by article
about the size of the demo's (see ``generate``). It and its index are cached in bench/out/ (gitignored);
building them embeds each distinct passage text once (a generated corpus repeats passages), and those
vectors are kept in bench/out/ too. Figures only: nothing is asserted. Other work on the machine slows
every figure: the load average is printed with them.

    .venv/bin/python bench/search_latency.py [--articles 10000] [--queries 300] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402

from kb.config import Settings  # noqa: E402
from kb.content import Article, load_library  # noqa: E402
from kb.search import Searcher, open_searcher  # noqa: E402
from kb.search.evaluate import read_search_tests  # noqa: E402
from kb.search.indexer import BuildReport, build_index, current_build, read_manifest  # noqa: E402
from kb.search.semantic import Embedder, Models  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
DEMO = PROJECT / "articles"
OUT = PROJECT / "bench" / "out"
TARGET_P95_MS = 30.0
GENERATOR = 2  # bump when the generated articles change, to regenerate the cached corpus

QUALIFIERS = [
    "for Shopify Plus",
    "on WooCommerce",
    "for multi-store brands",
    "in the mobile app",
    "for wholesale",
    "step by step",
    "for beginners",
    "FAQ",
    "troubleshooting",
    "for agencies",
    "in the EU",
    "with POS",
    "for subscription shops",
    "checklist",
    "explained",
    "best practices",
    "for large catalogues",
    "after migrating",
    "for B2B stores",
    "in 2024",
]
PREFIXES = ["", "", "", "How to: ", "Guide: ", "Quick answer: ", "Advanced: "]
ASK = [
    "{q}",
    "{q}?",
    "hi, {q}",
    "{q} please",
    "quick question: {q}",
    "{q} thanks",
    "help: {q}",
    "{q} asap",
    "hello, {q}",
    "{q}!!",
    "so {q}",
    "um {q}",
    "{q} urgently",
    "my question: {q}",
    "{q} (again)",
    "hey {q}",
]


class ReusingEmbedder:
    """Embed each distinct passage text once, remembering vectors on disk between runs (bench only)."""

    def __init__(self, inner: Embedder, key: str) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.path = OUT / f"passage-vectors-{key}-{re.sub(r'[^A-Za-z0-9.-]', '_', inner.name)}"
        self.known: dict[str, np.ndarray] = {}
        if (self.path / "texts.json").exists():
            texts = json.loads((self.path / "texts.json").read_text(encoding="utf-8"))
            self.known = dict(zip(texts, np.load(self.path / "vectors.npy"), strict=True))
        self.embedded = 0

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self.known))
        for start in range(0, len(todo), 256):
            batch = todo[start : start + 256]
            self.known.update(zip(batch, self.inner.encode(batch, batch_size=batch_size), strict=True))
            self.embedded += len(batch)
        return np.stack([self.known[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        return self.inner.encode_query(text)

    def save(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        texts = list(self.known)
        np.save(self.path / "vectors.npy", np.stack([self.known[t] for t in texts]))
        (self.path / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")


def generate(demo: list[Article], count: int, seed: int, folder: Path) -> None:
    """Write ``count`` articles into ``folder``, each from one demo article (in turn): one of its 15 title
    variants, most of its sections in a new order, and sometimes a section of another article of its
    category. Titles and sections repeat, so distinct passage texts stay few enough to embed in minutes."""
    rng = random.Random(seed)
    titles = {a.id: [f"{rng.choice(PREFIXES)}{a.title} {q}" for q in rng.sample(QUALIFIERS, 15)] for a in demo}
    by_category: dict[str, list[Article]] = {}
    for a in demo:
        by_category.setdefault(a.category, []).append(a)
    for i in range(count):
        base = demo[i % len(demo)]
        title = rng.choice(titles[base.id])
        own = [s for s in base.sections if s.heading and s.text]
        chosen = rng.sample(own, max(1, round(len(own) * rng.uniform(0.75, 1.0)))) if own else []
        neighbours = [a for a in by_category[base.category] if a is not base and a.sections]
        if neighbours and rng.random() < 0.3:
            extra = [s for s in rng.choice(neighbours).sections if s.heading and s.text]
            chosen += rng.sample(extra, 1) if extra else []
        parts = [_paragraphs(base.sections[0].text)] if base.sections and not base.sections[0].heading else []
        used: set[str] = set()
        for section in chosen:
            if section.heading not in used:
                used.add(section.heading)
                parts.append(f"## {section.heading}\n\n{_paragraphs(section.text)}")
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] + f"-{i}"
        meta = {"title": title, "summary": base.summary or base.description, "tags": base.tags}
        path = folder / "en" / base.category / f"{slug}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        front = "\n".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in meta.items())
        path.write_text(f"---\n{front}\n---\n\n" + "\n\n".join(parts) + "\n", encoding="utf-8")


def _paragraphs(text: str) -> str:
    return "\n\n".join(line.strip() for line in text.split("\n") if line.strip())


def queries(count: int) -> tuple[list[str], list[str]]:
    """Two disjoint lists of distinct queries (for search, for suggest): the writers' tests, varied."""
    base = [q.query for q in read_search_tests(DEMO)[0] if q.locale == "en"]
    asked = list(dict.fromkeys(form.format(q=q) for form in ASK for q in base))
    if len(asked) < 2 * count:
        sys.exit(f"only {len(asked)} distinct queries: ask for --queries {len(asked) // 2} or fewer")
    random.Random(7).shuffle(asked)
    return asked[:count], asked[count : 2 * count]


def timed(fn: Callable[[str], Any], asked: list[str]) -> list[float]:
    out = []
    for q in asked:
        started = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - started) * 1000)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def passages(index_dir: Path) -> int:
    build = current_build(index_dir)
    assert build is not None
    return len(json.loads((build / "chunks.json").read_text(encoding="utf-8")))


def reindex_one_edit(articles: Path, index_dir: Path, embedders: dict[str, Any]) -> tuple[float, BuildReport]:
    """Append a paragraph to one article and re-index; then put it back (re-indexed too, not timed)."""
    path = sorted(articles.glob("en/*/*.md"))[len(list(articles.glob("en/*/*.md"))) // 2]
    original = path.read_text(encoding="utf-8")
    path.write_text(
        original + "\nEdited for the latency benchmark: points also count for gift cards.\n", encoding="utf-8"
    )
    started = time.perf_counter()
    report = build_index(load_library(articles), index_dir, embedders)
    seconds = time.perf_counter() - started
    path.write_text(original, encoding="utf-8")
    build_index(load_library(articles), index_dir, embedders)
    return seconds, report


def measure(name: str, searcher: Searcher, search_q: list[str], suggest_q: list[str]) -> dict[str, Any]:
    for q in ("warm up the models", "warm up again please"):
        searcher.search(q, "en")
        searcher.suggest(q, "en")
    search_ms = timed(lambda q: searcher.search(q, "en"), search_q)
    suggest_ms = timed(lambda q: searcher.suggest(q, "en"), suggest_q)
    return {
        "name": name,
        "search_p50": percentile(search_ms, 0.5),
        "search_p95": percentile(search_ms, 0.95),
        "suggest_p50": percentile(suggest_ms, 0.5),
        "suggest_p95": percentile(suggest_ms, 0.95),
        "search_mean": statistics.fmean(search_ms),
        "suggest_mean": statistics.fmean(suggest_ms),
    }


def profile(searcher: Searcher, asked: list[str], name: str) -> str:
    """cProfile of ``searcher.search`` over fresh queries; the top of the report, also saved in bench/out/."""
    profiler = cProfile.Profile()
    profiler.enable()
    for q in asked:
        searcher.search(q, "en")
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    text.write(f"# {len(asked)} searches on {name}, by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(30)
    text.write("# by own time\n")
    stats.sort_stats("tottime").print_stats(20)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"profile-{name}.txt").write_text(text.getvalue(), encoding="utf-8")
    return text.getvalue()


def generated_index(count: int, seed: int, rebuild: bool, embedders: dict[str, Embedder]) -> tuple[Path, dict]:
    """The cached generated corpus and its index, made when missing; with the figures of its build."""
    root = OUT / f"corpus-{count}-seed{seed}-v{GENERATOR}"
    articles, index_dir, stats_file = root / "articles", root / "search_index", root / "build.json"
    if rebuild or not (root / "generated").exists():
        shutil.rmtree(root, ignore_errors=True)
        demo = [a for a in load_library(DEMO) if a.locale == "en" and a.sections]
        print(f"generating {count} articles in {articles} ...", flush=True)
        generate(demo, count, seed, articles)
        (root / "generated").write_text("ok")
    library = load_library(articles)
    manifest = read_manifest(current_build(index_dir))
    fresh = manifest.get("articles") == {a.id: a.content_hash for a in library} and stats_file.exists()
    if not fresh or manifest.get("models") != {k: e.name for k, e in embedders.items()}:
        print(
            f"building the index of {len(library)} articles (each distinct passage embedded once) ...",
            flush=True,
        )
        reusing = {k: ReusingEmbedder(e, k) for k, e in embedders.items()}
        started = time.perf_counter()
        report = build_index(library, index_dir, reusing)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        for r in reusing.values():
            r.save()
        stats = {
            "seconds": seconds,
            "passages": report.chunks_total,
            "models": len(reusing),
            "embedded": {k: r.embedded for k, r in reusing.items()},
            "when": time.strftime("%Y-%m-%d %H:%M"),
        }
        stats_file.write_text(json.dumps(stats, indent=1))
    return root, json.loads(stats_file.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=10000, help="size of the generated corpus (default 10000)")
    parser.add_argument("--queries", type=int, default=300, help="timed calls of each kind per corpus (default 300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the corpus and rebuild its index")
    parser.add_argument("--profile", action="store_true", help="profile the generated corpus even under target")
    args = parser.parse_args()

    search_q, suggest_q = queries(args.queries)
    load = os.getloadavg()
    models = Models()
    embedders = models.embedders(Settings())
    rows, notes = [], []

    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        demo_dir = Path(tmp) / "articles"
        shutil.copytree(DEMO, demo_dir)
        library = load_library(demo_dir)
        started = time.perf_counter()
        report = build_index(library, Path(tmp) / "search_index", embedders)
        seconds = time.perf_counter() - started
        notes.append(
            f"demo full build: {report.chunks_total} passages x {len(embedders)} models "
            f"({report.chunks_embedded} embeddings) in {seconds:.1f} s = "
            f"{report.chunks_total / seconds:.1f} passages/s, "
            f"{report.chunks_embedded / seconds:.1f} embeddings/s"
        )
        searcher = open_searcher(Path(tmp) / "search_index", library, Settings(), models)
        rows.append(
            {
                **measure("demo", searcher, search_q, suggest_q),
                "articles": len(library),
                "passages": report.chunks_total,
            }
        )
        edit_s, edit = reindex_one_edit(demo_dir, Path(tmp) / "search_index", embedders)
        rows[-1]["reindex"] = edit_s
        notes.append(f"demo re-index after one edit: {edit_s:.2f} s ({edit.summary()})")
        searcher.close()

    root, stats = generated_index(args.articles, args.seed, args.rebuild, embedders)
    embedded = sum(stats["embedded"].values())
    notes.append(
        f"generated build ({stats['when']}): {stats['passages']} passages x {stats['models']} models in "
        f"{stats['seconds']:.0f} s = {stats['passages'] / stats['seconds']:.1f} passages/s, with "
        f"{embedded} distinct passage texts actually embedded ({embedded / stats['seconds']:.1f}/s)"
    )
    library = load_library(root / "articles")
    started = time.perf_counter()
    searcher = open_searcher(root / "search_index", library, Settings(), models)
    notes.append(f"generated index opened in {time.perf_counter() - started:.1f} s")
    label = f"generated {args.articles // 1000}k" if args.articles >= 1000 else f"generated {args.articles}"
    big = {
        **measure(label, searcher, search_q, suggest_q),
        "articles": len(library),
        "passages": passages(root / "search_index"),
    }
    rows.append(big)
    report_text = ""
    if args.profile or big["search_p95"] > TARGET_P95_MS or big["suggest_p95"] > TARGET_P95_MS:
        fresh = [f"profiling question {i}: {q}" for i, q in enumerate(search_q[:100])]
        report_text = profile(searcher, fresh, f"{args.articles}")
    searcher.close()
    edit_s, edit = reindex_one_edit(root / "articles", root / "search_index", embedders)
    big["reindex"] = edit_s
    notes.append(f"generated re-index after one edit: {edit_s:.1f} s ({edit.summary()})")

    print(
        f"\n{len(search_q)} searches and {len(suggest_q)} suggestions per corpus, each query new to the "
        f"process (embedding included), one process, {os.cpu_count()} CPUs, load average at the start "
        f"{load[0]:.1f}, now {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'corpus':<15}{'articles':>9}{'passages':>10}{'search p50':>12}{'p95':>10}"
        f"{'suggest p50':>13}{'p95':>10}{'re-index':>10}"
    )
    for r in rows:
        print(
            f"{r['name']:<15}{r['articles']:>9}{r['passages']:>10}{r['search_p50']:>10.1f}ms"
            f"{r['search_p95']:>8.1f}ms{r['suggest_p50']:>11.1f}ms{r['suggest_p95']:>8.1f}ms{r['reindex']:>9.1f}s"
        )
    print()
    for note in notes:
        print(note)
    verdict = "under" if max(big["search_p95"], big["suggest_p95"]) <= TARGET_P95_MS else "OVER"
    print(f"target: p95 under {TARGET_P95_MS:.0f} ms at {args.articles} articles: {verdict}")
    if report_text:
        print(f"\nprofile (also in bench/out/profile-{args.articles}.txt):\n{report_text}")


if __name__ == "__main__":
    main()
