"""Passage vectors: float16 on disk, memory-mapped so every worker shares one copy, and for large locales
an HNSW graph (usearch) that finds the nearest passages without scoring them all.

Exact cosines are always computed for the articles a query needs (the graph only chooses them): from float16
rows by SIMD kernels that read half floats directly, since numpy's conversion to float32 cost more than the rest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import simsimd

from kb.search.semantic import reads

APPROXIMATE_ABOVE = 10_000  # passages per locale and model; below this a full float32 scan takes a millisecond
CONNECTIVITY = 32  # 16 missed lone short passages ("Pro"): recall of the exact top 50, 0.9974 -> 0.9996 (MiniLM)
EXPANSION_ADD = 256
EXPANSION_SEARCH = 256
RESCORE = 2  # articles scored exactly per article wanted from the graph
FOUND_PER_ARTICLE = 4  # distinct passages asked of the graph per article wanted (2 fell to 0.978 off-topic)


def save_vectors(path: Path, vectors: np.ndarray) -> None:
    """Write ``vectors`` as float16, atomically: a reader never maps a half-written file."""
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, np.asarray(vectors, dtype=np.float16))
    tmp.replace(path)


def load_vectors(path: Path) -> np.ndarray:
    """Map the vectors file read-only: the pages live once in the page cache for every process."""
    return np.load(path, mmap_mode="r")


def write_ann(path: Path, vectors: np.ndarray, article_ids: list[str]) -> None:
    """Build the HNSW graph over the distinct passage vectors and save it to ``path``, with the articles
    that hold each vector beside it (``owners_path``).

    A vector that many articles share (boilerplate sections, articles written from one template) is one
    node: as many identical nodes crowded each other out of the graph's neighbour lists, and a search
    through them missed whole articles (recall of the exact top 50 fell to 0.28 on some questions).
    """
    half = np.ascontiguousarray(vectors, dtype=np.float16)
    as_bytes = half.view(np.dtype((np.void, half.shape[1] * half.itemsize))).ravel()
    _, first, inverse = np.unique(as_bytes, return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(len(first) + 1))
    owners = article_positions(article_ids)[order]
    Index = _usearch_index()
    ann = Index(
        ndim=half.shape[1],
        metric="ip",
        dtype="f16",
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )
    ann.add(np.arange(len(first), dtype=np.uint64), half[first])
    tmp_owners = owners_path(path).with_name(owners_path(path).name + ".tmp.npz")
    np.savez(tmp_owners, starts=starts.astype(np.int64), owners=owners.astype(np.int64))
    tmp_owners.replace(owners_path(path))
    tmp = path.with_name(path.name + ".tmp")
    ann.save(str(tmp))
    tmp.replace(path)


def owners_path(path: Path) -> Path:
    return path.with_suffix(".owners.npz")


@dataclass
class PassageGraph:
    """An HNSW graph over distinct passage vectors, and which articles hold each of them."""

    graph: Any
    starts: np.ndarray  # the owners of vector k are owners[starts[k] : starts[k + 1]]
    owners: np.ndarray

    def nearest_articles(self, query: np.ndarray, count: int) -> list[int]:
        """The positions of the articles holding the ``count`` nearest vectors, nearest first."""
        keys = np.asarray(self.graph.search(np.asarray(query, dtype=np.float16), count).keys, dtype=np.int64)
        firsts, lengths = self.starts[keys], self.starts[keys + 1] - self.starts[keys]
        offsets = np.cumsum(lengths) - lengths
        found = self.owners[np.repeat(firsts - offsets, lengths) + np.arange(int(lengths.sum()))]
        _, first_seen = np.unique(found, return_index=True)
        return found[np.sort(first_seen)].tolist()

    def __len__(self) -> int:
        return int(len(self.graph))


def open_ann(path: Path) -> PassageGraph | None:
    """Map a saved HNSW graph read-only, with its owners (None when there is none)."""
    if not path.exists() or not owners_path(path).exists():
        return None
    with np.load(owners_path(path)) as saved:
        starts, owners = saved["starts"], saved["owners"]
    graph = _usearch_index().restore(str(path), view=True, expansion_search=EXPANSION_SEARCH)
    return PassageGraph(graph, starts, owners)


def _usearch_index() -> Any:
    """The usearch ``Index`` class, imported after onnxruntime: the other order crashes the process
    when onnxruntime is imported later (usearch 2.26 with onnxruntime 1.32, seen on Linux x86-64)."""
    with contextlib.suppress(ImportError):
        import onnxruntime  # noqa: F401
    from usearch.index import Index

    return Index


def article_positions(article_ids: list[str]) -> np.ndarray:
    """For each row, the position of its article among the articles in order of first appearance."""
    changes = [i > 0 and article_ids[i] != article_ids[i - 1] for i in range(len(article_ids))]
    return np.cumsum(np.asarray(changes, dtype=np.int64))


@dataclass
class VectorIndex:
    """Unit vectors of every passage of one locale, one row per chunk; an article's passages are adjacent rows.

    ``vectors`` may be a float16 memory map; ``ann`` an HNSW graph over the same rows, used instead of a
    full scan when given.
    """

    vectors: np.ndarray  # shape (n, dim)
    article_ids: list[str]
    anchors: list[str]
    headings: list[str]
    ann: PassageGraph | None = None
    dense: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        starts = [i for i in range(len(self.article_ids)) if i == 0 or self.article_ids[i] != self.article_ids[i - 1]]
        self.starts = np.asarray(starts, dtype=np.int64)
        self.ends = np.append(self.starts[1:], len(self.article_ids)).astype(np.int64)
        self.articles = [self.article_ids[i] for i in starts]
        self.position = {a: i for i, a in enumerate(self.articles)}
        if len(self.position) != len(self.articles):
            raise ValueError("passages of one article must be adjacent rows")
        # The memory map's pages, as a plain array: indexing a ``memmap`` object costs more than the rows.
        self.vectors = np.asarray(self.vectors)
        # A small locale is scanned whole: keep it as float32 (BLAS has no float16 product).
        self.dense = np.asarray(self.vectors, dtype=np.float32) if self.ann is None else np.zeros((0, 0), np.float32)

    def best_per_article(self, query: np.ndarray) -> np.ndarray:
        """The best passage cosine of every article, in ``self.articles`` order (a full scan)."""
        if len(self.article_ids) == 0:
            return np.zeros(0, dtype=np.float32)
        return np.maximum.reduceat(self._dot(self.scored, query), self.starts)

    def best_row(self, article_id: str, query: np.ndarray) -> int:
        """The row of ``article_id``'s passage nearest to ``query``."""
        i = self.position[article_id]
        start, end = int(self.starts[i]), int(self.ends[i])
        return start + int(np.argmax(self._dot(self.scored[start:end], query)))

    def best_of(self, positions: np.ndarray, query: np.ndarray) -> np.ndarray:
        """The exact best passage cosine of the articles at ``positions`` (their rows only)."""
        if len(positions) == 0:
            return np.zeros(0, dtype=np.float32)
        starts, ends = self.starts[positions], self.ends[positions]
        lengths = ends - starts
        offsets = np.cumsum(lengths) - lengths
        rows = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
        return np.maximum.reduceat(self._dot(self.scored[rows], query), offsets)

    def top(self, best: np.ndarray, limit: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``limit`` best articles by their best passage, optionally only among ``allowed``."""
        if allowed is not None:
            keep = np.array([a in allowed for a in self.articles], dtype=bool)
            best = np.where(keep, best, -np.inf)
        n = len(best)
        if n == 0:
            return []
        k = min(n, limit)
        top = np.argpartition(-best, k - 1)[:k] if k < n else np.arange(n)
        order = top[np.argsort(-best[top], kind="stable")]
        order = order[np.isfinite(best[order])]
        return list(zip([self.articles[i] for i in order.tolist()], best[order].tolist(), strict=True))

    def scores(self, query: np.ndarray) -> PassageScores:
        """Scores of this locale's articles for one query, computed only as far as they are asked for."""
        return PassageScores(self, query)

    @property
    def scored(self) -> np.ndarray:
        """The rows cosines are computed from: the float32 copy of a small locale, else the float16 map."""
        return self.dense if self.ann is None else self.vectors

    @staticmethod
    def _dot(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
        """``matrix @ query`` as float32: BLAS for the float32 rows of a small locale; simsimd for float16 rows,
        which reads them as they are (5.2 -> 0.56 ms for 100 articles of 34 passages, bench/README.md).

        The query is rounded to float16 on both paths (as simsimd needs), so a locale scores the same
        whichever path serves it.
        """
        half = np.asarray(query, dtype=np.float16)
        if matrix.dtype == np.float32:
            return matrix @ half.astype(np.float32)
        if len(matrix) == 0:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(simsimd.cdist(half[None], matrix, metric="dot"), dtype=np.float32)[0]


class PassageScores:
    """One query against one ``VectorIndex``: its nearest articles and the exact score of any article.

    Without a graph the whole locale is scored once; with one, the graph proposes articles and only
    their rows are scored.
    """

    def __init__(self, index: VectorIndex, query: np.ndarray) -> None:
        self.index = index
        self.query = np.asarray(query, dtype=np.float32)
        self.full = index.best_per_article(self.query) if index.ann is None else None
        self.known: dict[int, float] = {}

    def top(self, limit: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``limit`` articles with the nearest passages, best first, optionally only among ``allowed``."""
        index = self.index
        graph = index.ann
        if graph is None:  # no graph: the whole locale was scored when this was made
            assert self.full is not None
            return index.top(self.full, limit, allowed)
        if allowed is not None:
            positions = [index.position[a] for a in allowed if a in index.position]
            rows = int(np.sum(index.ends[positions] - index.starts[positions])) if positions else 0
            if rows <= APPROXIMATE_ABOVE:  # a small category: score all of it exactly
                scored = self.of([index.articles[p] for p in positions])
                return sorted(scored.items(), key=lambda item: (-item[1], index.position[item[0]]))[:limit]
        n = len(graph)
        wanted = min(limit * RESCORE, len(index.articles))
        count = min(n, wanted * FOUND_PER_ARTICLE)
        while True:  # widen until enough of the nearest articles are allowed (the graph may return fewer)
            positions = graph.nearest_articles(self.query, count)  # nearest first, at its best passage
            if allowed is not None:
                positions = [p for p in positions if index.articles[p] in allowed]
            if len(positions) >= (wanted if allowed is None else limit) or count >= n:
                break
            count = min(n, count * 2)
        # The graph's order is exact for the passages it found; rescoring a margin beyond ``limit`` lets an
        # article whose best passage it missed still take its place.
        exact = self.of([index.articles[p] for p in positions[: limit * RESCORE]])
        return sorted(exact.items(), key=lambda item: (-item[1], index.position[item[0]]))[:limit]

    def of(self, article_ids: Iterable[str]) -> dict[str, float]:
        """The exact best passage cosine of each of ``article_ids`` that this locale holds."""
        index = self.index
        positions = [index.position[a] for a in article_ids if a in index.position]
        if self.full is not None:
            return {index.articles[p]: float(self.full[p]) for p in positions}
        todo = np.asarray([p for p in dict.fromkeys(positions) if p not in self.known], dtype=np.int64)
        if len(todo):
            self.known.update(zip(todo.tolist(), index.best_of(todo, self.query).tolist(), strict=True))
        return {index.articles[p]: self.known[p] for p in positions}


def locale_rows(article_ids: list[str]) -> dict[str, list[int]]:
    """The rows of each locale (the part of the article id before the first slash), in row order."""
    by_locale: dict[str, list[int]] = {}
    for row, article_id in enumerate(article_ids):
        by_locale.setdefault(article_id.split("/")[0], []).append(row)
    return by_locale


def ann_path(build: Path, key: str, locale: str) -> Path:
    return build / f"ann-{key}-{locale}.usearch"


def write_anns(
    build: Path, key: str, vectors: np.ndarray, article_ids: list[str], above: int = APPROXIMATE_ABOVE
) -> None:
    """Write the HNSW graph of every locale with more than ``above`` passages that model ``key`` reads."""
    for locale, rows in locale_rows(article_ids).items():
        if len(rows) > above and reads(key, locale):
            write_ann(ann_path(build, key, locale), take_rows(vectors, rows), [article_ids[r] for r in rows])


def take_rows(matrix: np.ndarray, rows: list[int]) -> np.ndarray:
    """The ``rows`` of ``matrix``: a view (of the memory map) when they are one run, else a copy."""
    if rows and rows[-1] - rows[0] + 1 == len(rows):
        return matrix[rows[0] : rows[-1] + 1]
    return matrix[rows]
