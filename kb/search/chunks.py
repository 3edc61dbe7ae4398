"""Cut articles into the passages that get embedded: a title passage, then each section in windows.

Sections are embedded rather than whole articles so a long article matches on the paragraph that
answers; MiniLM reads 256 tokens at most, so long sections are split into overlapping windows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain, groupby, repeat
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

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


def save_passages(path: Path, passages: SavedPassages) -> None:
    """The passages' articles, anchors and headings in ``path`` as runs of equal values (an article's passages
    follow one another, a section's too), the 64-bit digest of each one's text beside it (``digests_path``).

    The site reads only the runs. An edit reads the digests too, to find the passages it embedded before: at
    10,000 articles the texts themselves were 45 MB of JSON, 0.5 s to read and 0.6 s to write on every edit.
    """
    digests = np.asarray(passages.digests, dtype=np.uint64)
    if len(digests) != len(passages):
        raise ValueError(f"{len(digests)} digests for {len(passages)} passages")
    tmp = digests_path(path).with_name("chunk-digests.tmp.npy")
    np.save(tmp, digests)
    tmp.replace(digests_path(path))
    runs = {
        f"{name}_runs": _runs(column)
        for name, column in (("id", passages.ids), ("anchor", passages.anchors), ("heading", passages.headings))
    }
    path.write_text(json.dumps(runs, ensure_ascii=False), encoding="utf-8")


def digests_path(path: Path) -> Path:
    return path.with_name("chunk-digests.npy")


def texts_path(path: Path) -> Path:
    """The passages' texts, as builds of the sixth round kept them beside the runs."""
    return path.with_name("chunk-texts.json")


def text_digests(texts: Iterable[str]) -> np.ndarray:
    """A 64-bit BLAKE2b digest of each text: equal digests are equal texts (a chance of 2^-64 otherwise)."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little") for t in texts),
        dtype=np.uint64,
    )


@dataclass(frozen=True)
class SavedPassages:
    """A build's passages as an edit needs them: article, anchor and heading of each, and its text's digest."""

    ids: list[str]
    anchors: list[str]
    headings: list[str]
    digests: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def spans(self) -> dict[str, tuple[int, int]]:
        """Each article's first passage and the one after its last (its passages are adjacent)."""
        found: dict[str, tuple[int, int]] = {}
        start = 0
        for article_id, count in _runs(self.ids):
            found.setdefault(article_id, (start, start + count))
            start += count
        return found


def read_passages(path: Path) -> SavedPassages:
    """The passages ``save_passages`` wrote; from builds before the digests, their texts' digests."""
    columns = read_columns(path)
    if digests_path(path).exists():
        digests = np.load(digests_path(path))
    else:
        digests = text_digests(columns["text"] if "text" in columns else _older_texts(path))
    if len(digests) != len(columns["id"]):
        raise ValueError(f"{path}: {len(digests)} digests for {len(columns['id'])} passages")
    return SavedPassages(columns["id"], columns["anchor"], columns["heading"], digests)


def _older_texts(path: Path) -> list[str]:
    texts: list[str] = json.loads(texts_path(path).read_text(encoding="utf-8"))
    return texts


def read_columns(path: Path) -> dict[str, list[str]]:
    """The passages ``save_passages`` wrote, column by column (a site needs no object per passage). Builds from
    before the runs hold columns with the texts, or one object per passage: their texts come too."""
    saved = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(saved, list):
        return {name: [c[name] for c in saved] for name in ("id", "anchor", "heading", "text")}
    if "id_runs" not in saved:
        columns: dict[str, list[str]] = saved
        return columns
    return {name: _expanded(saved[f"{name}_runs"]) for name in ("id", "anchor", "heading")}


def _runs(values: Iterable[str]) -> list[tuple[str, int]]:
    return [(value, len(list(group))) for value, group in groupby(values)]


def _expanded(runs: list[list[Any]]) -> list[str]:
    return list(chain.from_iterable(repeat(value, count) for value, count in runs))
