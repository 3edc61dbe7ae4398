"""One question's passage scores per model and locale, made once and shared by every step that needs them.

The semantic step, the articles found only in other languages, the levelling of translations and each hit's
best passage all score the same question against the same vectors: the int8 bounds of a locale are computed
once, and the best passage row an article's score was found at is the one its hit shows.
"""

from __future__ import annotations

from kb.search.semantic import Embedder
from kb.search.vectors import PassageScores, VectorIndex


class QueryPassages:
    """The passage scores of ``text`` (as the models read it), per (model key, locale), made when first asked."""

    def __init__(self, vectors: dict[str, dict[str, VectorIndex]], embedders: dict[str, Embedder], text: str) -> None:
        self.vectors = vectors
        self.embedders = embedders
        self.text = text
        self._made: dict[tuple[str, str], PassageScores] = {}

    def scores(self, key: str, locale: str) -> PassageScores | None:
        """The scores of this locale's articles by model ``key``; None when it has no such vectors."""
        made = self._made.get((key, locale))
        if made is None:
            index = self.vectors.get(key, {}).get(locale)
            if index is None or key not in self.embedders:
                return None
            made = self._made[(key, locale)] = index.scores(self.embedders[key].encode_query(self.text))
        return made

    def best_row(self, key: str, locale: str, article_id: str) -> int | None:
        """The row of ``article_id``'s passage nearest the question, or None when the locale has no vectors
        for it; reused from the ranking's scores where they found it."""
        index = self.vectors.get(key, {}).get(locale)
        if index is None or key not in self.embedders or article_id not in index.position:
            return None
        made = self._made.get((key, locale))
        if made is not None:
            return made.best_row(article_id)
        return index.best_row(article_id, self.embedders[key].encode_query(self.text))
