"""Cut articles into the passages that get embedded: a title passage, then each section in windows.

Sections are embedded rather than whole articles so a long article matches on the paragraph that
answers; MiniLM reads 256 tokens at most, so long sections are split into overlapping windows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import chain, groupby, repeat
from pathlib import Path
from typing import Any, NamedTuple

from kb.content import Article

WINDOW_WORDS = 110
OVERLAP_PARAGRAPHS = 1
SHORT_LINE_WORDS = 18


class Chunk(NamedTuple):
    """One passage (a tuple: an edit reads back the previous build's 340,000 of them at 10,000 articles)."""

    article_id: str
    anchor: str
    heading: str
    text: str


def chunk_article(article: Article) -> list[Chunk]:
    """Return the passages of one article, the title passage first."""
    head = article.title + (f". {article.summary}" if article.summary else "")
    chunks = [Chunk(article.id, "", "", head)]
    for section in article.sections:
        prefix = f"{article.title}: {section.heading}" if section.heading else article.title
        paragraphs = [p for p in section.text.split("\n") if p.strip()]
        if section.heading:
            chunks.append(Chunk(article.id, section.anchor, section.heading, f"{article.title}: {section.heading}"))
        for window in _windows(paragraphs):
            chunks.append(Chunk(article.id, section.anchor, section.heading, f"{prefix}\n{window}"))
        short = [p for p in paragraphs if len(p.split()) <= SHORT_LINE_WORDS]
        if len(short) >= 4 and len(short) >= 0.6 * len(paragraphs):
            # A list of short lines (questions, phrasings, steps): each line can be what a merchant asks.
            chunks.extend(Chunk(article.id, section.anchor, section.heading, p) for p in short)
    return _dedupe(chunks)


def _windows(paragraphs: list[str]) -> list[str]:
    windows: list[str] = []
    current: list[str] = []
    size = 0
    for paragraph in paragraphs:
        words = paragraph.split()
        while len(words) > WINDOW_WORDS:  # one very long paragraph: cut it by words
            if current:
                windows.append("\n".join(current))
                current, size = [], 0
            windows.append(" ".join(words[:WINDOW_WORDS]))
            words = words[WINDOW_WORDS - 20 :]
        if size + len(words) > WINDOW_WORDS and current:
            windows.append("\n".join(current))
            current = current[-OVERLAP_PARAGRAPHS:] if OVERLAP_PARAGRAPHS else []
            size = sum(len(p.split()) for p in current)
        current.append(" ".join(words))
        size += len(words)
    if current:
        windows.append("\n".join(current))
    return windows


def _dedupe(chunks: list[Chunk]) -> list[Chunk]:
    seen: set[str] = set()
    out = []
    for chunk in chunks:
        if chunk.text not in seen:
            seen.add(chunk.text)
            out.append(chunk)
    return out


def save_chunks(path: Path, chunks: list[Chunk]) -> None:
    """The passages' articles, anchors and headings in ``path`` as runs of equal values (an article's passages
    follow one another, a section's too), their texts in a file beside it (``texts_path``).

    The site reads only the first: at 10,000 articles 4 MB of runs instead of 82 MB of columns with the texts
    (0.9 -> 0.1 s a reopen); an edit reads both, to keep the unchanged articles' passages.
    """
    texts = texts_path(path)
    tmp = texts.with_name(texts.name + ".tmp")
    tmp.write_text(json.dumps([c.text for c in chunks], ensure_ascii=False), encoding="utf-8")
    tmp.replace(texts)
    runs = {
        f"{name}_runs": _runs(getattr(c, field) for c in chunks)
        for name, field in (("id", "article_id"), ("anchor", "anchor"), ("heading", "heading"))
    }
    path.write_text(json.dumps(runs, ensure_ascii=False), encoding="utf-8")


def texts_path(path: Path) -> Path:
    return path.with_name("chunk-texts.json")


def read_chunks(path: Path) -> list[Chunk]:
    """The passages ``save_chunks`` wrote."""
    columns = read_columns(path, texts=True)
    return list(map(Chunk, columns["id"], columns["anchor"], columns["heading"], columns["text"]))


def read_columns(path: Path, texts: bool = False) -> dict[str, list[str]]:
    """The passages ``save_chunks`` wrote, column by column (a site needs no object per passage), with their
    texts when asked. Builds from before the runs hold columns with the texts, or one object per passage."""
    saved = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(saved, list):
        return {name: [c[name] for c in saved] for name in ("id", "anchor", "heading", "text")}
    if "id_runs" not in saved:
        columns: dict[str, list[str]] = saved
        return columns
    found = {name: _expanded(saved[f"{name}_runs"]) for name in ("id", "anchor", "heading")}
    if texts:
        found["text"] = json.loads(texts_path(path).read_text(encoding="utf-8"))
        if len(found["text"]) != len(found["id"]):
            raise ValueError(f"{texts_path(path)} holds {len(found['text'])} texts for {len(found['id'])} passages")
    return found


def _runs(values: Iterable[str]) -> list[tuple[str, int]]:
    return [(value, sum(1 for _ in group)) for value, group in groupby(values)]


def _expanded(runs: list[list[Any]]) -> list[str]:
    return list(chain.from_iterable(repeat(value, count) for value, count in runs))
