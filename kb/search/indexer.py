"""Build ``search_index/`` from the Library, re-embedding only articles whose content changed.

Each build goes into its own folder and the ``CURRENT`` pointer is moved last, atomically, so a
running site never reads a half-written index.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from kb.content import Library
from kb.search.chunks import Chunk, chunk_article
from kb.search.keyword import write_index
from kb.search.semantic import Embedder, reads
from kb.search.vectors import load_row_map, load_vectors, rows_path, save_vectors, write_anns

KEEP_BUILDS = 3
FORMAT = 10  # bump when the layout or the chunking changes, to force a full rebuild

Progress = Callable[[int], None]


@dataclass
class BuildReport:
    build_id: str = ""
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    chunks_embedded: int = 0
    chunks_total: int = 0
    seconds: float = 0.0
    model: str = ""

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{self.unchanged} unchanged; {self.chunks_total} passages, {self.chunks_embedded} new embeddings "
            f"in {self.seconds:.1f} s ({self.model or 'no model: keyword only'})"
        )


def current_build(index_dir: Path) -> Path | None:
    try:
        build_id = (index_dir / "CURRENT").read_text().strip()
    except OSError:
        return None
    folder = index_dir / "builds" / build_id
    return folder if (folder / "manifest.json").exists() else None


def read_manifest(build: Path | None) -> dict:
    if build is None:
        return {}
    try:
        data: dict = json.loads((build / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return data


def build_index(
    library: Library,
    index_dir: Path,
    embedders: dict[str, Embedder],
    progress: Callable[[int, int], None] | None = None,
    build_id: str | None = None,
) -> BuildReport:
    """Write a new build from ``library`` and point CURRENT at it; reuse what did not change.

    ``build_id`` names the build (a release id, so hosts that each build the same articles serve the same id);
    by default a new time-based one. A build of that name must not exist yet.
    """
    started = time.perf_counter()
    index_dir.mkdir(parents=True, exist_ok=True)
    previous = current_build(index_dir)
    old = read_manifest(previous)
    if old.get("format") != FORMAT:
        previous, old = None, {}
    old_hashes: dict[str, str] = old.get("articles", {})
    articles = {a.id: a for a in library}
    report = BuildReport(build_id=build_id or time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6])
    report.added = sorted(i for i in articles if i not in old_hashes)
    report.changed = sorted(i for i in articles if i in old_hashes and old_hashes[i] != articles[i].content_hash)
    report.removed = sorted(i for i in old_hashes if i not in articles)
    report.unchanged = len(articles) - len(report.added) - len(report.changed)
    dirty = set(report.added) | set(report.changed)

    build = index_dir / "builds" / report.build_id
    build.mkdir(parents=True)
    locales = sorted({a.locale for a in articles.values()})
    for locale in locales:
        prev_kw = previous / "keyword" / locale if previous is not None else None
        fresh = prev_kw is None or not prev_kw.exists()
        todo = [a for a in articles.values() if a.locale == locale and (fresh or a.id in dirty)]
        gone = [] if fresh else [i for i in report.removed if i.startswith(f"{locale}/")]
        write_index(build / "keyword" / locale, locale, todo, gone, None if fresh else prev_kw)

    old_chunks = _old_chunks(previous)
    kept: dict[str, list[Chunk]] = {}
    for c in old_chunks:
        if c.article_id in articles and c.article_id not in dirty:
            kept.setdefault(c.article_id, []).append(c)
    chunks = [c for a in library for c in (kept.get(a.id) or chunk_article(a))]
    report.chunks_total = len(chunks)
    models = {}
    for key, embedder in embedders.items():
        reuse = previous is not None and old.get("models", {}).get(key) == embedder.name
        used = partial(reads, key)
        earlier = (previous, old_chunks) if reuse and previous is not None else None
        vectors, embedded = _embed(chunks, embedder, used, earlier, key, dirty, progress)
        _save_vectors(build, key, vectors, chunks, previous if reuse and not embedded else None, old_chunks)
        report.chunks_embedded += embedded
        models[key] = embedder.name
    report.model = ", ".join(models.values())
    (build / "chunks.json").write_text(
        json.dumps(
            [{"id": c.article_id, "anchor": c.anchor, "heading": c.heading, "text": c.text} for c in chunks],
            ensure_ascii=False,
        )
    )
    manifest = {
        "format": FORMAT,
        "build_id": report.build_id,
        "models": models,
        "locales": locales,
        "articles": {i: a.content_hash for i, a in articles.items()},
        "created": time.time(),
    }
    (build / "manifest.json").write_text(json.dumps(manifest, indent=1))
    pointer = index_dir / "CURRENT.tmp"
    pointer.write_text(report.build_id)
    os.replace(pointer, index_dir / "CURRENT")
    _prune(index_dir, keep=report.build_id)
    report.seconds = time.perf_counter() - started
    return report


def _old_chunks(previous: Path | None) -> list[Chunk]:
    """The previous build's passages (an unchanged article's are taken as they are, not cut again)."""
    if previous is None:
        return []
    try:
        saved = json.loads((previous / "chunks.json").read_text())
    except (OSError, ValueError):
        return []
    return [Chunk(c["id"], c["anchor"], c["heading"], c["text"]) for c in saved]


def _embed(
    chunks: list[Chunk],
    embedder: Embedder,
    used: Callable[[str], bool],
    earlier: tuple[Path, list[Chunk]] | None,
    key: str,
    dirty: set[str],
    progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, int]:
    """Vectors for every chunk of a locale the model is ``used`` for (zero rows elsewhere): reused by text
    from the ``earlier`` build (its folder and passages) where the article is unchanged."""
    known: dict[tuple[str, str], int] = {}
    old_vectors = np.zeros((0, embedder.dim), dtype=np.float16)
    if earlier is not None:
        previous, old_chunks = earlier
        try:
            old_vectors = np.asarray(load_vectors(previous / f"vectors-{key}.npy"))
            old_rows = np.asarray(load_row_map(previous / f"vectors-{key}.npy")).tolist()
            known = {(c.article_id, c.text): old_rows[i] for i, c in enumerate(old_chunks)}
        except (OSError, ValueError, IndexError):
            known = {}
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    todo, reused, reused_from = [], [], []
    for i, chunk in enumerate(chunks):
        if not used(chunk.article_id.split("/", 1)[0]):
            continue  # never read (an English-only model's French rows): left zero
        found = None if chunk.article_id in dirty else known.get((chunk.article_id, chunk.text))
        if found is None:
            todo.append(i)
        else:
            reused.append(i)
            reused_from.append(found)
    if reused:
        vectors[reused] = old_vectors[reused_from]
    # Passages of like length share a batch: a batch is padded to its longest, and mixed lengths
    # more than doubled the model's time on the demo articles.
    todo.sort(key=lambda i: len(chunks[i].text))
    batch = 64
    for start in range(0, len(todo), batch):
        rows = todo[start : start + batch]
        vectors[rows] = embedder.encode([chunks[i].text for i in rows], batch_size=32)
        if progress is not None:
            progress(min(start + batch, len(todo)), len(todo))
    return vectors, len(todo)


def _save_vectors(
    build: Path, key: str, vectors: np.ndarray, chunks: list[Chunk], previous: Path | None, old_chunks: list[Chunk]
) -> None:
    """Write the float16 vectors and the HNSW graphs of model ``key``; link the previous build's files
    instead when its passages are the same (nothing to rewrite, no graph to rebuild)."""
    target = build / f"vectors-{key}.npy"
    if previous is not None and old_chunks == chunks:
        files = [previous / f"vectors-{key}.npy", rows_path(previous / f"vectors-{key}.npy")]
        files += previous.glob(f"ann-{key}-*")
        try:
            for old in files:
                os.link(old, build / old.name)
            return
        except OSError:  # a file system without hard links: write them again
            for old in files:
                (build / old.name).unlink(missing_ok=True)
    of_row = save_vectors(target, vectors)
    write_anns(build, key, vectors, [c.article_id for c in chunks], of_row=of_row)


def _prune(index_dir: Path, keep: str) -> None:
    """Remove old builds, keeping a few so processes still reading them can finish their requests."""
    builds = sorted((p for p in (index_dir / "builds").iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in builds[:-KEEP_BUILDS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
