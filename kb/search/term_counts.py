"""Each document's analysed fields (terms, counts, positions, lengths), kept beside a locale's index.

The BM25F arrays (``postings``, ``phrases``) are arithmetic on these counts. Read back from Whoosh
after every write, item by item, they cost 33 of a one-article edit's 64 s at 10,000 articles; kept
here, an edit analyses only the changed articles, splices their rows in and recomputes the arrays
with numpy. Documents keep the order of a fresh build, so an edit's arrays equal that build's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh.fields import Schema
from whoosh.formats import tokens

FOLDER = "counts"
MAX_RUNS = 512  # runs of consecutive rows above which ``_take`` gathers entry by entry instead
_ARRAYS = ("docs_at", "terms", "freqs", "lengths", "positions_at", "positions")


@dataclass(frozen=True)
class FieldCounts:
    """One field: document d's terms are ``terms[docs_at[d]:docs_at[d + 1]]`` (ascending, with their
    counts); entry e's positions are ``positions[positions_at[e]:positions_at[e + 1]]``."""

    docs_at: np.ndarray
    terms: np.ndarray  # ids into Counts.vocabulary
    freqs: np.ndarray
    lengths: np.ndarray  # tokens per document, as Whoosh counts a field's length
    positions_at: np.ndarray
    positions: np.ndarray

    def doc_of(self) -> np.ndarray:
        """The document of every entry."""
        return np.repeat(np.arange(len(self.lengths), dtype=np.int64), np.diff(self.docs_at))


@dataclass(frozen=True)
class Counts:
    """A locale's documents, in index order, with each field's counts."""

    vocabulary: list[str]
    ids: list[str]
    categories: list[str]
    fields: dict[str, FieldCounts]


def analyse(documents: Sequence[Mapping[str, str]], schema: Schema, fields: Iterable[str]) -> Counts:
    """Tokenise ``fields`` of each document with the schema's analysers, as Whoosh does when it indexes."""
    vocabulary: dict[str, int] = {}
    built = {}
    for name in fields:
        analyzer = schema[name].analyzer
        docs_at: list[int] = [0]
        positions_at: list[int] = [0]
        terms: list[int] = []
        freqs: list[int] = []
        lengths: list[int] = []
        positions: list[int] = []
        for doc in documents:
            where: dict[int, list[int]] = {}
            length = 0
            for token in tokens(doc.get(name, ""), analyzer, {"mode": "index", "positions": True, "boosts": True}):
                where.setdefault(vocabulary.setdefault(token.text, len(vocabulary)), []).append(token.pos)
                length += 1
            ordered = sorted(where)
            terms.extend(ordered)
            freqs.extend(len(where[t]) for t in ordered)
            for t in ordered:
                positions.extend(where[t])
                positions_at.append(len(positions))
            docs_at.append(len(terms))
            lengths.append(length)
        built[name] = FieldCounts(
            np.asarray(docs_at, dtype=np.int64),
            np.asarray(terms, dtype=np.int32),
            np.asarray(freqs, dtype=np.int32),
            np.asarray(lengths, dtype=np.int64),
            np.asarray(positions_at, dtype=np.int64),
            np.asarray(positions, dtype=np.int32),
        )
    ids = [doc["id"] for doc in documents]
    categories = [doc.get("category", "") for doc in documents]
    return Counts(list(vocabulary), ids, categories, built)


def splice(old: Counts, new: Counts, order: Sequence[str]) -> Counts:
    """The documents of ``order``: each from ``new`` when it has it, else from ``old``."""
    mine = {article_id: n for n, article_id in enumerate(old.ids)}
    theirs = {article_id: n for n, article_id in enumerate(new.ids)}
    vocabulary = dict(zip(old.vocabulary, range(len(old.vocabulary)), strict=True))
    recode = np.array([vocabulary.setdefault(t, len(vocabulary)) for t in new.vocabulary], dtype=np.int32)
    # Old documents are rows 0..len(old)-1 of a stack of both; new ones follow.
    rows = np.array([theirs[i] + len(old.ids) if i in theirs else mine[i] for i in order], dtype=np.int64)
    categories = old.categories + new.categories
    fields = {name: _take(_stack(old.fields[name], new.fields[name], recode), rows) for name in old.fields}
    return _compact(Counts(list(vocabulary), list(order), [categories[r] for r in rows.tolist()], fields))


def _stack(a: FieldCounts, b: FieldCounts, recode: np.ndarray) -> FieldCounts:
    return FieldCounts(
        np.concatenate([a.docs_at[:-1], b.docs_at + a.docs_at[-1]]),
        np.concatenate([a.terms, recode[b.terms]]),
        np.concatenate([a.freqs, b.freqs]),
        np.concatenate([a.lengths, b.lengths]),
        np.concatenate([a.positions_at[:-1], b.positions_at + a.positions_at[-1]]),
        np.concatenate([a.positions, b.positions]),
    )


def _take(field: FieldCounts, rows: np.ndarray) -> FieldCounts:
    """The counts of documents ``rows``, in that order: copied a run of consecutive rows at a time (an edit's
    order is the old one with a few rows swapped in, so a handful of slices instead of gathering every
    position one by one, which was most of an edit's keyword index at 10,000 articles)."""
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    if len(breaks) >= MAX_RUNS:
        return _gather(field, rows)
    runs = [run for run in np.split(rows, breaks) if len(run)]
    spans = [(int(field.docs_at[run[0]]), int(field.docs_at[run[-1] + 1])) for run in runs]  # their entries
    where = [(int(field.positions_at[a]), int(field.positions_at[b])) for a, b in spans]  # their positions
    return FieldCounts(
        _offsets(np.diff(field.docs_at)[rows]),
        _joined([field.terms[a:b] for a, b in spans], field.terms.dtype),
        _joined([field.freqs[a:b] for a, b in spans], field.freqs.dtype),
        field.lengths[rows],
        _offsets(_joined([np.diff(field.positions_at[a : b + 1]) for a, b in spans], np.int64)),
        _joined([field.positions[a:b] for a, b in where], field.positions.dtype),
    )


def _joined(parts: list[np.ndarray], dtype: np.typing.DTypeLike) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _gather(field: FieldCounts, rows: np.ndarray) -> FieldCounts:
    """``_take`` for any order, one index per entry and per position."""
    entries = ranges(field.docs_at[rows], field.docs_at[rows + 1])
    where = ranges(field.positions_at[entries], field.positions_at[entries + 1])
    return FieldCounts(
        _offsets(np.diff(field.docs_at)[rows]),
        field.terms[entries],
        field.freqs[entries],
        field.lengths[rows],
        _offsets(np.diff(field.positions_at)[entries]),
        field.positions[where],
    )


def _compact(counts: Counts) -> Counts:
    """Drop the vocabulary's words no document has any longer (a removed or edited article's)."""
    used = np.unique(np.concatenate([f.terms for f in counts.fields.values()] + [np.zeros(0, np.int32)]))
    if len(used) == len(counts.vocabulary):
        return counts
    recode = np.full(len(counts.vocabulary), -1, dtype=np.int32)
    recode[used] = np.arange(len(used), dtype=np.int32)
    fields = {
        name: FieldCounts(f.docs_at, recode[f.terms], f.freqs, f.lengths, f.positions_at, f.positions)
        for name, f in counts.fields.items()
    }
    return Counts([counts.vocabulary[t] for t in used.tolist()], counts.ids, counts.categories, fields)


def ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, e) for s, e in zip(starts, ends)])`` without the loop."""
    sizes = ends - starts
    total = int(sizes.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
    return shift + np.arange(total, dtype=np.int64)


def _offsets(sizes: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)


def save_fields(target: Path, fields: Mapping[str, object], arrays: Sequence[str]) -> None:
    """One .npy file per array of each field, so that every worker memory-maps the same pages."""
    target.mkdir(exist_ok=True)
    for name, field in fields.items():
        for array in arrays:
            np.save(target / f"{name}-{array}.npy", getattr(field, array))


def save(counts: Counts, folder: Path) -> None:
    target = folder / FOLDER
    save_fields(target, counts.fields, _ARRAYS)
    about = {"vocabulary": counts.vocabulary, "ids": counts.ids, "categories": counts.categories}
    about["fields"] = list(counts.fields)
    (target / "documents.json").write_text(json.dumps(about, ensure_ascii=False), encoding="utf-8")


def load(folder: Path) -> Counts | None:
    """The counts saved with a locale's index; None when that build has none (or they cannot be read)."""
    source = folder / FOLDER
    try:
        about = json.loads((source / "documents.json").read_text(encoding="utf-8"))
        fields = {
            name: FieldCounts(*(np.load(source / f"{name}-{array}.npy") for array in _ARRAYS))
            for name in about["fields"]
        }
        return Counts(about["vocabulary"], about["ids"], about["categories"], fields)
    except (OSError, ValueError, KeyError):
        return None
