"""The one door the web layer uses: ``Searcher.search`` for results, ``Searcher.suggest`` for the form.

Keyword hits (Whoosh) and semantic hits (passage embeddings) are fused into one ranking per article,
each with the passage that matched best and a calibrated confidence.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from markupsafe import Markup

from kb import collector
from kb.content import Article, Library
from kb.errors import IndexMissing
from kb.search import confidence, fusion, languages
from kb.search.chunks import read_columns
from kb.search.confidence import QueryShape
from kb.search.fusion import Candidate
from kb.search.glossary import Glossary, load_glossary
from kb.search.indexer import current_build, read_manifest
from kb.search.keyword import KeywordIndex
from kb.search.learned import Learned
from kb.search.names import Names, load_names
from kb.search.passage_graph import ann_path, open_ann
from kb.search.query_passages import QueryPassages
from kb.search.recent import Recent
from kb.search.semantic import Embedder, reads
from kb.search.snippets import snippet
from kb.search.synonyms import load_synonyms
from kb.search.vector_store import load_row_map, load_vectors, locale_rows, take_rows
from kb.search.vectors import VectorIndex

if TYPE_CHECKING:
    from kb.config import Settings
    from kb.search.semantic import Models

log = logging.getLogger(__name__)

MODES = ("hybrid", "keyword", "semantic")
MAX_QUERY = 1000  # a contact-form subject and message of a few sentences; the models truncate further
POOL = 50
SUGGESTIONS_KEPT = 2048  # questions whose suggestions a worker keeps (a few MB)
CODE = re.compile(r"[^\W\d_]{1,6}-\d{3,}[\w-]*")  # an error code or identifier, as the analysers keep it
RARE = 5  # a code found in more articles than this identifies nothing
WORD = re.compile(r"\w+")
GLOSS_LOCALE = "en"  # the glossary gives English terms; MiniLM reads English


@dataclass(frozen=True)
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
    other_language: bool = False  # no version in the visitor's language: this is the original

    @property
    def id(self) -> str:
        return self.article.id

    @property
    def url(self) -> str:
        return self.article.url + (f"#{self.anchor}" if self.anchor else "")

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.article.id,
            "locale": self.article.locale,
            "slug": self.article.slug,
            "title": self.article.title,
            "category": self.article.category,
            "url": self.url,
            "section": self.heading,
            "anchor": self.anchor,
            "snippet": str(self.snippet),
            "score": round(self.score, 4),
            "confidence": round(self.confidence, 3),
            "other_language": self.other_language,
        }


@dataclass
class Ranking:
    """Every candidate, best first, with its confidence; the spelling correction; the question's shape."""

    candidates: list[Candidate]
    corrected: str = ""
    shape: QueryShape = field(default_factory=lambda: QueryShape(0))
    model_text: str = ""  # what the embedding models read (corrected, cleaned): the hits' best passages too
    passages: QueryPassages | None = None  # its passage scores, which the hits' best passages reuse


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

    def __init__(
        self,
        build: Path,
        library: Library,
        embedders: dict[str, Embedder],
        synonyms: list[list[str]],
        threshold: float,
        names: Names | None = None,
        glossary: Glossary | None = None,
    ) -> None:
        self.build = build
        self.library = library
        self.synonyms = synonyms
        self.names = names or Names()
        self.glossary = glossary or Glossary()
        self.titled = _titled_names(library, self.names)
        self.confidence = confidence.load_model()
        self.learned: Learned | None = None  # attached by kb.learning when learning from votes is on
        self._untranslated_cache: dict[tuple[str, str], bool] = {}
        self.suggested: Recent[tuple[object, ...], tuple[Hit, ...]] = Recent(SUGGESTIONS_KEPT)
        self.threshold = threshold
        manifest = read_manifest(build)
        self.build_id = manifest.get("build_id", build.name)
        self.keyword = {
            loc: KeywordIndex(build / "keyword" / loc, loc)
            for loc in manifest.get("locales", [])
            if (build / "keyword" / loc).exists()
        }
        self.embedders: dict[str, Embedder] = {}
        self.vectors: dict[str, dict[str, VectorIndex]] = {}  # model key -> locale -> passages
        self.semantic_reason = ""
        built_with = manifest.get("models", {})
        chunks = read_columns(build / "chunks.json") if built_with else {"id": [], "anchor": [], "heading": []}
        passages = _passages_by_locale(chunks)  # once for every model: 343,646 rows at 10,000 articles
        for key, embedder in embedders.items():
            if built_with.get(key) == embedder.name:
                self.embedders[key] = embedder
                self.vectors[key] = _vector_indexes(build, key, passages, len(chunks["id"]))
        if "minilm" not in self.embedders:
            self.semantic_reason = (
                "the embedding model could not be loaded (see the log)"
                if "minilm" not in embedders
                else f"the index was built with {built_with.get('minilm') or 'no model'}: run `kb index`"
            )
            log.warning("semantic search is off: %s", self.semantic_reason)

    @property
    def semantic_available(self) -> bool:
        return "minilm" in self.vectors

    def status(self) -> dict[str, Any]:
        return {
            "build": self.build_id,
            "semantic": self.semantic_available,
            "reason": self.semantic_reason,
            "models": {k: e.name for k, e in self.embedders.items()},
            "locales": sorted(self.keyword),
            "threshold": self.threshold,
        }

    # -- ranking -----------------------------------------------------------------------------------

    def rank(
        self,
        query: str,
        locale: str,
        mode: str = "hybrid",
        category: str | None = None,
    ) -> tuple[list[Candidate], str]:
        """Score candidate articles for ``query``, best first, each with its confidence; and a correction."""
        found = self.ranking(query, locale, mode, category)
        return found.candidates, found.corrected

    def ranking(self, query: str, locale: str, mode: str = "hybrid", category: str | None = None) -> Ranking:
        """What ``rank`` returns, with the question's shape the confidence read."""
        query, fixes = self._read(query, locale)
        if mode not in MODES:
            raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
        if not self.semantic_available:
            mode = "keyword"
        candidates: dict[str, Candidate] = {}
        corrected = ""
        kw = self.keyword.get(locale)
        english = locale.split("-")[0] == "en"
        shape = QueryShape(len(WORD.findall(query)), english=english)
        if not query:
            return Ranking([], "", shape)
        terms = None
        if fixes:
            corrected = _corrected(query, fixes)
        if kw is not None:
            terms = kw.query_terms(query, self.synonyms, extra_words=fixes.values())
            for rank, hit in enumerate(kw.score(terms, limit=POOL, category=category), 1):
                candidates[hit.article_id] = Candidate(hit.article_id, keyword=hit.score, keyword_rank=rank)
        gloss, share = self._gloss(query, locale) if mode == "hybrid" and not english else ("", 0.0)
        if gloss:
            self._gloss_candidates(gloss, locale, category, candidates)
        # The models read the corrected words: a typo splits into pieces they do not recognise.
        model_text = languages.clean_for_models(corrected or query, locale)
        passages = QueryPassages(self.vectors, self.embedders, model_text)
        if mode != "keyword":
            self._semantic(passages, locale, category, candidates)
        if kw is not None and terms and mode != "semantic":
            shape = self._coverage(kw, corrected or query, candidates, shape)
        if gloss:
            self._gloss_evidence(gloss, share, candidates)
        ranked = [c for c in candidates.values() if self.library.by_id(c.article_id) is not None]
        self._names_and_languages(query, locale, ranked)
        if mode == "keyword":
            ranked = [c for c in ranked if c.keyword_rank is not None]
        if mode == "hybrid":
            fusion.hybrid(ranked, english)
            key = "minilm" if english else "usem3"
            if self.learned is not None and ranked and key in self.embedders:
                self.learned.adjust(key, self.embedders[key].encode_query(model_text), locale, ranked)
        else:
            {"semantic": fusion.semantic, "keyword": fusion.keyword}[mode](ranked)
        ranked.sort(key=lambda c: (-c.score, c.article_id))
        if mode == "keyword":
            fusion.calibrate_keyword_only(ranked)
        else:
            confidence.calibrate(ranked, shape, self.confidence)
        return Ranking(ranked, corrected, shape, model_text, passages)

    def _semantic(
        self, passages: QueryPassages, locale: str, category: str | None, candidates: dict[str, Candidate]
    ) -> None:
        """Add each model's best passage cosine to the candidates, and each model's own top articles, for
        the question as the models read it.

        MiniLM understands English only; for other languages the multilingual model is the semantic
        side. The multilingual model also looks in every other language, so a question in Korean
        finds the English article when no Korean one exists.
        """
        allowed = {a.id for a in self.library.in_locale(locale, category)} if category else None
        english = locale.split("-")[0] == "en"
        sides = [("minilm", "semantic"), ("usem3", "multilingual")] if english else [("usem3", "semantic")]
        for key, field_name in sides:
            scores = passages.scores(key, locale)
            if scores is None:
                continue
            for rank, (article_id, _score) in enumerate(scores.top(POOL, allowed), 1):
                c = candidates.setdefault(article_id, Candidate(article_id))
                if field_name == "semantic":
                    c.semantic_rank = rank
            for article_id, score in scores.of(candidates).items():  # exact, for keyword candidates too
                setattr(candidates[article_id], field_name, score)
        self._other_languages(passages, locale, category, candidates, "multilingual" if english else "semantic")
        if not english:
            self._level_languages(passages, candidates)

    def _level_languages(self, passages: QueryPassages, candidates: dict[str, Candidate]) -> None:
        """Give each translated candidate the mean of its own cosine and its English original's.

        The multilingual model scores a question higher against an article in the question's language than
        against an English one that answers it better; an English-only candidate has only the cross-language
        cosine. Averaging in the original's cross-language cosine puts the two nearer one footing (measured
        on the merchants' fit sets and the writers' tests, bench/README.md).
        """
        if GLOSS_LOCALE not in self.vectors.get("usem3", {}):
            return
        originals = {
            article_id: original_id
            for article_id, original_id in self._english_originals(candidates).items()
            if article_id != original_id and candidates[article_id].semantic
        }
        if not originals:
            return
        english = passages.scores("usem3", GLOSS_LOCALE)
        cross = english.of(set(originals.values())) if english is not None else {}
        for article_id, original_id in originals.items():
            if original_id in cross:
                c = candidates[article_id]
                c.semantic = (c.semantic + cross[original_id]) / 2

    def _other_languages(
        self,
        passages: QueryPassages,
        locale: str,
        category: str | None,
        candidates: dict[str, Candidate],
        field_name: str,
    ) -> None:
        """Articles that exist only in another language, found by the multilingual model."""
        for other in self.vectors.get("usem3", {}):
            if other == locale or not self._untranslated(other, locale):
                continue  # every article there has a version in the visitor's language: nothing to add
            scores = passages.scores("usem3", other)
            if scores is None:
                continue
            allowed = {a.id for a in self.library.in_locale(other, category)} if category else None
            for article_id, score in scores.top(POOL // 2, allowed):
                article = self.library.by_id(article_id)
                if article is None or locale in self.library.translation_locales(article):
                    continue  # the visitor's own language has it: that version is the candidate
                c = candidates.setdefault(article_id, Candidate(article_id))
                setattr(c, field_name, max(score, getattr(c, field_name)))

    def _untranslated(self, other: str, locale: str) -> bool:
        """Whether ``other`` has an article with no version in ``locale`` (remembered per build)."""
        key = (other, locale)
        found = self._untranslated_cache.get(key)
        if found is None:
            found = self._untranslated_cache[key] = any(
                locale not in self.library.translation_locales(a) for a in self.library.in_locale(other)
            )
        return found

    def _corrections(self, kw: KeywordIndex, query: str, locale: str) -> dict[str, str]:
        """Spelling corrections, in English only: there the model's vocabulary tells a real word the
        articles lack ("print") from a typo; in French it "corrected" mettre to membre."""
        primary = self.embedders.get("minilm")
        if locale.split("-")[0] != "en" or primary is None:
            return {}
        return kw.corrections(query, getattr(primary, "known_word", None))

    def model_text(self, query: str, locale: str) -> str:
        """What the embedding models read for ``query`` (as ``ranking`` makes it): canonical names, typos
        corrected, cleaned for the models. The learned ranking embeds questions the same way."""
        query, fixes = self._read(query, locale)
        return languages.clean_for_models(_corrected(query, fixes) if fixes else query, locale)

    def _read(self, query: str, locale: str) -> tuple[str, dict[str, str]]:
        """The query as every step reads it (spaces collapsed, bounded, names made canonical), and its
        spelling corrections."""
        query = self.names.canonical(" ".join(query.split())[:MAX_QUERY])
        kw = self.keyword.get(locale)
        return query, (self._corrections(kw, query, locale) if kw is not None and query else {})

    def _gloss(self, query: str, locale: str) -> tuple[str, float]:
        """The question read in English through the writers' glossary and names ("" when nothing matched
        or the help center has no English articles to compare it with), and the share of it that was read."""
        if GLOSS_LOCALE not in self.keyword or GLOSS_LOCALE not in self.vectors.get("minilm", {}):
            return "", 0.0
        terms, share = self.glossary.read(query, locale)
        names = self.names.mentioned(query)
        if names:
            letters = sum(ch.isalnum() for ch in query) or 1
            share = min(1.0, share + sum(len(n) for n in names) / letters)
        return " ".join(terms + sorted(names)), share

    def _gloss_candidates(
        self, gloss: str, locale: str, category: str | None, candidates: dict[str, Candidate]
    ) -> None:
        """Add the articles the gloss finds in English (in the visitor's language when translated)."""
        english = self.keyword[GLOSS_LOCALE]
        for hit in english.score(english.query_terms(gloss, self.synonyms), limit=POOL // 2, category=category):
            article = self.library.by_id(hit.article_id)
            if article is not None:
                article = self.library.translations(article).get(locale, article)
                candidates.setdefault(article.id, Candidate(article.id))

    def _english_originals(self, candidates: dict[str, Candidate]) -> dict[str, str]:
        """Each candidate's English version (an English article is its own), where one exists."""
        originals = {}
        for article_id in candidates:
            article = self.library.by_id(article_id)
            original = self.library.translations(article).get(GLOSS_LOCALE) if article else None
            if original is not None:
                originals[article_id] = original.id
        return originals

    def _gloss_evidence(self, gloss: str, share: float, candidates: dict[str, Candidate]) -> None:
        """Compare the gloss with each candidate's English version: MiniLM cosine and keyword coverage, the
        same evidence for a translated article and an English-only one; weighed by the ``share`` of the
        question the gloss read."""
        originals = self._english_originals(candidates)
        if not originals:
            return
        english = self.keyword[GLOSS_LOCALE]
        vectors = self.vectors["minilm"][GLOSS_LOCALE]
        cosines = vectors.scores(self.embedders["minilm"].encode_query(gloss)).of(set(originals.values()))
        stems = list(dict.fromkeys(english.stems(gloss)))
        matched = english.matched_stems(set(originals.values()), stems)
        total_docs = max(1, english.postings.doc_count)
        weights = {s: math.log(1 + total_docs / (1 + english.postings.df(s))) for s in stems}
        total = sum(weights.values()) or 1.0
        for article_id, original_id in originals.items():
            c = candidates[article_id]
            c.gloss_semantic = share * cosines.get(original_id, 0.0)
            present = matched.get(original_id, frozenset())
            c.gloss_coverage = share * sum(w for s, w in weights.items() if s in present) / total

    def _names_and_languages(self, query: str, locale: str, candidates: list[Candidate]) -> None:
        """Mark the articles titled with a name the query mentions, and those in another language."""
        mentioned = self.names.mentioned(query) if self.titled else set()
        for c in candidates:
            c.name_match = bool(mentioned and mentioned & self.titled.get(c.article_id, frozenset()))
            c.other_language = not c.article_id.startswith(f"{locale}/")

    def _coverage(
        self, kw: KeywordIndex, query: str, candidates: dict[str, Candidate], shape: QueryShape
    ) -> QueryShape:
        """Idf-weighted share of the (corrected) query's stems that each candidate contains; and the
        share no article contains, for the confidence."""
        stems = list(dict.fromkeys(kw.stems(query)))
        if not stems:
            return shape
        present = kw.contains(list(candidates), stems)  # from the arrays: any candidate, no second search
        total_docs = max(1, kw.postings.doc_count)
        weights = {}
        codes = np.zeros(len(stems), dtype=bool)
        known: set[str] = set()
        for k, stem in enumerate(stems):
            df = kw.postings.df(stem)
            if df:
                known.add(stem)
            weights[stem] = math.log(1 + total_docs / (1 + df))
            codes[k] = bool(CODE.fullmatch(stem)) and df <= RARE
        total = sum(weights.values()) or 1.0
        covered = np.zeros(len(candidates))
        for k, weight in enumerate(weights.values()):  # in the stems' order, as a sum per candidate adds them
            covered += np.where(present[k], weight, 0.0)
        covered /= total
        code_match = [bool(has) for has in np.any(present[codes], axis=0)]
        for c, share, code in zip(candidates.values(), covered.tolist(), code_match, strict=True):
            c.coverage = share
            c.code_match = code
        unknown = [s for s in stems if s not in known]
        return replace(shape, unknown=sum(weights[s] for s in unknown) / total, unknown_count=len(unknown))

    # -- what callers use --------------------------------------------------------------------------

    def search(
        self,
        query: str,
        locale: str,
        *,
        limit: int = 10,
        offset: int = 0,
        category: str | None = None,
        mode: str = "hybrid",
    ) -> SearchResult:
        """Search the help center; a bad or empty query gives an empty result, never an error."""
        started = time.perf_counter()
        result = SearchResult(query=query, locale=locale, mode=mode)
        found = self.ranking(query, locale, mode, category)
        result.total = len(found.candidates)
        stems = QueryStems(self.keyword, query)
        page = found.candidates[offset : offset + limit]
        result.hits = [self._hit(c, locale, found.passages, stems) for c in page]
        if found.corrected and found.corrected.lower() != query.lower():
            result.did_you_mean = found.corrected
        result.latency_ms = (time.perf_counter() - started) * 1000
        return result

    def suggest(self, query: str, locale: str, limit: int = 3, threshold: float | None = None) -> list[Hit]:
        """At most ``limit`` articles we are confident answer ``query``, or nothing.

        Kept per build for the questions asked lately (many visitors type the same prefixes), until what
        visitors taught the ranking changes.
        """
        cut = self.threshold if threshold is None else threshold
        key = (query, locale, limit, cut, self.learned.version() if self.learned is not None else None)
        kept = self.suggested.get(key)
        if kept is not None:
            return list(kept)
        found = self.ranking(query, locale, "hybrid")
        confident = [c for c in found.candidates[:limit] if c.confidence >= cut]
        stems = QueryStems(self.keyword, query)
        hits = tuple(self._hit(c, locale, found.passages, stems) for c in confident)
        self.suggested.put(key, hits)
        return list(hits)

    def _hit(self, c: Candidate, locale: str, passages: QueryPassages | None, query_stems: dict[str, set[str]]) -> Hit:
        article = self.library.by_id(c.article_id)
        assert article is not None
        anchor, heading, text = "", "", article.description
        key = "minilm" if article.locale.split("-")[0] == "en" else "usem3"
        row = passages.best_row(key, article.locale, article.id) if passages is not None else None
        if row is not None:
            vectors = self.vectors[key][article.locale]
            anchor, heading = vectors.anchors[row], vectors.headings[row]
            section = next((s for s in article.sections if s.anchor == anchor), None)
            if section is not None and section.text:
                text = section.text
        kw = self.keyword.get(article.locale)
        marked = snippet(text, query_stems[article.locale], kw.word_stems if kw else _lowercase)
        return Hit(
            article,
            anchor,
            heading,
            marked,
            c.score,
            c.confidence,
            c.keyword_rank,
            c.semantic_rank,
            other_language=article.locale != locale,
        )

    def close(self) -> None:
        for kw in self.keyword.values():
            kw.close()


def open_searcher(index_dir: Path, library: Library, settings: Settings, models: Models) -> Searcher:
    """Open the current build of ``index_dir`` with the configured models and the writers' synonyms."""
    build = current_build(Path(index_dir))
    if build is None:
        raise IndexMissing(f"no search index in {index_dir}: run `kb index`")
    synonyms, _ = load_synonyms(library.root)
    names, _ = load_names(library.root)
    glossary, _ = load_glossary(library.root)
    embedders = models.embedders(settings)
    with collector.paused():  # the build's passages: hundreds of thousands of strings in a large help center
        return Searcher(build, library, embedders, synonyms, settings.suggest_threshold, names, glossary)


class QueryStems(dict[str, set[str]]):
    """The query's stems by each language's analyser, made once, when a hit in that language first asks."""

    def __init__(self, keyword: dict[str, KeywordIndex], query: str) -> None:
        super().__init__()
        self.keyword = keyword
        self.query = query

    def __missing__(self, locale: str) -> set[str]:
        kw = self.keyword.get(locale)
        found = self[locale] = set(kw.stems(self.query)) if kw else set()
        return found


def _corrected(query: str, fixes: dict[str, str]) -> str:
    return " ".join(fixes.get(w.lower(), w) for w in query.split())


def _lowercase(word: str) -> tuple[str, ...]:
    return (word.lower(),)


def _titled_names(library: Library, names: Names) -> dict[str, frozenset[str]]:
    """Each article's title names that identify it: a name in the titles of more than RARE articles of
    one language (the product's own name) identifies nothing."""
    if not names.names:
        return {}
    titled = {a.id: frozenset(names.mentioned(" ".join([a.title, *a.tags]))) for a in library}
    per_locale: dict[tuple[str, str], int] = {}
    for article in library:
        for name in titled[article.id]:
            per_locale[(article.locale, name)] = per_locale.get((article.locale, name), 0) + 1
    return {
        article.id: frozenset(n for n in titled[article.id] if per_locale[(article.locale, n)] <= RARE)
        for article in library
        if titled[article.id]
    }


@dataclass(frozen=True)
class LocalePassages:
    """One locale's passage rows in the build, and their articles, anchors and headings."""

    rows: list[int]
    ids: list[str]
    anchors: list[str]
    headings: list[str]


def _passages_by_locale(chunks: dict[str, list[str]]) -> dict[str, LocalePassages]:
    ids, anchors, headings = chunks["id"], chunks["anchor"], chunks["heading"]
    return {
        locale: LocalePassages(rows, [ids[r] for r in rows], [anchors[r] for r in rows], [headings[r] for r in rows])
        for locale, rows in locale_rows(ids).items()
    }


def _vector_indexes(build: Path, key: str, passages: dict[str, LocalePassages], count: int) -> dict[str, VectorIndex]:
    """Split model ``key``'s memory-mapped passage matrix by locale, so a query scores only its own language's
    rows; a locale with a saved HNSW graph is searched through it."""
    matrix = load_vectors(build / f"vectors-{key}.npy")
    of_row = load_row_map(build / f"vectors-{key}.npy", count)
    indexes = {}
    for locale, mine in passages.items():
        if not reads(key, locale):
            continue  # never embedded: an English-only model has no French rows to search
        indexes[locale] = VectorIndex(
            matrix,
            mine.ids,
            mine.anchors,
            mine.headings,
            ann=open_ann(ann_path(build, key, locale)),
            of_row=take_rows(of_row, mine.rows),
        )
    return indexes
