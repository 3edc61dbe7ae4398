"""Phrase matching from positions read once into arrays, scored as Whoosh's ``Phrase`` scores it.

After the terms moved to arrays (``postings``), Whoosh's phrase search was half of what a search cost
beyond the embedding: it walks, in pure Python, the positions of every document holding a phrase's
words. A phrase (slop 1) matches where its stems stand at consecutive positions of one field, and
Whoosh scores it there as the phrase's boost times the sum of its stems' BM25F scores in that field
(a span query over an intersection of term matchers). Both are array lookups once each field's
postings keep their positions; ``tests/test_phrases.py`` checks the scores against Whoosh's own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh import index, scoring
from whoosh.searching import Searcher as WhooshSearcher

from kb.search import postings
from kb.search.term_counts import Counts, ranges, save_fields

FOLDER = "phrases"
FIELDS = ("title", "summary", "tags", "body")  # the fields kb's phrase queries name
_ARRAYS = ("offsets", "docs", "weights", "starts", "positions")
_STRIDE = 1 << 32  # a (document, position) pair as one integer


@dataclass(frozen=True)
class FieldPositions:
    """One field's postings with positions: term t's documents are ``docs[offsets[t]:offsets[t + 1]]``;
    posting p's positions are ``positions[starts[p]:starts[p + 1]]`` (ascending)."""

    terms: dict[str, int]
    offsets: np.ndarray
    docs: np.ndarray
    weights: np.ndarray  # the term's BM25F score in this field of that document
    starts: np.ndarray
    positions: np.ndarray

    def match(self, stems: Sequence[str]) -> dict[int, float]:
        """The documents where ``stems`` stand at consecutive positions, with the sum of their scores."""
        ids = [self.terms.get(s) for s in stems]
        if not ids or any(t is None for t in ids):
            return {}
        spans = [(int(self.offsets[t]), int(self.offsets[t + 1])) for t in ids if t is not None]
        common: np.ndarray | None = None
        for start, end in sorted(set(spans), key=lambda se: se[1] - se[0]):
            docs = self.docs[start:end]
            common = docs if common is None else in_both(common, docs)
            if not len(common):
                return {}
        assert common is not None
        # Each stem's (document, position - its place in the phrase): a phrase starts where all agree.
        starts: np.ndarray | None = None
        rows = []
        for k, (start, end) in enumerate(spans):
            row = start + np.searchsorted(self.docs[start:end], common)  # every common doc has this stem
            rows.append(row)
            first, last = self.starts[row], self.starts[row + 1]
            counts = last - first
            at = np.repeat(first - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
            keys = np.repeat(common.astype(np.int64), counts) * _STRIDE + (self.positions[at] + len(spans) - k)
            starts = keys if starts is None else in_both(starts, keys)
            if not len(starts):
                return {}
        assert starts is not None
        found = np.isin(common, np.unique(starts // _STRIDE))
        return {
            int(doc): _tree_sum([float(self.weights[row[i]]) for row in rows])
            for i, doc in zip(np.flatnonzero(found).tolist(), common[found].tolist(), strict=True)
        }


def in_both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The values of ascending, distinct ``a`` that ascending, distinct ``b`` has too, in order: the shorter
    looked up in the longer (np.intersect1d sorts both again: a common word's 50,000 documents per phrase)."""
    if len(a) > len(b):
        a, b = b, a
    return a[postings.found_in(a, b)]


@dataclass(frozen=True)
class Phrases:
    """Every phrase field of one locale's index."""

    fields: dict[str, FieldPositions]

    def score(self, stems: Sequence[str], fields: Sequence[str], boost: float) -> dict[int, float]:
        """What Whoosh gives ``Or([Phrase(f, stems, boost=boost) for f in fields])``, per document."""
        total: dict[int, float] = {}
        for name in fields:
            field = self.fields.get(name)
            if field is None:
                continue
            for doc, score in field.match(stems).items():
                total[doc] = total.get(doc, 0.0) + boost * score
        return total


def from_counts(counts: Counts, scored: Mapping[str, postings.ScoredField]) -> Phrases:
    """The arrays ``read_whoosh`` reads from a freshly written index, computed from the counts alone
    (``scored``: ``postings.score_fields``, the same the term arrays are made from)."""
    return Phrases({name: _field_from_counts(counts, name, scored[name]) for name in FIELDS if name in scored})


def _field_from_counts(counts: Counts, name: str, scored: postings.ScoredField) -> FieldPositions:
    field = counts.fields[name]
    first, last = field.positions_at[scored.entries], field.positions_at[scored.entries + 1]
    return FieldPositions(
        {counts.vocabulary[t]: k for k, t in enumerate(scored.terms.tolist())},
        scored.offsets,
        scored.docs,
        scored.scores,
        np.concatenate([[0], np.cumsum(last - first)]).astype(np.int64),
        field.positions[ranges(first, last)].astype(np.int32),
    )


def read_whoosh(folder: Path) -> Phrases:
    """The phrase fields' postings with positions, read from the locale's Whoosh index."""
    ix = index.open_dir(str(folder))
    with ix.searcher(weighting=scoring.BM25F(B=postings.B, K1=postings.K1)) as searcher:
        return Phrases({name: _read_field(searcher, name) for name in FIELDS if name in searcher.schema})


def _read_field(searcher: WhooshSearcher, name: str) -> FieldPositions:
    terms: dict[str, int] = {}
    offsets = [0]
    docs: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    lengths: list[int] = []
    positions: list[list[int]] = []
    for found in postings.field_postings(searcher, name, positions=True):
        assert found.positions is not None
        terms[found.term] = len(terms)
        offsets.append(offsets[-1] + len(found.docs))
        docs.append(found.docs)
        weights.append(found.scores)
        lengths.extend(len(p) for p in found.positions)
        positions.extend(found.positions)
    return FieldPositions(
        terms,
        np.asarray(offsets, dtype=np.int64),
        np.concatenate(docs).astype(np.int32) if docs else np.zeros(0, np.int32),
        np.concatenate(weights) if weights else np.zeros(0, np.float64),
        np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64),
        np.fromiter((p for row in positions for p in row), dtype=np.int32),
    )


def save(phrases: Phrases, folder: Path) -> None:
    target = folder / FOLDER
    save_fields(target, phrases.fields, _ARRAYS)
    terms = {name: list(field.terms) for name, field in phrases.fields.items()}
    (target / "terms.json").write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")


def load(folder: Path) -> Phrases:
    """The arrays saved with the locale's index, memory-mapped (and viewed as plain arrays: slicing a
    ``memmap`` object costs more than the lookup); read from Whoosh when the build predates them."""
    source = folder / FOLDER
    try:
        terms = json.loads((source / "terms.json").read_text(encoding="utf-8"))
        fields = {
            name: FieldPositions(
                {t: i for i, t in enumerate(words)},
                *(np.asarray(np.load(source / f"{name}-{array}.npy", mmap_mode="r")) for array in _ARRAYS),
            )
            for name, words in terms.items()
        }
    except (OSError, ValueError):
        return read_whoosh(folder)
    return Phrases(fields)


def _tree_sum(values: list[float]) -> float:
    """Sum in the order of Whoosh's binary tree of matchers, so that the float result is the same."""
    if len(values) == 1:
        return values[0]
    half = len(values) // 2
    return _tree_sum(values[:half]) + _tree_sum(values[half:])
