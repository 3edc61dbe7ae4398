"""Passage vectors at query time: a locale's nearest articles and the exact score of any of its articles.

A small locale is scanned row by row in float32; a larger one each distinct vector once, through the int8
bounds of ``quantized`` above a few thousand; a large one goes through its HNSW graph (``passage_graph``).
Exact cosines are always computed for the articles a query needs (the graph and the bounds only choose them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import simsimd

from kb.search.passage_graph import PassageGraph
from kb.search.quantized import Quantized
from kb.search.vector_store import Owners

APPROXIMATE_ABOVE = 10_000  # passages of a category below which a filtered query scores all of them exactly
# Rows up to which every article's best passage is gathered from the scan at once, as a small locale needs
# most of them anyway (other languages, levelled translations); above, the nearest are read off the vectors.
GATHER_UP_TO = 20_000
# Distinct vectors above which a locale without a graph keeps an int8 copy whose bounds choose the vectors to
# score exactly (``quantized``); below, the float32 scan is cheap.
BOUNDED_ABOVE = 4_096
BOUNDED_FIRST = 256  # vectors scored exactly at first (at most 44 were needed at 10,000 articles); then 4 x more
RESCORE = 2  # articles scored exactly per article wanted from the graph
FOUND_PER_ARTICLE = 4  # distinct passages asked of the graph per article wanted (2 fell to 0.978 off-topic)


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
    coarse: Quantized | None = field(init=False, repr=False, default=None)

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
            article_of_row = np.repeat(np.arange(len(self.starts)), self.ends - self.starts)  # from the runs
            self.held = Owners.of_rows(self.local_of_row, article_of_row, len(used))
            self.coarse = Quantized.of(self.dense) if len(self.dense) > BOUNDED_ABOVE else None

    def scan(self, query: np.ndarray) -> np.ndarray:
        """The cosine of each row of a small locale, or of each distinct vector of a larger one without a graph."""
        return self._dot(self.dense, query) if self.per_row else self._dot(self.dense, query, by_row=True)

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

    def best_of(
        self,
        positions: np.ndarray,
        query: np.ndarray,
        scanned: np.ndarray | None = None,
        bounds: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The exact best passage cosine of the articles at ``positions`` (their rows only), read from
        ``scan``'s cosines when given; with the int8 ``bounds`` of every distinct vector, only the vectors
        that may be their article's best are scored. With it, the row of each article's best passage (its
        first, on a tie) where the rows were scored as ``best_row`` scores them (not read from a scan, which
        rounds a row by its place), else None."""
        if len(positions) == 0:
            return np.zeros(0, dtype=np.float32), None
        starts, ends = self.starts[positions], self.ends[positions]
        lengths = ends - starts
        offsets = np.cumsum(lengths) - lengths
        rows = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
        if scanned is not None:
            cosines = scanned[rows] if self.per_row else scanned[self.local_of_row[rows]]
        elif bounds is not None and not self.per_row and self.ann is None:
            # An article's best vector is at least the largest lower bound among its vectors: a vector whose
            # upper bound is below that is not its best. Gathering every row was 3.4 ms a search at 10,000
            # articles (7,400 rows); the few that may be best are a fraction of it.
            upper, lower = bounds
            local = self.local_of_row[rows]
            floor = np.repeat(np.maximum.reduceat(lower[local], offsets), lengths)
            maybe = upper[local] >= floor
            cosines = np.full(len(rows), -np.inf, dtype=np.float32)
            cosines[maybe] = self._row_scores(rows[maybe], query)
        else:
            cosines = self._row_scores(rows, query)
        best = np.maximum.reduceat(cosines, offsets)
        if scanned is not None or self.per_row or (self.ann is not None and self.vectors.dtype == np.float32):
            return best, None  # BLAS: a row's cosine depends on the rows scored with it
        at_best = np.flatnonzero(cosines == np.repeat(best, lengths))
        return best, rows[at_best[np.searchsorted(at_best, offsets)]]

    def _row_scores(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """The cosine of each of ``rows``: a vector that several rows share is computed once."""
        if self.per_row:
            return self._dot(self.dense[rows], query)
        if self.ann is None:
            # Each distinct vector once: 7,400 rows of 180 articles held 1,300 at 10,000 articles.
            wanted, back = np.unique(self.local_of_row[rows], return_inverse=True)
            return self._dot(self.dense[wanted], query, by_row=True)[back.ravel()]
        if self.of_row is None:
            return self._dot(self.vectors[rows], query)
        wanted, back = np.unique(self.of_row[rows], return_inverse=True)
        return self._dot(self.vectors[wanted], query)[back.ravel()]

    def nearest(self, scanned: np.ndarray, limit: int) -> list[tuple[str, float]]:
        """The ``limit`` articles with the nearest passages, best first (ties in article order), from ``scan``'s
        cosines: only the nearest vectors are sorted, widening until enough articles hold them."""
        return self._walk(scanned, None, limit)[0]

    def bounds(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Upper and lower bounds of every distinct vector's cosine with ``query``, from the int8 copy."""
        assert self.coarse is not None
        return self.coarse.bounds(np.asarray(query, dtype=np.float16).astype(np.float32))

    def nearest_bounded(
        self, query: np.ndarray, limit: int, bounds: tuple[np.ndarray, np.ndarray] | None = None
    ) -> list[tuple[str, float]]:
        """What ``nearest(scan(query), limit)`` gives, scoring exactly only the vectors whose int8 bound reaches
        the last article found: any other is farther than every vector the walk used."""
        upper = (bounds or self.bounds(query))[0]
        n = len(upper)
        count = min(n, max(BOUNDED_FIRST, limit * 8))
        while count < n:
            split = np.argpartition(-upper, count)
            chosen = np.sort(split[:count])  # in order: the rows are gathered from memory faster
            found, reached = self._walk(self._dot(self.dense[chosen], query, by_row=True), chosen, limit)
            if reached is not None and upper[split[count]] < reached:
                return found
            count *= 4
        return self.nearest(self.scan(query), limit)

    def _walk(
        self, cosines: np.ndarray, ids: np.ndarray | None, limit: int
    ) -> tuple[list[tuple[str, float]], float | None]:
        """The nearest articles among vectors ``ids`` (all, in order, when None) of cosines ``cosines``, and the
        cosine of the last one (None when the vectors ran out first): every vector at or above it was used."""
        n = len(cosines)
        if n == 0 or limit <= 0:
            return [], None
        count = min(n, limit)
        while True:
            keys = np.argpartition(-cosines, count - 1)[:count] if count < n else np.arange(n)
            keys = keys[np.argsort(-cosines[keys], kind="stable")]
            positions, at = self.held.first_seen(keys if ids is None else ids[keys])
            if count >= n:
                break
            if len(positions) >= limit:  # every vector tied with the last article wanted, too
                tied = int(np.count_nonzero(cosines >= cosines[keys[at[limit - 1]]]))
                if tied <= count:
                    break
                count = tied
            else:
                count = min(n, count * 2)
        best = cosines[keys[at]]
        order = np.lexsort((positions, -best))[:limit]
        reached = float(best[order[-1]]) if len(positions) >= limit else None
        articles = [self.articles[i] for i in positions[order].tolist()]
        return list(zip(articles, best[order].tolist(), strict=True)), reached

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
    def _dot(matrix: np.ndarray, query: np.ndarray, by_row: bool = False) -> np.ndarray:
        """``matrix @ query`` as float32: BLAS for the float32 rows of a small locale; simsimd for float16 rows,
        which reads them as they are (5.2 -> 0.56 ms for 100 articles of 34 passages, bench/README.md), and
        for float32 rows ``by_row``: simsimd's result for a row does not depend on the rows beside it, so the
        vectors the int8 bounds choose score bit for bit as in a scan of all (BLAS rounds a row differently by
        its place in a block; 1.8 -> 2.7 ms for a whole scan of 21,400 vectors, which only a category's query
        still makes).

        The query is rounded to float16 on every path (as simsimd needs), so a locale scores the same
        whichever path serves it.
        """
        half = np.asarray(query, dtype=np.float16)
        if matrix.dtype == np.float32 and not by_row:
            return matrix @ half.astype(np.float32)
        if len(matrix) == 0:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(simsimd.cdist(half.astype(matrix.dtype)[None], matrix, metric="dot"), dtype=np.float32)[0]


class PassageScores:
    """One query against one ``VectorIndex``: its nearest articles and the exact score of any article.

    Without a graph each distinct vector of the locale is scored once; with one, the graph proposes
    articles and only their rows are scored.
    """

    def __init__(self, index: VectorIndex, query: np.ndarray) -> None:
        self.index = index
        self.query = np.asarray(query, dtype=np.float32)
        # Every distinct vector scored now, unless a graph or the int8 bounds choose which to score.
        self.scanned = index.scan(self.query) if index.ann is None and index.coarse is None else None
        self.full = index.best_from(self.scanned) if index.per_row and self.scanned is not None else None
        self.known: dict[int, float] = {}
        self.rows: dict[int, int] = {}  # position -> row of its best passage, where ``of`` found it
        self._bounds: tuple[np.ndarray, np.ndarray] | None = None

    def bounds(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The int8 bounds of every distinct vector, computed once for the nearest articles and every score."""
        if self._bounds is None and self.index.coarse is not None and self.scanned is None:
            self._bounds = self.index.bounds(self.query)
        return self._bounds

    def top(self, limit: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``limit`` articles with the nearest passages, best first, optionally only among ``allowed``."""
        index = self.index
        graph = index.ann
        if graph is None:  # no graph: every distinct vector is scored, or bounded
            if self.full is not None:
                return index.top(self.full, limit, allowed)
            if allowed is None and self.scanned is None:
                return index.nearest_bounded(self.query, limit, self.bounds())
            if self.scanned is None:  # a category: its articles' best passages, from a full scan
                self.scanned = index.scan(self.query)
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
            found, rows = index.best_of(todo, self.query, self.scanned, self.bounds())
            self.known.update(zip(todo.tolist(), found.tolist(), strict=True))
            if rows is not None:
                self.rows.update(zip(todo.tolist(), rows.tolist(), strict=True))
        return {index.articles[p]: self.known[p] for p in positions}

    def best_row(self, article_id: str) -> int:
        """``VectorIndex.best_row`` for this query: kept from ``of`` when it scored the article's rows."""
        row = self.rows.get(self.index.position[article_id])
        return self.index.best_row(article_id, self.query) if row is None else row
