"""Visitors' evidence as matrices, and what it adds to a ranking for one question.

For a question q, each piece of evidence e whose question is similar (cosine >= ``similarity``) says
``weight(e) * cosine * decay(age)`` about its article; one visitor's say about one article is clipped to
one unit (so voting many times moves nothing further), and an article's total to ``max_adjustment``
(each visitor's unit is worth a third of it: three visitors who agree reach the maximum).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from kb.search.fusion import Candidate

UNITS_AT_MAXIMUM = 3.0  # visitors who agree, each at their cap, that move an article by the maximum
FORGOTTEN = 1 / 64  # evidence decayed below this share of its weight is no longer loaded


@dataclass(frozen=True)
class Tuning:
    """How far evidence reaches: its half-life, how similar a question must be, the largest move."""

    half_life_days: float = 90.0
    similarity: float = 0.75
    max_adjustment: float = 0.1

    def decay(self, age_days: np.ndarray) -> np.ndarray:
        """The share of its weight evidence keeps after ``age_days``."""
        return np.power(0.5, np.maximum(age_days, 0.0) / max(self.half_life_days, 1e-6))

    def forgotten_after_days(self) -> float:
        """Evidence older than this adds less than ``FORGOTTEN`` of its weight."""
        return float(self.half_life_days * np.log2(1 / FORGOTTEN))


@dataclass(frozen=True)
class Evidence:
    """One visitor's say on one article for one question, as loaded from the database."""

    model: str
    article_id: str
    weight: float
    voter: str
    created_at: datetime
    vector: np.ndarray  # normalised float32


class Memory:
    """Every piece of evidence of one load, by model: a matrix of questions and what each said."""

    def __init__(self, evidence: list[Evidence], tuning: Tuning, now: datetime) -> None:
        self.tuning = tuning
        self.size = len(evidence)
        self._by_model: dict[str, tuple[np.ndarray, list[str], list[str], np.ndarray]] = {}
        models = sorted({e.model for e in evidence})
        for model in models:
            rows = [e for e in evidence if e.model == model]
            dims = {e.vector.shape[0] for e in rows}
            if len(dims) != 1:  # a model swapped for one of another size: keep the newest size only
                newest = max(rows, key=lambda e: e.created_at).vector.shape[0]
                rows = [e for e in rows if e.vector.shape[0] == newest]
            matrix = np.vstack([e.vector for e in rows]).astype(np.float32)
            ages = np.array([(now - e.created_at).total_seconds() / 86400 for e in rows], dtype=np.float32)
            said = np.array([e.weight for e in rows], dtype=np.float32) * tuning.decay(ages)
            self._by_model[model] = (matrix, [e.article_id for e in rows], [e.voter for e in rows], said)

    def adjustments(self, model: str, question: np.ndarray, articles: set[str]) -> dict[str, float]:
        """What the evidence adds to each of ``articles`` for ``question`` (normalised, by ``model``)."""
        held = self._by_model.get(model)
        if held is None or not articles:
            return {}
        matrix, article_ids, voters, said = held
        if matrix.shape[1] != question.shape[0]:
            return {}
        cosines = matrix @ question.astype(np.float32)
        units: dict[tuple[str, str], float] = {}
        for i in np.flatnonzero(cosines >= self.tuning.similarity):
            article = article_ids[i]
            if article in articles:
                key = (voters[i], article)
                units[key] = units.get(key, 0.0) + float(said[i] * cosines[i])
        totals: dict[str, float] = {}
        for (_voter, article), amount in units.items():
            totals[article] = totals.get(article, 0.0) + max(-1.0, min(1.0, amount))  # one unit per visitor
        top = self.tuning.max_adjustment
        return {a: max(-top, min(top, top * t / UNITS_AT_MAXIMUM)) for a, t in totals.items() if t}

    def adjust(self, model: str, question: np.ndarray, candidates: list[Candidate]) -> None:
        """Add the evidence's say to each candidate's score, and record it in ``learned``."""
        moves = self.adjustments(model, question, {c.article_id for c in candidates})
        for c in candidates:
            amount = moves.get(c.article_id, 0.0)
            c.learned = amount
            c.score += amount
