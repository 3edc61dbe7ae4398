"""Snippets: the few words around the match, escaped, with the query's words marked."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

import numpy as np
from markupsafe import Markup, escape

TOKEN = re.compile(r"\w+(?:[.'’-]\w+)*|\W+", re.UNICODE)
SECTIONS_KEPT = 4096  # analysed section texts per process; the same sections answer most questions


def snippet(text: str, stems: set[str], stem: Callable[[str], Iterable[str]], words: int = 32) -> Markup:
    """Return about ``words`` words of ``text`` around the densest match, query words in <mark>."""
    escaped, word_positions, where = _analysed(text, stem)
    matched = sorted(set().union(*(where.get(s, ()) for s in stems))) if stems else []  # the nth words
    start_word = 0
    if matched and len(word_positions) > words:
        found = np.zeros(len(word_positions) + 1, dtype=np.int64)
        found[np.asarray(matched) + 1] = 1
        running = np.cumsum(found)
        start_word = max(0, int(np.argmax(running[words:] - running[:-words])) - 3)  # the first densest window
    marked = {word_positions[n] for n in matched}
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
) -> tuple[tuple[str, ...], tuple[int, ...], dict[str, tuple[int, ...]]]:
    """A section's tokens (escaped), where its words are, and which words (the nth) have each stem: the same
    for every question, so a question looks up its few stems instead of testing every word."""
    tokens = TOKEN.findall(text.replace("\n", " · "))
    positions = tuple(i for i, t in enumerate(tokens) if t[0].isalnum() or t[0] == "_")
    where: dict[str, list[int]] = {}
    for n, i in enumerate(positions):
        for s in frozenset(stem(tokens[i])):
            where.setdefault(s, []).append(n)
    return tuple(str(escape(t)) for t in tokens), positions, {s: tuple(ns) for s, ns in where.items()}
