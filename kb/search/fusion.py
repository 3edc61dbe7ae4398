"""Fusing keyword and semantic evidence into one ranking, and the confidence that an answer is right.

Chosen by measurement (bench/README.md has the figures): reciprocal rank fusion and a plain blend of
cosine and normalised BM25 both fell below semantic-only on natural-language questions; a weighted
sum of the MiniLM cosine, a small share of the multilingual cosine, the idf-weighted share of the
query's words the article contains ("coverage") and a small share of normalised BM25 beat both
single modes on all four measured sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Weights of the hybrid score (fitted by grid search, see bench/README.md).
W_SEMANTIC = 1.0
W_MULTILINGUAL = 0.1
W_COVERAGE = 0.2
W_KEYWORD = 0.05


@dataclass
class Candidate:
    """One article with everything both searches said about it."""

    article_id: str
    semantic: float = 0.0  # best passage cosine (MiniLM), 0 when unknown
    semantic_rank: int | None = None
    multilingual: float = 0.0  # best passage cosine (multilingual model), 0 when unknown
    keyword: float = 0.0  # BM25F score, 0 when keyword search did not return it
    keyword_rank: int | None = None
    coverage: float = 0.0  # idf-weighted share of the query's words found in the article
    code_match: bool = False  # the article contains an error code or identifier the query names
    score: float = 0.0
    confidence: float = 0.0


# Other languages: the multilingual model is the semantic side (MiniLM reads English only); fitted on the
# writers' Korean and Arabic search tests (bench/README.md).
W_OTHER_COVERAGE = 0.1
W_OTHER_KEYWORD = 0.05
# An error code or identifier in the query ("PK-5522") that an article contains decides, in any language.
W_CODE = 0.3


def hybrid(candidates: list[Candidate], english: bool = True) -> None:
    """Score by the weighted sum of both cosines, coverage, normalised BM25 and a named code."""
    top = max((c.keyword for c in candidates), default=0.0) or 1.0
    coverage, keyword_weight = (W_COVERAGE, W_KEYWORD) if english else (W_OTHER_COVERAGE, W_OTHER_KEYWORD)
    for c in candidates:
        c.score = (
            W_SEMANTIC * c.semantic
            + W_MULTILINGUAL * c.multilingual
            + coverage * c.coverage
            + keyword_weight * c.keyword / top
            + (W_CODE if c.code_match else 0.0)
        )


def semantic(candidates: list[Candidate]) -> None:
    """Score by the cosines alone."""
    for c in candidates:
        c.score = W_SEMANTIC * c.semantic + W_MULTILINGUAL * c.multilingual


def keyword(candidates: list[Candidate]) -> None:
    """Score by BM25F alone."""
    for c in candidates:
        c.score = c.keyword


@dataclass(frozen=True)
class Logistic:
    """P(the article answers the query) = sigmoid(bias + a * x + b * y), fitted on labelled queries."""

    bias: float
    a: float
    b: float

    def __call__(self, x: float, y: float) -> float:
        z = self.bias + self.a * x + self.b * y
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# x = the article's score, y = the query's margin (top score minus the second): a clear winner is surer.
SCORED_CONFIDENCE = Logistic(bias=-2.764, a=2.743, b=1.733)
# The same for other languages, whose scores come from the multilingual model and run lower: its
# suggestions start at score + 0.63 * margin = 0.63 where MiniLM's start at 0.89.
OTHER_LANGUAGE_CONFIDENCE = Logistic(bias=-2.051, a=2.743, b=1.733)
# Keyword-only (no model): x = coverage, y = the top BM25 score's lead over the second, relative.
KEYWORD_CONFIDENCE = Logistic(bias=-1.684, a=2.171, b=1.164)


def calibrate(candidates: list[Candidate], keyword_only: bool = False, english: bool = True) -> None:
    """Give every candidate (already sorted best first) its confidence."""
    if not candidates:
        return
    first = candidates[0].score
    second = candidates[1].score if len(candidates) > 1 else 0.0
    if keyword_only:
        lead = (first - second) / first if first else 0.0
        for c in candidates:
            c.confidence = KEYWORD_CONFIDENCE(c.coverage, lead if c is candidates[0] else 0.0)
        return
    margin = first - second
    model = SCORED_CONFIDENCE if english else OTHER_LANGUAGE_CONFIDENCE
    for c in candidates:
        c.confidence = model(c.score, margin)
