"""The search engine, free of Flask: ``Searcher`` is the one door (``search`` for results, ``suggest``
for the contact form); keyword (Whoosh), semantic (embeddings), fusion and confidence sit behind it."""

from kb.search.searcher import MODES, Hit, Searcher, SearchResult, open_searcher

__all__ = ["MODES", "Hit", "SearchResult", "Searcher", "open_searcher"]
