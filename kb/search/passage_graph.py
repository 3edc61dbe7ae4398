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
from kb.search.vector_store import Owners, article_positions, locale_rows, take_rows

# Distinct vectors per locale and model above which a query goes through an HNSW graph. Below, a scan of
# every distinct vector is exact and faster: at 10,655 / 21,388 of them 0.9 / 3.3 ms against the graph's
# 3.8 / 4.9 ms with its rescoring (MiniLM, bench/README.md); the graph's time barely grows, the scan's does.
GRAPH_ABOVE = 30_000
REBUILD_SHARE = 0.1  # nodes removed since the graph's fresh build, as a share of its vectors, that rebuild it
CONNECTIVITY = 32  # 16 missed lone short passages ("Pro"): recall of the exact top 50, 0.9974 -> 0.9996 (MiniLM)
EXPANSION_ADD = 256
EXPANSION_SEARCH = 256


def write_graph(path: Path, nodes: np.ndarray, held: Owners, earlier: Path | None = None) -> None:
    """Save the graph over ``nodes`` (distinct vectors; ``held``: their articles) to ``path``.

    With ``earlier`` (the same locale's graph in the previous build), that graph is taken and changed: the
    nodes whose vectors are gone are removed and the new ones added, as an edit changes a few passages of
    tens of thousands (a fresh graph of 37,727 nodes took ~10 s per model). Its node keys then differ
    from the nodes' positions: ``keys`` beside the owners maps one to the other. After removals of a tenth
    of the nodes since its last fresh build, the graph is built afresh.
    """
    half = np.ascontiguousarray(nodes, dtype=np.float16)
    kept = _changed_graph(earlier, half) if earlier is not None else None
    if kept is None:
        ann = _new_index(half.shape[1])
        ann.add(np.arange(len(half), dtype=np.uint64), half)
        keys, removed = np.arange(len(half), dtype=np.int64), 0
    else:
        ann, keys, removed = kept
    tmp_owners = owners_path(path).with_name(owners_path(path).name + ".tmp.npz")
    np.savez(
        tmp_owners,
        starts=held.starts.astype(np.int64),
        owners=held.owners.astype(np.int64),
        keys=keys,
        removed=np.int64(removed),
    )
    tmp_owners.replace(owners_path(path))
    tmp = path.with_name(path.name + ".tmp")
    ann.save(str(tmp))
    tmp.replace(path)


def _changed_graph(earlier: Path, half: np.ndarray) -> tuple[Any, np.ndarray, int] | None:
    """The previous graph with the nodes of vectors no longer used removed and those of new vectors added;
    with the position of each node key's vector (-1: removed) and the removals since its fresh build. None
    when there is no such graph or it has had enough removals to be built afresh."""
    if not earlier.exists() or not owners_path(earlier).exists():
        return None
    with np.load(owners_path(earlier)) as saved:
        removed = int(saved["removed"]) if "removed" in saved else 0
    # Into memory (running workers keep mapping the old file), searched and added to as a fresh one is.
    ann = _usearch_index().restore(str(earlier), expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)
    if ann is None or ann.ndim != half.shape[1]:
        return None
    node_keys = np.asarray(ann.keys, dtype=np.int64)
    found = _positions_in(half, np.asarray(ann.get(node_keys.astype(np.uint64)), dtype=np.float16))
    gone = node_keys[found < 0]
    removed += len(gone)
    if removed > REBUILD_SHARE * len(half):
        return None
    if len(gone):
        ann.remove(gone.astype(np.uint64))
    placed = np.zeros(len(half), dtype=bool)
    placed[found[found >= 0]] = True
    new = np.flatnonzero(~placed)
    next_key = int(node_keys.max()) + 1 if len(node_keys) else 0
    keys = np.full(next_key + len(new), -1, dtype=np.int64)
    keys[node_keys[found >= 0]] = found[found >= 0]
    if len(new):
        ann.add(np.arange(next_key, next_key + len(new), dtype=np.uint64), half[new])
        keys[next_key:] = new
    return ann, keys, removed


def _positions_in(half: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each row of ``wanted``, the position of a row of ``half`` with the same bits, or -1.

    Matched by a 64-bit hash of each row, then compared whole: a dictionary of the rows' bytes would hold a
    copy of every vector (1.3 GB for a graph of 1.7 M passages).
    """
    first: dict[int, int] = {}
    for i, h in enumerate(_row_hashes(half).tolist()):
        first.setdefault(h, i)
    found = np.array([first.get(h, -1) for h in _row_hashes(wanted).tolist()], dtype=np.int64)
    hit = np.flatnonzero(found >= 0)
    same = np.all(half[found[hit]].view(np.uint16) == wanted[hit].view(np.uint16), axis=1)
    found[hit[~same]] = -1  # another vector with the same hash: not this one
    return found


def _row_hashes(half: np.ndarray, block: int = 16_384) -> np.ndarray:
    """A 64-bit hash of each float16 row's bits (sums of the bits times odd constants, wrapping)."""
    bits = np.ascontiguousarray(half, dtype=np.float16).view(np.uint16)
    factors = np.random.default_rng(7).integers(1, 2**62, size=bits.shape[1], dtype=np.uint64) * 2 + 1
    hashes = np.empty(len(bits), dtype=np.uint64)
    for start in range(0, len(bits), block):
        part = bits[start : start + block].astype(np.uint64)
        part ^= part >> np.uint64(7)  # spread each 16-bit word before mixing
        hashes[start : start + block] = (part * factors).sum(axis=1, dtype=np.uint64)
    return hashes


def _new_index(ndim: int) -> Any:
    return _usearch_index()(
        ndim=ndim,
        metric="ip",
        dtype="f16",
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


def owners_path(path: Path) -> Path:
    return path.with_suffix(".owners.npz")


@dataclass
class PassageGraph:
    """An HNSW graph over distinct passage vectors, and which articles hold each of them."""

    graph: Any
    held: Owners
    keys: np.ndarray | None = None  # node key -> position of its vector (-1: removed); None: the same

    def nearest_articles(self, query: np.ndarray, count: int) -> list[int]:
        """The positions of the articles holding the ``count`` nearest vectors, nearest first."""
        keys = np.asarray(self.graph.search(np.asarray(query, dtype=np.float16), count).keys, dtype=np.int64)
        if self.keys is not None:
            keys = self.keys[keys]
            keys = keys[keys >= 0]
        return self.held.first_seen(keys)[0].tolist()

    def __len__(self) -> int:
        return int(len(self.graph))


def open_ann(path: Path) -> PassageGraph | None:
    """Map a saved HNSW graph read-only, with its owners (None when there is none)."""
    if not path.exists() or not owners_path(path).exists():
        return None
    with np.load(owners_path(path)) as saved:
        starts, owners = saved["starts"], saved["owners"]
        keys = saved.get("keys")
    graph = _usearch_index().restore(str(path), view=True, expansion_search=EXPANSION_SEARCH)
    if keys is not None and len(keys) == len(starts) - 1 and np.array_equal(keys, np.arange(len(keys))):
        keys = None  # a fresh graph: every key is its vector's position
    return PassageGraph(graph, Owners(starts, owners), keys)


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
    previous: Path | None = None,
) -> None:
    """Write the HNSW graph of every locale that model ``key`` reads with more than ``above`` distinct vectors
    (``distinct`` and ``of_row`` as ``save_vectors`` writes them; ``by_locale``: ``locale_rows(article_ids)``,
    when the caller has it already), changing the ``previous`` build's graph of the locale where it has one.

    A node per distinct vector the locale's rows use: found from the row map (0.3 s at 50,000 articles),
    not by comparing the 1.7 M rows' bytes (11 s with their gathering). A vector that many articles share
    (boilerplate sections, articles written from one template) is one node: as many identical nodes crowded
    each other out of the graph's neighbour lists, and a search through them missed whole articles (recall of
    the exact top 50 fell to 0.28 on some questions).
    """
    for locale, rows in (by_locale if by_locale is not None else locale_rows(article_ids)).items():
        if len(rows) <= above or not reads(key, locale):
            continue
        used, node_of_row = np.unique(take_rows(of_row, rows), return_inverse=True)
        if len(used) <= above:
            continue
        held = Owners.of_rows(node_of_row.ravel(), article_positions([article_ids[r] for r in rows]), len(used))
        earlier = ann_path(previous, key, locale) if previous is not None else None
        write_graph(ann_path(build, key, locale), distinct[used], held, earlier)
