"""Snippets: the few words around the match, escaped, with the query's words marked."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from markupsafe import Markup, escape

TOKEN = re.compile(r"\w+(?:[.'’-]\w+)*|\W+", re.UNICODE)
SECTIONS_KEPT = 4096  # analysed section texts per process; the same sections answer most questions


def snippet(text: str, stems: set[str], stem: Callable[[str], Iterable[str]], words: int = 32) -> Markup:
    """Return about ``words`` words of ``text`` around the densest match, query words in <mark>."""
    escaped, word_positions, word_stems = _analysed(text, stem)
    marked = {i for i, s in zip(word_positions, word_stems, strict=True) if s & stems} if stems else set()
    start_word = 0
    if marked and len(word_positions) > words:
        flags = [1 if i in marked else 0 for i in word_positions]
        count = sum(flags[:words])
        best, best_count = 0, count
        for w in range(1, len(flags) - words + 1):  # slide the window one word at a time
            count += flags[w + words - 1] - flags[w - 1]
            if count > best_count:
                best, best_count = w, count
        start_word = max(0, best - 3)
    chosen = word_positions[start_word : start_word + words]
    if not chosen:
        return Markup("")
    first, last = chosen[0], chosen[-1]
    parts = ["… " if start_word > 0 else ""]
    for i in range(first, last + 1):
        parts.append(f"<mark>{escaped[i]}</mark>" if i in marked else escaped[i])
    if start_word + words < len(word_positions):
        parts.append(" …")
    return Markup("".join(parts))


@lru_cache(maxsize=SECTIONS_KEPT)
def _analysed(
    text: str, stem: Callable[[str], Iterable[str]]
) -> tuple[tuple[str, ...], tuple[int, ...], tuple[frozenset[str], ...]]:
    """A section's tokens (escaped), where its words are and each word's stems: the same for every question."""
    tokens = TOKEN.findall(text.replace("\n", " · "))
    positions = tuple(i for i, t in enumerate(tokens) if t[0].isalnum() or t[0] == "_")
    return (
        tuple(str(escape(t)) for t in tokens),
        positions,
        tuple(frozenset(stem(tokens[i])) for i in positions),
    )
