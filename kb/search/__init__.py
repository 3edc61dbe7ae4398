"""The one door the web layer uses: ``Searcher.search`` for results, ``Searcher.suggest`` for the form.

Keyword hits (Whoosh) and semantic hits (passage embeddings) are fused into one ranking per article,
each with the passage that matched best and a calibrated confidence.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from kb.content import Article, Library
from kb.errors import IndexMissing
from kb.search import fusion
from kb.search.fusion import Candidate
from kb.search.indexer import current_build, read_manifest
from kb.search.keyword import KeywordIndex
from kb.search.semantic import SentenceTransformerEmbedder, VectorIndex, load_embedder
from kb.search.snippets import snippet
from kb.search.synonyms import load_synonyms

log = logging.getLogger(__name__)

MODES = ("hybrid", "keyword", "semantic")
MAX_QUERY = 300
POOL = 50


@dataclass
class Hit:
    """One article in the results, with the section that answers and how sure we are."""

    article: Article
    anchor: str
    heading: str
    snippet: Markup
    score: float
    confidence: float
    keyword_rank: int | None = None
    semantic_rank: int | None = None

    @property
    def id(self) -> str:
        return self.article.id

    @property
    def url(self) -> str:
        return self.article.url + (f"#{self.anchor}" if self.anchor else "")

    def as_json(self) -> dict[str, Any]:
        return {"id": self.article.id, "locale": self.article.locale, "slug": self.article.slug,
                "title": self.article.title, "category": self.article.category, "url": self.url,
                "section": self.heading, "anchor": self.anchor, "snippet": str(self.snippet),
                "score": round(self.score, 4), "confidence": round(self.confidence, 3)}


@dataclass
class SearchResult:
    query: str
    locale: str
    mode: str
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    did_you_mean: str = ""
    latency_ms: float = 0.0

    @property
    def top_confidence(self) -> float | None:
        return self.hits[0].confidence if self.hits else None


class Searcher:
    """Search over one index build; opened once per process and swapped when a new build lands."""

    def __init__(self, build: Path, library: Library, embedder: SentenceTransformerEmbedder | None,
                 synonyms: list[list[str]], threshold: float) -> None:
        self.build = build
        self.library = library
        self.embedder = embedder
        self.synonyms = synonyms
        self.threshold = threshold
        manifest = read_manifest(build)
        self.build_id = manifest.get("build_id", build.name)
        self.keyword = {loc: KeywordIndex(build / "keyword" / loc, loc)
                        for loc in manifest.get("locales", []) if (build / "keyword" / loc).exists()}
        self.vectors: dict[str, VectorIndex] = {}
        self.semantic_reason = ""
        model_name = manifest.get("models", {}).get("minilm")
        if embedder is None:
            self.semantic_reason = "the embedding model could not be loaded (see the log)"
        elif model_name != embedder.name:
            self.semantic_reason = f"the index was built with {model_name or 'no model'}, not {embedder.name}: run `kb index`"
        else:
            self._load_vectors(build)

    def _load_vectors(self, build: Path) -> None:
        matrix = np.load(build / "vectors-minilm.npy")
        chunks = json.loads((build / "chunks.json").read_text(encoding="utf-8"))
        by_locale: dict[str, list[int]] = {}
        for row, chunk in enumerate(chunks):
            by_locale.setdefault(chunk["id"].split("/")[0], []).append(row)
        for locale, rows in by_locale.items():
            self.vectors[locale] = VectorIndex(
                np.ascontiguousarray(matrix[rows]), [chunks[r]["id"] for r in rows],
                [chunks[r]["anchor"] for r in rows], [chunks[r]["heading"] for r in rows])

    @property
    def semantic_available(self) -> bool:
        return bool(self.vectors)

    def status(self) -> dict[str, Any]:
        return {"build": self.build_id, "semantic": self.semantic_available, "reason": self.semantic_reason,
                "model": self.embedder.name if self.embedder else None, "locales": sorted(self.keyword),
                "threshold": self.threshold}

    # -- ranking -----------------------------------------------------------------------------------

    def rank(self, query: str, locale: str, mode: str = "hybrid", category: str | None = None,
             ) -> tuple[list[Candidate], str]:
        """Score candidate articles for ``query``; return them best first and a spelling correction."""
        query = " ".join(query.split())[:MAX_QUERY]
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        if not self.semantic_available and mode != "keyword":
            mode = "keyword"
        candidates: dict[str, Candidate] = {}
        corrected = ""
        q = None
        fixes: dict[str, str] = {}
        kw = self.keyword.get(locale)
        if kw is not None and query:
            fixes = kw.corrections(query, self.embedder.known_word if self.embedder else None)
            if fixes:
                corrected = " ".join(fixes.get(w.lower(), w) for w in query.split())
            q = kw.build_query(query, self.synonyms, extra_words=fixes.values())
            matched: dict[str, frozenset[str]] = {}
            if q is not None:
                for rank, hit in enumerate(kw.search(q, limit=POOL, category=category), 1):
                    candidates[hit.article_id] = Candidate(hit.article_id, keyword=hit.score, keyword_rank=rank)
                    matched[hit.article_id] = hit.stems
        vectors = self.vectors.get(locale)
        if vectors is not None and query and mode != "keyword" and self.embedder is not None:
            qvec = self.embedder.encode_query(query)
            allowed = None
            if category:
                allowed = {a.id for a in self.library.in_locale(locale, category)}
            for rank, (article_id, score, row) in enumerate(vectors.article_scores(qvec, allowed, POOL), 1):
                c = candidates.setdefault(article_id, Candidate(article_id))
                c.semantic, c.semantic_rank, c.row = score, rank, row
            if mode == "hybrid":
                self._fill_semantic(vectors, qvec, candidates)
        if kw is not None and q is not None:
            self._coverage(kw, q, corrected or query, candidates, matched)
        ranked = [c for c in candidates.values() if self.library.by_id(c.article_id) is not None]
        if mode == "keyword":
            ranked = [c for c in ranked if c.keyword_rank is not None]
            fusion.confidence(ranked, fusion.KEYWORD_ONLY_CONFIDENCE)
            for c in ranked:
                c.score = c.keyword
        elif mode == "semantic":
            ranked = [c for c in ranked if c.semantic_rank is not None]
            fusion.confidence(ranked, fusion.DEFAULT_CONFIDENCE)
            for c in ranked:
                c.score = c.semantic
        else:
            fusion.calibrated(ranked)
        ranked.sort(key=lambda c: (-c.score, c.article_id))
        return ranked, corrected

    def _coverage(self, kw: KeywordIndex, q: Any, query: str, candidates: dict[str, Candidate],
                  matched: dict[str, frozenset[str]]) -> None:
        """Idf-weighted share of the (corrected) query's stems that each candidate contains."""
        stems = list(dict.fromkeys(kw.stems(query)))
        if not stems or not candidates:
            return
        unmatched = [i for i in candidates if i not in matched]
        if unmatched:
            for hit in kw.search(q, limit=len(unmatched), only=unmatched):
                matched[hit.article_id] = hit.stems
        reader = kw.searcher.reader()
        total_docs = max(1, reader.doc_count())
        weights = {}
        for stem in stems:
            df = max(reader.doc_frequency("body", stem), reader.doc_frequency("title", stem))
            weights[stem] = math.log(1 + total_docs / (1 + df))
        total = sum(weights.values()) or 1.0
        for c in candidates.values():
            present = matched.get(c.article_id, frozenset())
            c.coverage = sum(w for s, w in weights.items() if s in present) / total

    def _fill_semantic(self, vectors: VectorIndex, qvec: np.ndarray, candidates: dict[str, Candidate]) -> None:
        """Keyword-only candidates still need their cosine for fusion: compute it for just those."""
        missing = [c for c in candidates.values() if c.semantic_rank is None]
        if not missing:
            return
        ids = {c.article_id for c in missing}
        rows = [i for i, a in enumerate(vectors.article_ids) if a in ids] if len(ids) < 50 else []
        if not rows:
            return
        scores = vectors.vectors[rows] @ qvec
        best: dict[str, tuple[float, int]] = {}
        for row, score in zip(rows, scores, strict=True):
            a = vectors.article_ids[row]
            if a not in best or score > best[a][0]:
                best[a] = (float(score), row)
        for c in missing:
            if c.article_id in best:
                c.semantic, c.row = best[c.article_id]

    # -- what callers use --------------------------------------------------------------------------

    def search(self, query: str, locale: str, *, limit: int = 10, offset: int = 0, category: str | None = None,
               mode: str = "hybrid") -> SearchResult:
        """Search the help center; a bad or empty query gives an empty result, never an error."""
        started = time.perf_counter()
        result = SearchResult(query=query, locale=locale, mode=mode)
        ranked, corrected = self.rank(query, locale, mode, category)
        result.total = len(ranked)
        result.hits = [self._hit(c, query, locale) for c in ranked[offset : offset + limit]]
        if corrected and corrected.lower() != query.lower():
            result.did_you_mean = corrected
        result.latency_ms = (time.perf_counter() - started) * 1000
        return result

    def suggest(self, query: str, locale: str, limit: int = 3, threshold: float | None = None) -> list[Hit]:
        """At most ``limit`` articles we are confident answer ``query``, or nothing."""
        cut = self.threshold if threshold is None else threshold
        ranked, _ = self.rank(query, locale, "hybrid")
        return [self._hit(c, query, locale) for c in ranked[:limit] if c.confidence >= cut]

    def _hit(self, c: Candidate, query: str, locale: str) -> Hit:
        article = self.library.by_id(c.article_id)
        assert article is not None
        anchor, heading, text = "", "", article.description
        vectors = self.vectors.get(article.locale)
        if vectors is not None and c.row >= 0:
            anchor, heading = vectors.anchors[c.row], vectors.headings[c.row]
            section = next((s for s in article.sections if s.anchor == anchor), None)
            if section is not None and section.text:
                text = section.text
        kw = self.keyword.get(article.locale)
        stems = set(kw.stems(query)) if kw else set()
        marked = snippet(text, stems, kw.stems if kw else (lambda w: [w.lower()]))
        return Hit(article, anchor, heading, marked, c.score, c.confidence, c.keyword_rank, c.semantic_rank)

    def close(self) -> None:
        for kw in self.keyword.values():
            kw.close()


def open_searcher(index_dir: Path, library: Library, settings: dict[str, Any]) -> Searcher:
    """Open the current build of ``index_dir`` with the configured model and the writers' synonyms."""
    build = current_build(Path(index_dir))
    if build is None:
        raise IndexMissing(f"no search index in {index_dir}: run `kb index`")
    embedder = load_embedder(str(settings.get("EMBEDDING_MODEL") or ""))
    synonyms, _ = load_synonyms(library.root)
    return Searcher(build, library, embedder, synonyms, float(settings.get("SUGGEST_THRESHOLD", 0.5)))
