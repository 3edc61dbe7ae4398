"""Fusing keyword and semantic rankings into one, and the confidence that the top answer is right.

The method and its weights were chosen by measurement (``kb eval`` on the writers' search tests and
on public FAQ sets; see bench/README.md), not by habit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

RRF_K = 60


@dataclass
class Candidate:
    """One article with everything both searches said about it."""

    article_id: str
    semantic: float = 0.0  # best passage cosine, 0 when the semantic side did not return it
    semantic_rank: int | None = None
    keyword: float = 0.0  # BM25F score, 0 when keyword search did not return it
    keyword_rank: int | None = None
    coverage: float = 0.0  # idf-weighted share of the query's words found in the article
    row: int = -1  # best passage row in the vector matrix
    score: float = 0.0
    confidence: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


def rrf(candidates: list[Candidate], k: int = RRF_K) -> None:
    """Reciprocal rank fusion: robust, but blind to how sure each side was."""
    for c in candidates:
        c.score = sum(1.0 / (k + r) for r in (c.keyword_rank, c.semantic_rank) if r is not None)


def blend(candidates: list[Candidate], keyword_weight: float = 0.3) -> None:
    """Cosine plus the keyword score normalised by the query's best keyword score."""
    top = max((c.keyword for c in candidates), default=0.0) or 1.0
    for c in candidates:
        c.score = c.semantic + keyword_weight * (c.keyword / top)


@dataclass(frozen=True)
class ConfidenceModel:
    """Logistic model of P(this article answers the query), fitted on labelled queries."""

    bias: float
    semantic: float
    coverage: float
    keyword_norm: float
    agreement: float

    def __call__(self, c: Candidate, keyword_top: float) -> float:
        z = (self.bias + self.semantic * c.semantic + self.coverage * c.coverage
             + self.keyword_norm * (c.keyword / keyword_top if keyword_top else 0.0)
             + self.agreement * (1.0 if c.keyword_rank is not None and c.semantic_rank is not None else 0.0))
        return 1.0 / (1.0 + math.exp(-z))


# Fitted with `python bench/calibrate.py` (see bench/README.md for the data and the figures).
DEFAULT_CONFIDENCE = ConfidenceModel(bias=-9.0, semantic=12.0, coverage=3.0, keyword_norm=0.5, agreement=0.3)
KEYWORD_ONLY_CONFIDENCE = ConfidenceModel(bias=-4.0, semantic=0.0, coverage=4.0, keyword_norm=1.0, agreement=0.0)


def calibrated(candidates: list[Candidate], model: ConfidenceModel = DEFAULT_CONFIDENCE) -> None:
    """Rank by the calibrated confidence itself, so the ranking and the suggestion agree."""
    top = max((c.keyword for c in candidates), default=0.0)
    for c in candidates:
        c.confidence = model(c, top)
        c.score = c.confidence


def confidence(candidates: list[Candidate], model: ConfidenceModel) -> None:
    top = max((c.keyword for c in candidates), default=0.0)
    for c in candidates:
        c.confidence = model(c, top)
