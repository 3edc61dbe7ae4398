"""Time ``Searcher.search`` and ``Searcher.suggest`` on the demo articles and on a generated corpus.

For each corpus: search and suggest p50/p95/p99 with queries new to the process (both models embed
them), the same calls again once their vectors are cached ("everything but the embedding"; the
suggestions a worker keeps for a question asked lately are timed apart, as "kept", then cleared), the
embedders' ``encode_query`` alone on those queries (fresh models, empty caches), SQLite FTS5 (bm25 over
title, summary and body, in memory) on the same queries, index build throughput, the re-index after
editing one article, and the process's resident memory. Queries: the merchants' held-out questions
(bench/eval/merchants-heldout.jsonl, long ones included, each in its own locale) and the writers'
English tests asked in varied ways; search and suggest get disjoint halves.

The generated corpus recombines the demo articles' sections under varied titles, article by article
about the size of the demo's (see ``generate``). It and its index are cached in bench/out/ (gitignored);
building them embeds each distinct passage text once (a generated corpus repeats passages), and those
vectors are kept in bench/out/ too. Only public APIs are used (``open_searcher``, ``Searcher``,
``Models``, ``build_index``), so the script measures whatever the search code does today. Figures
only: nothing is asserted. Other work on the machine slows every figure: the load average is printed.

    .venv/bin/python bench/search_latency.py [--articles 1000] [--queries 300] [--json] [--profile]
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
import sqlite3
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
from kb.content import Article, Library, load_library  # noqa: E402
from kb.content.render_cache import kept_in  # noqa: E402
from kb.search import Searcher, open_searcher  # noqa: E402
from kb.search.chunks import read_columns  # noqa: E402
from kb.search.evaluate import read_search_tests  # noqa: E402
from kb.search.indexer import FORMAT, BuildReport, build_index, current_build, read_manifest  # noqa: E402
from kb.search.semantic import Embedder, Models  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
DEMO = PROJECT / "articles"
HELDOUT = PROJECT / "bench" / "eval" / "merchants-heldout.jsonl"
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

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # whatever else the indexer asks of an embedder

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


Query = tuple[str, str]  # (text, locale)


def queries(count: int) -> tuple[list[Query], list[Query]]:
    """Two disjoint lists of distinct queries (for search, for suggest): the merchants' held-out questions
    in their own locales, then the writers' English tests asked in varied ways, shuffled."""
    merchants = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines() if line.strip()]
    theirs = list(dict.fromkeys((m["query"], m["locale"]) for m in merchants))
    base = [q.query for q in read_search_tests(DEMO)[0] if q.locale == "en"]
    seen = {text for text, _ in theirs}
    ours = [(t, "en") for t in dict.fromkeys(form.format(q=q) for form in ASK for q in base) if t not in seen]
    rng = random.Random(7)
    rng.shuffle(theirs)
    rng.shuffle(ours)
    half = min(len(theirs) // 2, count)
    need = 2 * (count - half)
    if len(ours) < need:
        sys.exit(f"only {len(theirs) + len(ours)} distinct queries: ask for fewer --queries")
    search_q = theirs[:half] + ours[: count - half]
    suggest_q = theirs[half : 2 * half] + ours[count - half : need]
    rng.shuffle(search_q)
    rng.shuffle(suggest_q)
    return search_q, suggest_q


def timed(fn: Callable[[str, str], Any], asked: list[Query]) -> list[float]:
    out = []
    for text, locale in asked:
        started = time.perf_counter()
        fn(text, locale)
        out.append((time.perf_counter() - started) * 1000)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def spread(prefix: str, values: list[float]) -> dict[str, float]:
    return {f"{prefix}_p{round(q * 100)}": round(percentile(values, q), 2) for q in (0.5, 0.95, 0.99)}


def memory_mb() -> dict[str, float]:
    """This process's resident memory now and at its peak (from /proc/self/status)."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found["rss_mb" if key == "VmRSS" else "rss_peak_mb"] = round(int(value.split()[0]) / 1024, 1)
    return found


def fts5_table(library: Library) -> sqlite3.Connection:
    """An in-memory FTS5 table of the same articles: title, summary and body, with the locale unindexed."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE a USING fts5(id UNINDEXED, locale UNINDEXED, title, summary, body)")
    db.executemany(
        "INSERT INTO a VALUES (?, ?, ?, ?, ?)",
        [(a.id, a.locale, a.title, a.summary or a.description, a.body) for a in library],
    )
    return db


def fts5_search(db: sqlite3.Connection, text: str, locale: str) -> list[str]:
    words = re.findall(r"\w+", text)
    if not words:
        return []
    match = " OR ".join(f'"{w}"' for w in dict.fromkeys(words))
    rows = db.execute(
        "SELECT id FROM a WHERE a MATCH ? AND locale = ? ORDER BY bm25(a) LIMIT 10", (match, locale)
    ).fetchall()
    return [r[0] for r in rows]


def measure(searcher: Searcher, library: Library, search_q: list[Query], suggest_q: list[Query]) -> dict[str, Any]:
    """Time one corpus: fresh queries, the same again (vectors cached), FTS5 on the same queries."""
    for q in ("warm up the models", "warm up again please"):
        searcher.search(q, "en")
        searcher.suggest(q, "en")
    search_ms = timed(lambda q, loc: searcher.search(q, loc), search_q)
    suggest_ms = timed(lambda q, loc: searcher.suggest(q, loc), suggest_q)
    search_again = timed(lambda q, loc: searcher.search(q, loc), search_q)
    suggest_kept = timed(lambda q, loc: searcher.suggest(q, loc), suggest_q)  # answered from the kept results
    searcher.suggested.clear()  # "again" is everything but the embedding: ranked anew
    suggest_again = timed(lambda q, loc: searcher.suggest(q, loc), suggest_q)
    db = fts5_table(library)
    fts_ms = timed(lambda q, loc: fts5_search(db, q, loc), search_q + suggest_q)
    db.close()
    return {
        "queries": {"search": len(search_q), "suggest": len(suggest_q)},
        **spread("search", search_ms),
        **spread("suggest", suggest_ms),
        "search_cached_vectors_p95": round(percentile(search_again, 0.95), 2),
        "suggest_cached_vectors_p95": round(percentile(suggest_again, 0.95), 2),
        "suggest_kept_p95": round(percentile(suggest_kept, 0.95), 3),
        "fts5_p95": round(percentile(fts_ms, 0.95), 3),
        **memory_mb(),
    }


def embedding_only(asked: list[Query]) -> dict[str, float]:
    """p95 of each embedder's ``encode_query`` on ``asked``, with models of their own (empty caches);
    loaded after the corpus's memory was read, and dropped after."""
    out = {}
    for key, embedder in Models().embedders(Settings()).items():
        embedder.encode_query("warm up the model")
        out[f"embed_{key}_p95"] = round(percentile(timed(lambda q, _l, e=embedder: e.encode_query(q), asked), 0.95), 2)
    return out


def passages_of(index_dir: Path) -> int:
    build = current_build(index_dir)
    assert build is not None
    return len(read_columns(build / "chunks.json")["id"])


def reindex_one_edit(articles: Path, index_dir: Path, models: Models) -> tuple[float, float, BuildReport]:
    """Append a paragraph to one article and re-index, then open the new build as a running site does (the
    articles read again, the index opened, the models already loaded); put it back (not timed).

    Returns the seconds of `kb index` and of the site's switch to the new build."""
    embedders = models.embedders(Settings())
    path = sorted(articles.glob("en/*/*.md"))[len(list(articles.glob("en/*/*.md"))) // 2]
    original = path.read_text(encoding="utf-8")
    path.write_text(
        original + "\nEdited for the latency benchmark: points also count for gift cards.\n", encoding="utf-8"
    )
    started = time.perf_counter()
    report = build_index(load_library(articles, rendered=kept_in(index_dir)), index_dir, embedders)  # as kb index
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    open_searcher(index_dir, load_library(articles, rendered=kept_in(index_dir)), Settings(), models).close()
    reopened = time.perf_counter() - started
    path.write_text(original, encoding="utf-8")
    build_index(load_library(articles, rendered=kept_in(index_dir)), index_dir, embedders)
    return seconds, reopened, report


def profile(searcher: Searcher, asked: list[Query], name: str) -> str:
    """cProfile of ``searcher.search`` over fresh queries; the top of the report, also saved in bench/out/."""
    profiler = cProfile.Profile()
    profiler.enable()
    for q, locale in asked:
        searcher.search(q, locale)
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
        print(f"generating {count} articles in {articles} ...", file=sys.stderr, flush=True)
        generate(demo, count, seed, articles)
        (root / "generated").write_text("ok")
    library = load_library(articles, rendered=kept_in(index_dir))
    manifest = read_manifest(current_build(index_dir))
    fresh = (
        manifest.get("format") == FORMAT
        and manifest.get("articles") == {a.id: a.content_hash for a in library}
        and stats_file.exists()
    )
    if not fresh or manifest.get("models") != {k: e.name for k, e in embedders.items()}:
        print(
            f"building the index of {len(library)} articles (each distinct passage embedded once) ...",
            file=sys.stderr,
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


def demo_corpus(models: Models, search_q: list[Query], suggest_q: list[Query]) -> dict[str, Any]:
    """Copy the demo articles, build their index from scratch (timed), measure, re-index after one edit."""
    embedders = models.embedders(Settings())
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        demo_dir, index_dir = Path(tmp) / "articles", Path(tmp) / "search_index"
        shutil.copytree(DEMO, demo_dir)
        library = load_library(demo_dir, rendered=kept_in(index_dir))
        started = time.perf_counter()
        report = build_index(library, index_dir, embedders)
        seconds = time.perf_counter() - started
        searcher = open_searcher(index_dir, library, Settings(), models)
        row = {
            "corpus": "demo",
            "articles": len(library),
            "passages": report.chunks_total,
            "build_seconds": round(seconds, 1),
            "build_passages_per_s": round(report.chunks_total / seconds, 1),
            "build_note": f"full build, {len(embedders)} models, every passage embedded",
            **measure(searcher, library, search_q, suggest_q),
        }
        searcher.close()
        edit, reopen, _ = reindex_one_edit(demo_dir, index_dir, models)
        row["reindex_one_edit_s"], row["reopen_after_edit_s"] = round(edit, 2), round(reopen, 2)
    return row


def generated_corpus(
    args: argparse.Namespace, models: Models, search_q: list[Query], suggest_q: list[Query]
) -> dict[str, Any]:
    """The cached generated corpus: measure, profile when over target, re-index after one edit."""
    embedders = models.embedders(Settings())
    root, stats = generated_index(args.articles, args.seed, args.rebuild, embedders)
    library = load_library(root / "articles")
    started = time.perf_counter()
    searcher = open_searcher(root / "search_index", library, Settings(), models)
    opened = time.perf_counter() - started
    embedded = sum(stats["embedded"].values())
    row = {
        "corpus": f"generated {args.articles}",
        "articles": len(library),
        "passages": passages_of(root / "search_index"),
        "build_seconds": round(stats["seconds"], 1),
        "build_passages_per_s": round(stats["passages"] / stats["seconds"], 1),
        "build_note": f"built {stats['when']}; {embedded} distinct passage texts embedded (repeats reused)",
        "open_seconds": round(opened, 2),
        **measure(searcher, library, search_q, suggest_q),
    }
    if args.profile:
        fresh = [(f"profiling question {i}: {q}", loc) for i, (q, loc) in enumerate(search_q[:100])]
        row["profile"] = str(OUT / f"profile-{args.articles}.txt")
        profile(searcher, fresh, f"{args.articles}")
    searcher.close()
    edit, reopen, _ = reindex_one_edit(root / "articles", root / "search_index", models)
    row["reindex_one_edit_s"], row["reopen_after_edit_s"] = round(edit, 2), round(reopen, 2)
    return row


COLUMNS = [  # header, key, format
    ("corpus", "corpus", "{}"),
    ("articles", "articles", "{:,}"),
    ("passages", "passages", "{:,}"),
    ("search p50/p95/p99 ms", ("search_p50", "search_p95", "search_p99"), "{:.0f}"),
    ("suggest p50/p95/p99 ms", ("suggest_p50", "suggest_p95", "suggest_p99"), "{:.0f}"),
    ("cached-vector p95 ms", ("search_cached_vectors_p95", "suggest_cached_vectors_p95"), "{:.0f}"),
    ("kept suggest p95 ms", "suggest_kept_p95", "{:.2f}"),
    ("embed p95 ms", ("embed_minilm_p95", "embed_usem3_p95"), "{:.1f}"),
    ("FTS5 p95 ms", "fts5_p95", "{:.2f}"),
    ("build passages/s", "build_passages_per_s", "{:.1f}"),
    ("re-index / site reopens s", ("reindex_one_edit_s", "reopen_after_edit_s"), "{:.1f}"),
    ("RSS MB", "rss_mb", "{:.0f}"),
]


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table; several figures in one cell are joined by slashes."""

    def cell(row: dict[str, Any], key: str | tuple[str, ...], fmt: str) -> str:
        keys = key if isinstance(key, tuple) else (key,)
        return " / ".join(fmt.format(row[k]) if k in row else "-" for k in keys)

    cells = [[h for h, _, _ in COLUMNS]] + [[cell(r, k, f) for _, k, f in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
        for line in cells
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--articles", type=int, default=1000, help="size of the generated corpus (default 1000; 0: none)"
    )
    parser.add_argument("--queries", type=int, default=300, help="timed calls of each kind per corpus (default 300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rebuild", action="store_true", help="regenerate the corpus and rebuild its index")
    parser.add_argument("--profile", action="store_true", help="profile 100 searches on the generated corpus")
    parser.add_argument("--no-demo", action="store_true", help="only the generated corpus")
    parser.add_argument("--json", action="store_true", help="one JSON object per corpus, one per line")
    args = parser.parse_args()

    search_q, suggest_q = queries(args.queries)
    models = Models()
    corpora: list[Callable[[], dict[str, Any]]] = (
        [] if args.no_demo else [lambda: demo_corpus(models, search_q, suggest_q)]
    )
    if args.articles:
        corpora.append(lambda: generated_corpus(args, models, search_q, suggest_q))
    rows = []
    for corpus in corpora:
        load = round(os.getloadavg()[0], 2)
        row = {**corpus(), **embedding_only(search_q), "load_start": load, "load_end": round(os.getloadavg()[0], 2)}
        rows.append({**row, "cpus": os.cpu_count(), "when": time.strftime("%Y-%m-%d %H:%M")})
        if args.json:
            print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    if args.json:
        return
    print(
        f"\n{len(search_q)} searches and {len(suggest_q)} suggestions per corpus, each query new to the process; "
        f"then the same again with their vectors cached; {os.cpu_count()} CPUs; one process"
    )
    print(table(rows))
    print()
    for r in rows:
        print(
            f"{r['corpus']}: load average {r['load_start']} -> {r['load_end']}; build: {r['build_note']}"
            + (f"; index opened in {r['open_seconds']} s" if "open_seconds" in r else "")
        )
    big = rows[-1]
    verdict = "under" if max(big["search_p95"], big["suggest_p95"]) <= TARGET_P95_MS else "OVER"
    print(f"target: p95 under {TARGET_P95_MS:.0f} ms at {args.articles} articles: {verdict}")
    if "profile" in big:
        print(f"profile of 100 searches: {big['profile']}")


if __name__ == "__main__":
    main()
