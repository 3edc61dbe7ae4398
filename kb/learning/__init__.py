"""What visitors teach the search: answers that solved similar questions rise, those that did not sink.

``evidence`` records a question's embedding (never its words) with the article a visitor said helped or
not; ``memory`` holds that evidence as matrices and adjusts a ranking; ``ranking`` is the object the site
attaches to each Searcher (``kb.search.learned.Learned``), reloading the evidence every few seconds;
``report`` is the writers' view of it in the admin.
"""

from __future__ import annotations

from kb.learning.memory import Evidence, Memory, Tuning
from kb.learning.ranking import LearnedRanking

__all__ = ["Evidence", "LearnedRanking", "Memory", "Tuning"]
