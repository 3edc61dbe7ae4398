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

# Distinct vectors per locale and model above which a query goes through an HNSW graph. Below, a scan of
# every distinct vector is exact and faster: at 10,655 / 21,388 of them 0.9 / 3.3 ms against the graph's
# 3.8 / 4.9 ms with its rescoring (MiniLM, bench/README.md); the graph's time barely grows, the scan's does.
GRAPH_ABOVE = 30_000
APPROXIMATE_ABOVE = 10_000  # passages of a category below which a filtered query scores all of them exactly
# Rows up to which every article's best passage is gathered from the scan at once, as a small locale needs
# most of them anyway (other languages, levelled translations); above, the nearest are read off the vectors.
GATHER_UP_TO = 20_000
CONNECTIVITY = 32  # 16 missed lone short passages ("Pro"): recall of the exact top 50, 0.9974 -> 0.9996 (MiniLM)
EXPANSION_ADD = 256
EXPANSION_SEARCH = 256
RESCORE = 2  # articles scored exactly per article wanted from the graph
FOUND_PER_ARTICLE = 4  # distinct passages asked of the graph per article wanted (2 fell to 0.978 off-topic)


def save_vectors(path: Path, distinct: np.ndarray, of_row: np.ndarray) -> None:
    """Write the ``distinct`` vectors (float16) and, beside them (``rows_path``), the vector of every
    passage row; atomically: a reader never maps a half-written file.

    Passages repeat word for word (boilerplate sections, articles written from one template): a repeated
    vector is stored, paged in and scored once.
    """
    tmp_rows = rows_path(path).with_name(rows_path(path).name + ".tmp.npy")
    np.save(tmp_rows, np.asarray(of_row, dtype=np.int32))
    tmp_rows.replace(rows_path(path))
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, np.ascontiguousarray(distinct, dtype=np.float16))
    tmp.replace(path)


def distinct_vectors(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct vector of ``vectors`` once, as float16, and for each row its position among them."""
    half = np.ascontiguousarray(vectors, dtype=np.float16)
    first, of_row = distinct_rows(half)
    return half[first], of_row


def rows_path(path: Path) -> Path:
    return path.with_suffix(".rows.npy")


def load_vectors(path: Path) -> np.ndarray:
    """Map the distinct vectors read-only: the pages live once in the page cache for every process."""
    return np.load(path, mmap_mode="r")


def load_row_map(path: Path, rows: int | None = None) -> np.ndarray:
    """For each passage row, its vector's position in ``load_vectors(path)`` (memory-mapped); a file saved
    without the map holds one vector per row."""
    if rows_path(path).exists():
        return np.load(rows_path(path), mmap_mode="r")
    return np.arange(len(load_vectors(path)) if rows is None else rows, dtype=np.int32)


def read_rows(path: Path) -> np.ndarray:
    """Every passage row's vector, one row per passage: a copy, for checks and tools."""
    return np.asarray(load_vectors(path)[np.asarray(load_row_map(path))])


def distinct_rows(half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first row of each distinct vector in ``half`` (float16), and for each row its distinct vector's
    position among those, by exact bits."""
    if len(half) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    as_bytes = np.ascontiguousarray(half).view(np.dtype((np.void, half.shape[1] * half.itemsize))).ravel()
    _, first, inverse = np.unique(as_bytes, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def write_ann(path: Path, vectors: np.ndarray, article_ids: list[str]) -> None:
    """Build the HNSW graph over the distinct passage vectors and save it to ``path``, with the articles
    that hold each vector beside it (``owners_path``).

    A vector that many articles share (boilerplate sections, articles written from one template) is one
    node: as many identical nodes crowded each other out of the graph's neighbour lists, and a search
    through them missed whole articles (recall of the exact top 50 fell to 0.28 on some questions).
    """
    half = np.ascontiguousarray(vectors, dtype=np.float16)
    first, inverse = distinct_rows(half)
    held = Owners.of_rows(inverse, article_positions(article_ids), len(first))
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
    np.savez(tmp_owners, starts=held.starts.astype(np.int64), owners=held.owners.astype(np.int64))
    tmp_owners.replace(owners_path(path))
    tmp = path.with_name(path.name + ".tmp")
    ann.save(str(tmp))
    tmp.replace(path)


def owners_path(path: Path) -> Path:
    return path.with_suffix(".owners.npz")


@dataclass
class Owners:
    """Which articles hold each distinct vector: those of vector k are ``owners[starts[k] : starts[k + 1]]``."""

    starts: np.ndarray
    owners: np.ndarray  # article positions

    @classmethod
    def of_rows(cls, vector_of_row: np.ndarray, article_of_row: np.ndarray, vectors: int) -> Owners:
        order = np.argsort(vector_of_row, kind="stable")
        return cls(np.searchsorted(vector_of_row[order], np.arange(vectors + 1)), article_of_row[order])

    def first_seen(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The articles holding the vectors ``keys`` (nearest first), each once in order of first appearance;
        and for each, the position in ``keys`` of the vector it was first met at."""
        firsts, lengths = self.starts[keys], self.starts[keys + 1] - self.starts[keys]
        offsets = np.cumsum(lengths) - lengths
        found = self.owners[np.repeat(firsts - offsets, lengths) + np.arange(int(lengths.sum()))]
        _, first = np.unique(found, return_index=True)
        first = np.sort(first)
        return found[first], np.repeat(np.arange(len(keys)), lengths)[first]


@dataclass
class PassageGraph:
    """An HNSW graph over distinct passage vectors, and which articles hold each of them."""

    graph: Any
    held: Owners

    def nearest_articles(self, query: np.ndarray, count: int) -> list[int]:
        """The positions of the articles holding the ``count`` nearest vectors, nearest first."""
        keys = np.asarray(self.graph.search(np.asarray(query, dtype=np.float16), count).keys, dtype=np.int64)
        return self.held.first_seen(keys)[0].tolist()

    def __len__(self) -> int:
        return int(len(self.graph))


def open_ann(path: Path) -> PassageGraph | None:
    """Map a saved HNSW graph read-only, with its owners (None when there is none)."""
    if not path.exists() or not owners_path(path).exists():
        return None
    with np.load(owners_path(path)) as saved:
        starts, owners = saved["starts"], saved["owners"]
    graph = _usearch_index().restore(str(path), view=True, expansion_search=EXPANSION_SEARCH)
    return PassageGraph(graph, Owners(starts, owners))


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

    ``vectors`` may be a float16 memory map of distinct vectors, ``of_row`` the vector of each row (rows that
    repeat a passage share one); without it each row is its own vector. ``ann`` is an HNSW graph over the
    same passages, used instead of a full scan when given.

    Without a graph the locale is scanned whole: a small one row by row; a larger one each distinct vector
    once, its nearest articles read off the vectors in order of cosine (an article's best passage is the
    first of its vectors met, so the scan is exact and nothing is scored twice).
    """

    vectors: np.ndarray  # shape (distinct, dim)
    article_ids: list[str]
    anchors: list[str]
    headings: list[str]
    ann: PassageGraph | None = None
    of_row: np.ndarray | None = None  # shape (n,): row -> position in ``vectors``
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
        if self.of_row is not None:
            self.of_row = np.asarray(self.of_row)
        self.dense = np.zeros((0, 0), np.float32)
        # Scanned whole, as float32 (BLAS has no float16 product): a small locale row by row, as its articles'
        # best passages are all gathered at once; a large one each distinct vector once.
        self.per_row = self.ann is None and len(self.article_ids) <= GATHER_UP_TO
        if self.per_row:
            self.dense = np.asarray(self.vectors if self.of_row is None else self.vectors[self.of_row], np.float32)
        elif self.ann is None:
            ids = self.of_row if self.of_row is not None else np.arange(len(self.article_ids))
            used, local = np.unique(ids, return_inverse=True)
            self.dense = np.asarray(self.vectors[used], dtype=np.float32)
            self.local_of_row = local.ravel()
            self.held = Owners.of_rows(self.local_of_row, article_positions(self.article_ids), len(used))

    def scan(self, query: np.ndarray) -> np.ndarray:
        """The cosine of each row of a small locale, or of each distinct vector of a larger one without a graph."""
        return self._dot(self.dense, query)

    def best_per_article(self, query: np.ndarray) -> np.ndarray:
        """The best passage cosine of every article, in ``self.articles`` order (a full scan)."""
        if len(self.article_ids) == 0:
            return np.zeros(0, dtype=np.float32)
        if self.ann is None:
            return self.best_from(self.scan(query))
        return np.maximum.reduceat(self._row_scores(np.arange(len(self.article_ids)), query), self.starts)

    def best_from(self, scanned: np.ndarray) -> np.ndarray:
        """Every article's best passage cosine, from ``scan``'s cosines."""
        return np.maximum.reduceat(scanned if self.per_row else scanned[self.local_of_row], self.starts)

    def best_row(self, article_id: str, query: np.ndarray) -> int:
        """The row of ``article_id``'s passage nearest to ``query``."""
        i = self.position[article_id]
        start, end = int(self.starts[i]), int(self.ends[i])
        if self.per_row:
            return start + int(np.argmax(self._dot(self.dense[start:end], query)))
        return start + int(np.argmax(self._row_scores(np.arange(start, end), query)))

    def best_of(self, positions: np.ndarray, query: np.ndarray, scanned: np.ndarray | None = None) -> np.ndarray:
        """The exact best passage cosine of the articles at ``positions`` (their rows only), read from
        ``scan``'s cosines when given."""
        if len(positions) == 0:
            return np.zeros(0, dtype=np.float32)
        starts, ends = self.starts[positions], self.ends[positions]
        lengths = ends - starts
        offsets = np.cumsum(lengths) - lengths
        rows = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
        if scanned is not None:
            cosines = scanned[rows] if self.per_row else scanned[self.local_of_row[rows]]
        else:
            cosines = self._row_scores(rows, query)
        return np.maximum.reduceat(cosines, offsets)

    def _row_scores(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """The cosine of each of ``rows``: a vector that several rows share is computed once."""
        if self.per_row:
            return self._dot(self.dense[rows], query)
        if self.ann is None:
            return self._dot(self.dense[self.local_of_row[rows]], query)
        if self.of_row is None:
            return self._dot(self.vectors[rows], query)
        wanted, back = np.unique(self.of_row[rows], return_inverse=True)
        return self._dot(self.vectors[wanted], query)[back.ravel()]

    def nearest(self, scanned: np.ndarray, limit: int) -> list[tuple[str, float]]:
        """The ``limit`` articles with the nearest passages, best first (ties in article order), from ``scan``'s
        cosines: only the nearest vectors are sorted, widening until enough articles hold them."""
        n = len(scanned)
        if n == 0 or limit <= 0:
            return []
        count = min(n, limit)
        while True:
            keys = np.argpartition(-scanned, count - 1)[:count] if count < n else np.arange(n)
            keys = keys[np.argsort(-scanned[keys], kind="stable")]
            positions, at = self.held.first_seen(keys)
            if count >= n:
                break
            if len(positions) >= limit:  # every vector tied with the last article wanted, too
                tied = int(np.count_nonzero(scanned >= scanned[keys[at[limit - 1]]]))
                if tied <= count:
                    break
                count = tied
            else:
                count = min(n, count * 2)
        cosines = scanned[keys[at]]
        order = np.lexsort((positions, -cosines))[:limit]
        return list(zip([self.articles[i] for i in positions[order].tolist()], cosines[order].tolist(), strict=True))

    def top(self, best: np.ndarray, limit: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``limit`` best articles by their best passage, optionally only among ``allowed``."""
        if allowed is not None:
            keep = np.array([a in allowed for a in self.articles], dtype=bool)
            best = np.where(keep, best, -np.inf)
        n = len(best)
        if n == 0:
            return []
        k = min(n, limit)
        top = np.arange(n)
        if k < n:  # the k best, and every article tied with the last of them
            top = np.flatnonzero(best >= best[np.argpartition(-best, k - 1)[:k]].min())
        order = top[np.lexsort((top, -best[top]))][:k]  # ties in article order, as every other path ranks them
        order = order[np.isfinite(best[order])]
        return list(zip([self.articles[i] for i in order.tolist()], best[order].tolist(), strict=True))

    def scores(self, query: np.ndarray) -> PassageScores:
        """Scores of this locale's articles for one query, computed only as far as they are asked for."""
        return PassageScores(self, query)

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

    Without a graph each distinct vector of the locale is scored once; with one, the graph proposes
    articles and only their rows are scored.
    """

    def __init__(self, index: VectorIndex, query: np.ndarray) -> None:
        self.index = index
        self.query = np.asarray(query, dtype=np.float32)
        self.scanned = index.scan(self.query) if index.ann is None else None
        self.full = index.best_from(self.scanned) if index.per_row and self.scanned is not None else None
        self.known: dict[int, float] = {}

    def top(self, limit: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``limit`` articles with the nearest passages, best first, optionally only among ``allowed``."""
        index = self.index
        graph = index.ann
        if graph is None:  # no graph: every distinct vector was scored when this was made
            assert self.scanned is not None
            if self.full is not None:
                return index.top(self.full, limit, allowed)
            if allowed is None:
                return index.nearest(self.scanned, limit)
            return index.top(index.best_from(self.scanned), limit, allowed)
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
            found = index.best_of(todo, self.query, self.scanned)
            self.known.update(zip(todo.tolist(), found.tolist(), strict=True))
        return {index.articles[p]: self.known[p] for p in positions}


def locale_rows(article_ids: list[str]) -> dict[str, list[int]]:
    """The rows of each locale (the part of the article id before the first slash), in row order."""
    by_locale: dict[str, list[int]] = {}
    locale_of: dict[str, list[int]] = {}  # an article's rows follow one another: split its id once
    for row, article_id in enumerate(article_ids):
        rows = locale_of.get(article_id)
        if rows is None:
            rows = locale_of[article_id] = by_locale.setdefault(article_id.split("/")[0], [])
        rows.append(row)
    return by_locale


def ann_path(build: Path, key: str, locale: str) -> Path:
    return build / f"ann-{key}-{locale}.usearch"


def write_anns(
    build: Path,
    key: str,
    distinct: np.ndarray,
    of_row: np.ndarray,
    article_ids: list[str],
    above: int = GRAPH_ABOVE,
    by_locale: dict[str, list[int]] | None = None,
) -> None:
    """Write the HNSW graph of every locale that model ``key`` reads with more than ``above`` distinct vectors
    (``distinct`` and ``of_row`` as ``save_vectors`` writes them; ``by_locale``: ``locale_rows(article_ids)``,
    when the caller has it already)."""
    for locale, rows in (by_locale if by_locale is not None else locale_rows(article_ids)).items():
        if len(rows) <= above or not reads(key, locale):
            continue
        mine = take_rows(of_row, rows)
        if len(np.unique(mine)) > above:
            write_ann(ann_path(build, key, locale), distinct[mine], [article_ids[r] for r in rows])


def take_rows(matrix: np.ndarray, rows: list[int]) -> np.ndarray:
    """The ``rows`` of ``matrix``: a view (of the memory map) when they are one run, else a copy."""
    if rows and rows[-1] - rows[0] + 1 == len(rows):
        return matrix[rows[0] : rows[-1] + 1]
    return matrix[rows]
