"""Content gaps: the questions no article answered, grouped by meaning, largest group first.

The questions are searches that found nothing, contact-form questions with no confident suggestion, and
tickets sent after a failed deflection. They are grouped greedily on the cosine similarity of their
sentence embeddings (each question joins the closest group whose centre is similar enough, otherwise it
starts a new one), so "points do not expire" and "why don't my points run out" land together.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.analytics import deflection
from kb.analytics.period import Period
from kb.analytics.searches import SEARCH_SOURCES, unanswered
from kb.models import SearchEvent, Ticket

Encode = Callable[[list[str]], np.ndarray]  # texts -> unit vectors, one row each

KINDS = {  # where a question came from, as the admin reads it
    "search": _l("search with no confident result"),
    "contact": _l("contact question with no confident answer"),
    "ticket": _l("ticket after a failed deflection"),
}
TICKET_TEXT = 300  # characters of a ticket's subject and message that stand for its question


@dataclass(frozen=True)
class Question:
    text: str
    count: int
    kind: str  # where it came from most: search | contact | ticket
    reference: str = ""  # a ticket's KB-000123
    kinds: dict[str, int] = field(default_factory=dict)  # how often from each kind

    @property
    def sources(self) -> dict[str, int]:
        return self.kinds or {self.kind: self.count}


@dataclass
class Gap:
    """A topic visitors asked about and found no answer to."""

    size: int = 0  # questions asked, counting repeats
    questions: list[Question] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def label(self) -> str:
        return self.questions[0].text if self.questions else ""

    def examples(self, limit: int = 5) -> list[Question]:
        return sorted(self.questions, key=lambda q: -q.count)[:limit]

    def as_dict(self, examples: int = 5) -> dict[str, Any]:
        return {
            "size": self.size,
            "label": self.label,
            "kinds": dict(self.kinds),
            "examples": [
                {"text": q.text, "count": q.count, "kind": q.kind, "reference": q.reference}
                for q in self.examples(examples)
            ],
        }


@dataclass
class GapReport:
    gaps: list[Gap]
    questions: int  # distinct questions considered
    grouped_by_meaning: bool  # False when no embedding model was available: identical wording only


def gap_questions(session: Session, period: Period, limit: int = 500, confident: float | None = None) -> list[Question]:
    """The unanswered questions of the period, each distinct wording once with how often it was asked.

    A search is unanswered when it found nothing, or nothing as confident as ``confident`` (the
    suggestion threshold); the contact form's suggestions are only ever confident ones, so there an
    empty list is the sign.
    """
    text = func.lower(func.trim(SearchEvent.query))
    per_kind = max(1, limit // 3)
    found: list[Question] = []
    for kind, sources, nothing in (
        ("search", SEARCH_SOURCES, unanswered(confident)),
        ("contact", ("contact",), SearchEvent.result_count == 0),
    ):
        rows = session.execute(
            select(text, func.count())
            .where(
                SearchEvent.source.in_(sources),
                nothing,
                period.covers(SearchEvent.created_at),
                period.in_locale(SearchEvent.locale),
                text != "",
            )
            .group_by(text)
            .order_by(func.count().desc(), text)
            .limit(per_kind)
        ).all()
        found += [Question(str(q), int(n), kind) for q, n in rows]
    found = _merged(found)  # the same words searched and asked on the contact form: one question
    failed = deflection.failed_tickets(period).subquery()
    rows = session.execute(
        select(Ticket.id, Ticket.subject, func.substr(Ticket.message, 1, TICKET_TEXT))
        .where(Ticket.id.in_(select(failed.c.id)))
        .order_by(Ticket.created_at.desc())
        .limit(limit - len(found))
    ).all()
    for ticket_id, subject, message in rows:
        question = " ".join(f"{subject} — {message}".split())[:TICKET_TEXT]
        found.append(Question(question, 1, "ticket", f"KB-{ticket_id:06d}"))
    return found


class CachedEncode:
    """An encoder that remembers the vectors of texts it has seen: the same questions come back each visit."""

    def __init__(self, encode: Encode, size: int = 20_000) -> None:
        self.encode = encode
        self.size = size
        self.vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            for text, vector in zip(missing, np.asarray(self.encode(missing), dtype=np.float32), strict=True):
                self.vectors[text] = vector
        for text in texts:
            self.vectors.move_to_end(text)
        found = np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)
        while len(self.vectors) > self.size:
            self.vectors.popitem(last=False)
        return found


def _merged(questions: list[Question]) -> list[Question]:
    by_text: dict[str, dict[str, int]] = {}
    for q in questions:
        kinds = by_text.setdefault(q.text, {})
        kinds[q.kind] = kinds.get(q.kind, 0) + q.count
    return [
        Question(text, sum(kinds.values()), max(kinds, key=lambda k: kinds[k]), kinds=kinds)
        for text, kinds in by_text.items()
    ]


def cluster(questions: Sequence[Question], vectors: np.ndarray, threshold: float = 0.6) -> list[Gap]:
    """Group ``questions`` (unit ``vectors``, one row each) greedily by cosine similarity to the centres."""
    order = sorted(range(len(questions)), key=lambda i: (-questions[i].count, questions[i].text))
    gaps: list[Gap] = []
    sums: list[np.ndarray] = []  # the count-weighted sum of each group's vectors
    centres = np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), dtype=np.float32)
    for i in order:
        q, v = questions[i], vectors[i]
        best = -1
        if len(gaps):
            sims = centres @ v
            best = int(np.argmax(sims))
            if sims[best] < threshold:
                best = -1
        if best < 0:
            gaps.append(Gap())
            sums.append(np.zeros_like(v, dtype=np.float32))
            centres = np.vstack([centres, v[None, :]])
            best = len(gaps) - 1
        gap = gaps[best]
        gap.questions.append(q)
        gap.size += q.count
        gap.kinds.update(q.sources)
        sums[best] = sums[best] + q.count * v
        centres[best] = sums[best] / max(float(np.linalg.norm(sums[best])), 1e-12)
    return sorted(gaps, key=lambda g: (-g.size, g.label))


def _by_wording(questions: Sequence[Question]) -> list[Gap]:
    gaps: dict[str, Gap] = {}
    for q in questions:
        gap = gaps.setdefault(" ".join(q.text.lower().split()), Gap())
        gap.questions.append(q)
        gap.size += q.count
        gap.kinds.update(q.sources)
    return sorted(gaps.values(), key=lambda g: (-g.size, g.label))


def content_gaps(
    session: Session,
    period: Period,
    encode: Encode | None = None,
    threshold: float = 0.6,
    limit: int = 500,
    confident: float | None = None,
) -> GapReport:
    """What to write next: unanswered questions grouped by meaning (by wording when ``encode`` is None)."""
    questions = gap_questions(session, period, limit, confident)
    if not questions:
        return GapReport([], 0, encode is not None)
    if encode is None:
        return GapReport(_by_wording(questions), len(questions), False)
    vectors = np.asarray(encode([q.text for q in questions]), dtype=np.float32)
    return GapReport(cluster(questions, vectors, threshold), len(questions), True)
