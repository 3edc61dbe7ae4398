"""The HNSW graph (usearch) of a large locale: its nearest passages found without scoring them all.

Built at index time for a locale with more than ``GRAPH_ABOVE`` distinct vectors, memory-mapped at query
time; one node per distinct vector, with the articles that hold it beside the graph.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.search.semantic import reads
from kb.search.vector_store import Owners, article_positions, distinct_rows, locale_rows, take_rows

# Distinct vectors per locale and model above which a query goes through an HNSW graph. Below, a scan of
# every distinct vector is exact and faster: at 10,655 / 21,388 of them 0.9 / 3.3 ms against the graph's
# 3.8 / 4.9 ms with its rescoring (MiniLM, bench/README.md); the graph's time barely grows, the scan's does.
GRAPH_ABOVE = 30_000
CONNECTIVITY = 32  # 16 missed lone short passages ("Pro"): recall of the exact top 50, 0.9974 -> 0.9996 (MiniLM)
EXPANSION_ADD = 256
EXPANSION_SEARCH = 256


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
