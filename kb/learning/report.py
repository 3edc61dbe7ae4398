"""The writers' view of what visitors taught the search: which articles their evidence raises or lowers.

Counts questions (one per vote or answer opened, whatever the number of models that embedded it), never
their words: there are none to show. The net effect is in visitors' units, as the ranking reads it:
each visitor's say on an article decayed and clipped to one unit, then summed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from kb.analytics.tables import Column, Table
from kb.content import Library
from kb.learning import evidence
from kb.learning.memory import UNITS_AT_MAXIMUM, Tuning


@dataclass
class LearnedArticle:
    article_id: str
    helped: int = 0  # questions it answered (a Yes, or opened and no ticket)
    did_not: int = 0  # questions it did not (a No)
    visitors: int = 0
    net: float = 0.0  # visitors' units, decayed and capped: +3 is the most a similar question can rise

    @property
    def direction(self) -> str:
        return "raised" if self.net > 0 else "lowered" if self.net < 0 else "even"


def learned_articles(session: Session, tuning: Tuning, now: datetime) -> list[LearnedArticle]:
    """Every article with evidence that still counts, most moved first."""
    loaded = evidence.load(session, tuning, now)
    questions = {(e.voter, e.article_id, e.created_at, e.weight) for e in loaded}
    says: dict[tuple[str, str], float] = {}
    for voter, article_id, created_at, weight in questions:
        age = (now - created_at).total_seconds() / 86400
        key = (voter, article_id)
        says[key] = says.get(key, 0.0) + weight * float(tuning.decay(np.array(age)))
    found: dict[str, LearnedArticle] = {}
    for _voter, article_id, _created, weight in questions:
        row = found.setdefault(article_id, LearnedArticle(article_id))
        if weight > 0:
            row.helped += 1
        else:
            row.did_not += 1
    for (_voter, article_id), amount in says.items():
        found[article_id].visitors += 1
        found[article_id].net += max(-1.0, min(1.0, amount))
    return sorted(found.values(), key=lambda r: (-abs(r.net), r.article_id))


def learned_table(rows: list[LearnedArticle], library: Library | None, tuning: Tuning) -> Table:
    """The articles visitors' evidence moves, with the most it can move each for a similar question."""
    top = tuning.max_adjustment
    labels = {"raised": _l("raised"), "lowered": _l("lowered"), "even": _l("even")}
    table_rows = []
    for r in rows:
        article = library.by_id(r.article_id) if library is not None else None
        table_rows.append(
            {
                "title": article.title if article is not None else r.article_id,
                "article_id": r.article_id,
                "direction": labels[r.direction],
                "helped": r.helped,
                "did_not": r.did_not,
                "visitors": r.visitors,
                "net": round(r.net, 2),
                "most": round(max(-top, min(top, top * r.net / UNITS_AT_MAXIMUM)), 3),
            }
        )
    return Table(
        "learned",
        [
            Column("title", _l("Article")),
            Column("direction", _l("Visitors' evidence")),
            Column("helped", _l("Questions it answered"), "int"),
            Column("did_not", _l("Questions it did not"), "int"),
            Column("visitors", _l("Visitors"), "int"),
            Column("net", _l("Net (visitors)"), "float"),
            Column("most", _l("Most added to its score"), "float"),
            Column("article_id", _l("Article id")),
        ],
        table_rows,
    )
