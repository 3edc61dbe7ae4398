"""Whoosh's BM25F weights read once into numpy arrays, so scoring a query is a few array additions.

Whoosh matches an OR of terms in pure Python; at ten thousand articles that was most of a search's
time. A term's score in a document does not depend on the query, so each term keeps the documents
that contain it and its BM25F score there, summed over the fields: an OR of terms is then the sum
of their weight vectors, exactly what Whoosh computes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh import index, scoring
from whoosh.searching import Searcher as WhooshSearcher
from whoosh.util.numeric import _length_byte_cache

from kb.search.term_counts import Counts

SCORES = "scores.npz"
VOCABULARY = "vocabulary.json"
B, K1 = 0.75, 1.2  # scoring.BM25F's, as KeywordIndex opens its searcher


@dataclass(frozen=True)
class Postings:
    """Per term: its documents (ascending numbers) and BM25F score there; per document: id and category."""

    terms: dict[str, int]
    offsets: np.ndarray  # term t's postings are docs[offsets[t]:offsets[t + 1]]
    docs: np.ndarray
    weights: np.ndarray
    coverage_df: np.ndarray  # per term: documents with it in the body or the title, whichever is more
    ids: list[str]
    categories: np.ndarray
    words: frozenset[str]  # the articles' whole words, for typo correction

    @property
    def doc_count(self) -> int:
        return len(self.ids)

    def postings(self, stem: str) -> tuple[np.ndarray, np.ndarray]:
        """The documents containing ``stem`` and its score in each; empty when no article has it."""
        t = self.terms.get(stem)
        if t is None:
            return self.docs[:0], self.weights[:0]
        start, end = self.offsets[t], self.offsets[t + 1]
        return self.docs[start:end], self.weights[start:end]

    def has(self, stem: str, docnums: np.ndarray) -> np.ndarray:
        """Which of ``docnums`` contain ``stem`` in any field."""
        return found_in(docnums, self.postings(stem)[0])

    def df(self, stem: str) -> int:
        t = self.terms.get(stem)
        return 0 if t is None else int(self.coverage_df[t])


def read_whoosh(folder: Path, fields: Iterable[str]) -> Postings:
    """Score every term of ``fields`` in every document the way Whoosh's BM25F(B=0.75, K1=1.2) does."""
    ix = index.open_dir(str(folder))
    with ix.searcher(weighting=scoring.BM25F(B=B, K1=K1)) as searcher:
        return _read(searcher, list(fields))


def _read(searcher: WhooshSearcher, fields: list[str]) -> Postings:
    reader = searcher.reader()
    n = reader.doc_count_all()
    ids, categories = [""] * n, [""] * n
    for docnum, stored in reader.iter_docs():
        ids[docnum], categories[docnum] = stored["id"], stored.get("category", "")
    terms: dict[str, int] = {}
    df_body_title: dict[str, int] = {}
    term_parts, doc_parts, score_parts = [], [], []
    for field in fields:
        for found in field_postings(searcher, field):
            t = terms.setdefault(found.term, len(terms))
            if field in ("body", "title"):
                df_body_title[found.term] = max(df_body_title.get(found.term, 0), len(found.docs))
            term_parts.append(np.full(len(found.docs), t, dtype=np.int64))
            doc_parts.append(found.docs)
            score_parts.append(found.scores)
    term_parts.append(np.zeros(0, np.int64))  # none at all: empty arrays
    doc_parts.append(np.zeros(0, np.int64))
    score_parts.append(np.zeros(0, np.float64))
    scored = (np.concatenate(term_parts), np.concatenate(doc_parts), np.concatenate(score_parts))
    coverage_df = np.array([df_body_title.get(t, 0) for t in terms], dtype=np.int64)
    words = {w.decode("utf-8") if isinstance(w, bytes) else w for w in reader.lexicon("words")}
    return _combine(n, terms, scored, coverage_df, ids, categories, words)


def found_in(values: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    """Which of ``values`` ascending, distinct ``ordered`` holds: each looked up, nothing sorted again."""
    if not len(ordered):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    found: np.ndarray = ordered[at] == values
    return found


def _combine(
    n: int,
    terms: dict[str, int],
    found: tuple[np.ndarray, np.ndarray, np.ndarray],
    coverage_df: np.ndarray,
    ids: list[str],
    categories: list[str],
    words: set[str],
) -> Postings:
    """One posting per (term, document): the fields' scores summed, in the fields' order as Whoosh adds them."""
    term_of, doc_of, score = found
    keys, first = np.unique(term_of * max(n, 1) + doc_of, return_inverse=True)
    weights = np.bincount(first.ravel(), weights=score, minlength=len(keys)).astype(np.float64, copy=False)
    term_ids = keys // max(n, 1)
    offsets = np.searchsorted(term_ids, np.arange(len(terms) + 1)).astype(np.int64)
    return Postings(
        terms,
        offsets,
        (keys % max(n, 1)).astype(np.int32),
        weights,
        coverage_df,
        list(ids),
        np.array(categories, dtype=object),
        frozenset(words),
    )


@dataclass(frozen=True)
class ScoredField:
    """One field's postings computed from the counts, in Whoosh's lexicon order: ``terms`` (ascending)
    index ``vocabulary``; term k's entries are ``[offsets[k]:offsets[k + 1]]`` of ``docs``, ``scores`` and
    ``entries`` (their rows in the field's counts, for the positions)."""

    terms: np.ndarray
    offsets: np.ndarray
    docs: np.ndarray
    scores: np.ndarray
    entries: np.ndarray


def from_counts(counts: Counts, scored: Mapping[str, ScoredField]) -> Postings:
    """The arrays ``read_whoosh`` reads from a freshly written index, computed from the counts alone
    (``scored``: ``score_fields`` of every field, in ``FIELDS`` order)."""
    n = len(counts.ids)
    terms: dict[str, int] = {}
    vocabulary_ids: list[int] = []  # of each term of ``terms``
    coverage = np.zeros(len(counts.vocabulary), dtype=np.int64)
    term_parts, doc_parts, score_parts = [], [], []
    for name, field in scored.items():
        named = []
        for t in field.terms.tolist():
            word = counts.vocabulary[t]
            if word not in terms:
                terms[word] = len(terms)
                vocabulary_ids.append(t)
            named.append(terms[word])
        term_parts.append(np.repeat(np.asarray(named, dtype=np.int64), np.diff(field.offsets)))
        doc_parts.append(field.docs)
        score_parts.append(field.scores)
        if name in ("body", "title"):
            coverage[field.terms] = np.maximum(coverage[field.terms], np.diff(field.offsets))
    return _combine(
        n,
        terms,
        (np.concatenate(term_parts), np.concatenate(doc_parts), np.concatenate(score_parts)),
        coverage[np.asarray(vocabulary_ids, dtype=np.int64)],
        counts.ids,
        counts.categories,
        {counts.vocabulary[t] for t in np.unique(counts.fields["words"].terms).tolist()},
    )


def score_fields(counts: Counts, boosts: Mapping[str, float]) -> dict[str, ScoredField]:
    """Each field of ``boosts`` scored once, for the term arrays and the phrase arrays alike."""
    rank = np.empty(len(counts.vocabulary), dtype=np.int64)  # a word's place in Whoosh's lexicon order
    rank[sorted(range(len(counts.vocabulary)), key=counts.vocabulary.__getitem__)] = np.arange(len(rank))
    return {name: _score_field(counts, name, boost, rank) for name, boost in boosts.items()}


def _score_field(counts: Counts, name: str, boost: float, rank: np.ndarray) -> ScoredField:
    """Every (term, document) of field ``name`` scored as Whoosh's BM25F(B, K1) scores a fresh index:
    the same float operations in the same order, so that the results are equal, not close."""
    field, n = counts.fields[name], len(counts.ids)
    doc = field.doc_of()
    df = np.bincount(field.terms, minlength=len(counts.vocabulary))
    idf = np.array([math.log(n / (d + 1)) + 1 for d in df.tolist()], dtype=np.float64)
    avgfl = int(field.lengths.sum()) / (n or 1) or 1
    lengths = np.asarray(_stored_length(field.lengths), dtype=np.float64)
    norm = K1 * ((1 - B) + B * lengths / avgfl)
    entries = np.lexsort((doc, rank[field.terms]))
    term_of, docs = field.terms[entries], doc[entries]
    tf = field.freqs[entries].astype(np.float64) * boost
    scores = idf[term_of] * (tf * (K1 + 1)) / (tf + norm[docs])
    present = np.flatnonzero(df)
    present = present[np.argsort(rank[present])]
    offsets = np.concatenate([[0], np.cumsum(df[present])]).astype(np.int64)
    return ScoredField(present, offsets, docs.astype(np.int32), scores, entries)


_LENGTHS = np.asarray(_length_byte_cache, dtype=np.int64)


def _stored_length(lengths: np.ndarray) -> np.ndarray:
    """A field's length as Whoosh stores it (one byte, logarithmic) and reads it back; 1 for none."""
    code = np.minimum(np.searchsorted(_LENGTHS, lengths, side="left"), 255)
    stored = _LENGTHS[code]
    stored[code == 0] = 1
    return stored


@dataclass(frozen=True)
class FieldPosting:
    """One term of one field: its documents, its BM25F score in each, and (when asked) its positions."""

    term: str
    docs: np.ndarray
    scores: np.ndarray
    positions: list[list[int]] | None = None


def field_postings(searcher: WhooshSearcher, field: str, positions: bool = False) -> Iterator[FieldPosting]:
    """Every term of ``field`` scored in every document as Whoosh's BM25F(B, K1) scores it."""
    reader = searcher.reader()
    n = reader.doc_count_all()
    avgfl = searcher.avg_field_length(field) or 1
    lengths = np.array([searcher.doc_field_length(d, field, 1) or 1 for d in range(n)], dtype=np.float64)
    norm = K1 * ((1 - B) + B * lengths / avgfl)
    for raw in reader.lexicon(field):
        term = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        items = list(reader.postings(field, raw).items_as("weight"))
        if not items:
            continue
        docs = np.fromiter((d for d, _ in items), dtype=np.int64, count=len(items))
        tf = np.fromiter((w for _, w in items), dtype=np.float64, count=len(items))
        scores = searcher.idf(field, raw) * (tf * (K1 + 1)) / (tf + norm[docs])
        where = [list(p) for _, p in reader.postings(field, raw).items_as("positions")] if positions else None
        yield FieldPosting(term, docs, scores, where)


def save(postings: Postings, folder: Path) -> None:
    np.savez(
        folder / SCORES,
        offsets=postings.offsets,
        docs=postings.docs,
        weights=postings.weights,
        coverage_df=postings.coverage_df,
    )
    vocabulary = {
        "terms": list(postings.terms),
        "ids": postings.ids,
        "categories": [str(c) for c in postings.categories],
        "words": sorted(postings.words),
    }
    (folder / VOCABULARY).write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")


def load(folder: Path, fields: Iterable[str]) -> Postings:
    """The arrays saved with the locale's index; read from Whoosh when the build predates them."""
    try:
        arrays = np.load(folder / SCORES)
        vocabulary = json.loads((folder / VOCABULARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return read_whoosh(folder, fields)
    return Postings(
        {t: i for i, t in enumerate(vocabulary["terms"])},
        arrays["offsets"],
        arrays["docs"],
        arrays["weights"],
        arrays["coverage_df"],
        vocabulary["ids"],
        np.array(vocabulary["categories"], dtype=object),
        frozenset(vocabulary["words"]),
    )
