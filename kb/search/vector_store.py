"""Passage vectors on disk: each distinct float16 vector once, the vector of every passage row beside it,
memory-mapped so every worker shares one copy of the pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


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


@dataclass
class Owners:
    """Which articles hold each distinct vector: those of vector k are ``owners[starts[k] : starts[k + 1]]``."""

    starts: np.ndarray
    owners: np.ndarray  # article positions

    def __post_init__(self) -> None:
        self.articles = int(self.owners.max()) + 1 if len(self.owners) else 0

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
        # Where each article is first met, without sorting the owners (np.unique cost three times as much
        # when a vector that thousands of articles hold is among the nearest).
        at = np.arange(len(found))
        place = np.full(self.articles, len(found), dtype=np.int64)
        np.minimum.at(place, found, at)
        first = np.flatnonzero(place[found] == at)
        return found[first], np.repeat(np.arange(len(keys)), lengths)[first]


def article_positions(article_ids: list[str]) -> np.ndarray:
    """For each row, the position of its article among the articles in order of first appearance."""
    changes = [i > 0 and article_ids[i] != article_ids[i - 1] for i in range(len(article_ids))]
    return np.cumsum(np.asarray(changes, dtype=np.int64))


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


def take_rows(matrix: np.ndarray, rows: list[int]) -> np.ndarray:
    """The ``rows`` of ``matrix``: a view (of the memory map) when they are one run, else a copy."""
    if rows and rows[-1] - rows[0] + 1 == len(rows):
        return matrix[rows[0] : rows[-1] + 1]
    return matrix[rows]
