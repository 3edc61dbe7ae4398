"""Analysers for languages Whoosh's own do not serve well (filled in by the multilingual work)."""

from __future__ import annotations

from whoosh.analysis import Analyzer


def analyzer(language: str) -> Analyzer | None:
    """Return a special analyser for ``language``, or None to use Whoosh's standard one."""
    return None
