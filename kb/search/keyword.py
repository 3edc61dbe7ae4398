"""Keyword search with Whoosh: one BM25F index per locale, an analyser per language, typo correction.

Product words, error codes and exact phrases win here; meaning is the semantic side's job.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh import index, scoring
from whoosh.analysis import Analyzer, CharsetFilter, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.fields import ID, TEXT, Schema
from whoosh.query import Or, Phrase, Query, Term
from whoosh.support.charset import accent_map

from kb.content import Article
from kb.search import languages, phrases, postings, term_counts
from kb.search.languages import TOKEN

FIELDS = {"title": 3.0, "summary": 2.0, "tags": 2.0, "headings": 1.5, "body": 1.0}
COUNTED = (*FIELDS, "words")  # the fields whose term counts are kept beside the index
STEMMED_LANGUAGES = {"en": "en", "fr": "fr", "de": "de", "es": "es", "it": "it", "pt": "pt", "nl": "nl", "ar": "ar"}
WORD_STEMS_KEPT = 200_000  # distinct words whose stems a process remembers (the articles' words, mostly)
QUERY_PHRASE_FIELDS = ("title", "body")  # the question's words in order, boosted
SYNONYM_PHRASE_FIELDS = phrases.FIELDS  # a synonym of several words
FIXES_KEPT = 20_000  # unknown words (visitors' typing) whose correction a process remembers
RECENT_TEXTS = 64  # texts whose stems a process remembers: one question is analysed by several steps
STALE_SHARE = 0.1  # share of stale documents (edited or removed) past which an edit rewrites the whole index
LATIN_WORD = re.compile(r"[a-zà-ÿœæ]+")  # spelling correction is for alphabetic scripts we can judge


def analyzer_for(locale: str) -> Analyzer:
    """Stemming with accent folding for languages Whoosh knows; plain folding elsewhere."""
    language = locale.split("-")[0]
    special = languages.analyzer(language)
    if special is not None:
        return special
    tokens = RegexTokenizer(TOKEN) | LowercaseFilter()
    if language in STEMMED_LANGUAGES:
        lang = STEMMED_LANGUAGES[language]
        return tokens | StopFilter(lang=lang) | StemFilter(lang=lang) | CharsetFilter(accent_map)
    return tokens | CharsetFilter(accent_map)


def words_analyzer() -> Analyzer:
    """Whole words, lowercased and accent-folded: the vocabulary typo correction looks in."""
    return RegexTokenizer(TOKEN) | LowercaseFilter() | CharsetFilter(accent_map)


def schema_for(locale: str) -> Schema:
    text = analyzer_for(locale)
    return Schema(
        id=ID(stored=True, unique=True),
        category=ID(stored=True),
        title=TEXT(analyzer=text, field_boost=FIELDS["title"]),
        summary=TEXT(analyzer=text, field_boost=FIELDS["summary"]),
        tags=TEXT(analyzer=text, field_boost=FIELDS["tags"]),
        headings=TEXT(analyzer=text, field_boost=FIELDS["headings"]),
        body=TEXT(analyzer=text, field_boost=FIELDS["body"]),
        words=TEXT(analyzer=words_analyzer(), phrase=False, spelling=True),  # a word graph for typo lookups
    )


def document(article: Article) -> dict[str, str]:
    body = "\n".join(s.text for s in article.sections)
    headings = "\n".join(s.heading for s in article.sections if s.heading)
    all_text = " ".join([article.title, article.summary, " ".join(article.tags), headings, body])
    words = {t.text for t in words_analyzer()(all_text)}  # each word once: the field is for lookups only
    return {
        "id": article.id,
        "category": article.category,
        "title": article.title,
        "summary": article.summary,
        "tags": " ".join(article.tags),
        "headings": headings,
        "body": body,
        "words": " ".join(sorted(words)),
    }


def write_index(
    folder: Path,
    locale: str,
    articles: Sequence[Article],
    dirty: Set[str],
    removed: Iterable[str],
    previous: Path | None,
) -> None:
    """Write the locale's index into ``folder``: the previous build's, updated for the ``dirty`` and ``removed``
    articles only, when it is there; otherwise all of ``articles`` (the locale's, in the library's order).

    An edit adds a small segment to a copy of the Whoosh index (Whoosh merges small ones as they pile
    up; once a tenth of its documents are stale copies, it is rewritten whole). The scoring arrays are
    computed from the term counts kept beside it, with the edited articles' counts spliced in: they
    equal a fresh build's, whatever Whoosh's segments hold.
    """
    earlier = term_counts.load(previous) if previous is not None and index.exists_in(str(previous)) else None
    if earlier is not None and not {a.id for a in articles if a.id not in dirty} <= set(earlier.ids):
        earlier = None  # a build that lacks an unchanged article cannot be updated: write all
    if earlier is not None and previous is not None:
        _link_whoosh_files(previous, folder)
        ix = index.open_dir(str(folder))
        todo, gone = [a for a in articles if a.id in dirty], list(removed)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        ix = index.create_in(str(folder), schema_for(locale))
        todo, gone = list(articles), []
    documents = [document(a) for a in todo]
    stale = ix.doc_count_all() - ix.doc_count() + len(gone) + len(todo)  # at most: new ones are not stale
    writer = ix.writer(limitmb=128)
    for article_id in gone:
        writer.delete_by_term("id", article_id)
    for doc in documents:
        writer.update_document(**doc)
    writer.commit(optimize=stale > STALE_SHARE * max(1, ix.doc_count_all()))
    counts = term_counts.analyse(documents, ix.schema, COUNTED)
    if earlier is not None:
        counts = term_counts.splice(earlier, counts, [a.id for a in articles])
    term_counts.save(counts, folder)
    scored = postings.score_fields(counts, FIELDS)
    postings.save(postings.from_counts(counts, scored), folder)
    phrases.save(phrases.from_counts(counts, scored), folder)


INDEX_NAME = "MAIN"  # Whoosh's default: its files are MAIN_*.seg, _MAIN_*.toc and MAIN_WRITELOCK


def _link_whoosh_files(previous: Path, folder: Path) -> None:
    """Start ``folder`` from the previous build's Whoosh index: its segment and table-of-contents files,
    hard-linked (Whoosh writes a file once, then only reads or deletes it; a commit adds new ones), copied
    where links are refused. kb's arrays beside them are written afresh, never linked: writing one in place
    would change the previous build too. Copying everything was ~0.1 s of an edit at 10,000 articles."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in previous.iterdir():
        if entry.is_file() and entry.name.startswith((f"{INDEX_NAME}_", f"_{INDEX_NAME}_")) and entry.suffix != "":
            try:
                os.link(entry, folder / entry.name)
            except OSError:  # another file system, or links refused: a copy does the same
                shutil.copy2(entry, folder / entry.name)


@dataclass(frozen=True)
class PhraseQuery:
    """``Or([Phrase(f, stems, boost=boost) for f in fields])``, as the arrays match it."""

    stems: tuple[str, ...]
    fields: tuple[str, ...]
    boost: float


@dataclass(frozen=True)
class WeightedQuery:
    terms: dict[str, float]  # stem -> boost
    phrases: list[PhraseQuery]

    def __bool__(self) -> bool:
        return bool(self.terms)


@dataclass(frozen=True)
class KeywordHit:
    article_id: str
    score: float


class KeywordIndex:
    """An open Whoosh index for one locale, with its analysers and a searcher kept open."""

    def __init__(self, folder: Path, locale: str) -> None:
        self.locale = locale
        self.ix = index.open_dir(str(folder))
        self.analyzer = analyzer_for(locale)
        self.words = words_analyzer()
        self.searcher = self.ix.searcher(weighting=scoring.BM25F(B=postings.B, K1=postings.K1))
        self.postings = postings.load(folder, FIELDS)
        self.phrases = phrases.load(folder)
        self.docnum = {article_id: n for n, article_id in enumerate(self.postings.ids)}
        # A Whoosh reader keeps one position per open file: threads sharing it (gunicorn --threads) must
        # take turns, or one reads at the other's offset and the search fails. Hold it to use the reader.
        self.lock = threading.RLock()
        self._word_stems: dict[str, tuple[str, ...]] = {}
        self._term_stems: dict[str, tuple[str, ...]] = {}  # synonym -> stems (the writers' list is bounded)
        self._groups: dict[tuple[tuple[str, ...], ...], list[tuple[frozenset[str], list[tuple[str, ...]]]]] = {}
        self._fixes: dict[str, str] = {}  # unknown word -> its correction ("" for none), under the lock
        self._recent: dict[str, tuple[str, ...]] = {}  # text -> stems, oldest first, under the lock

    def stems(self, text: str) -> list[str]:
        """The analyser's stems of ``text``; a question is analysed once, though the keyword search, the
        coverage and the snippets each ask (the last few texts are remembered)."""
        with self.lock:  # the stemmer's cache is not thread-safe either
            found = self._recent.get(text)
            if found is None:
                found = self._recent[text] = self._analyse(text)
                if len(self._recent) > RECENT_TEXTS:
                    del self._recent[next(iter(self._recent))]
            return list(found)

    def _analyse(self, text: str) -> tuple[str, ...]:
        with self.lock:
            return tuple(t.text for t in self.analyzer(text))

    def word_stems(self, word: str) -> tuple[str, ...]:
        """The stems of one word, remembered: a snippet stems every word of its section, and sections repeat."""
        found = self._word_stems.get(word)
        if found is None:
            found = self._analyse(word)  # not through ``stems``: a section's words would push questions out
            if len(self._word_stems) < WORD_STEMS_KEPT:
                self._word_stems[word] = found
        return found

    def corrections(self, query: str, known_word: Callable[[str], bool] | None = None) -> dict[str, str]:
        """Map each misspelt word of ``query`` to the closest word of the articles.

        A word the articles lack is left alone when ``known_word`` says it is a real word (the
        model's vocabulary), so "print" is not "corrected" to "point".
        """
        with self.lock:  # the word analyser's cache is not thread-safe
            words = [t.text for t in self.words(query)]
        unknown = [w for w in words if len(w) >= 4 and LATIN_WORD.fullmatch(w) and w not in self.postings.words]
        unknown = [w for w in unknown if known_word is None or not known_word(w)]
        if not unknown:
            return {}
        with self.lock:  # only an unknown word needs the reader's word graph
            return self._corrections(unknown)

    def _corrections(self, unknown: list[str]) -> dict[str, str]:
        fixed: dict[str, str] = {}
        for word in unknown:
            if word not in self._fixes:  # typeahead asks for the same half-typed words again and again
                if len(self._fixes) >= FIXES_KEPT:
                    self._fixes.clear()
                self._fixes[word] = self._closest(word)
            if self._fixes[word]:
                fixed[word] = self._fixes[word]
        return fixed

    def _closest(self, word: str) -> str:
        """The articles' word closest to ``word`` within one or two edits ("" when none): Whoosh's word graph."""
        reader = self.searcher.reader()
        allowed = 1 if len(word) <= 5 else 2
        # Levenshtein counts a swap of two letters as two edits: look one further, then judge by ours.
        candidates = [c for c in reader.terms_within("words", word, allowed + 1, prefix=1) if c != word]
        scored = [(_distance(word, c), -reader.doc_frequency("words", c), c) for c in candidates]
        scored = [t for t in scored if t[0] <= allowed]
        return min(scored)[2] if scored else ""

    def build_query(
        self, text: str, synonyms: list[list[str]] | None = None, extra_words: Iterable[str] = ()
    ) -> Query | None:
        """OR of the query's stems over every field, plus phrase and synonym boosts."""
        stems = self.stems(text)
        stems += [s for w in extra_words for s in self.stems(w) if s not in stems]
        if not stems:
            return None
        parts: list[Query] = []
        for stem in dict.fromkeys(stems):
            parts.append(Or([Term(f, stem) for f in FIELDS]))
        for group in synonyms or []:
            hit = any(_contains(stems, self.stems(term)) for term in group)
            if hit:
                for term in group:
                    alt = self.stems(term)
                    if alt and not _contains(stems, alt):
                        parts.append(_field_query(alt, boost=0.7))
        if len(stems) >= 2:
            parts.append(Or([Phrase(f, stems, slop=1, boost=2.0) for f in QUERY_PHRASE_FIELDS]))
        return Or(parts)

    def query_terms(
        self, text: str, synonyms: list[list[str]] | None = None, extra_words: Iterable[str] = ()
    ) -> WeightedQuery:
        """What ``build_query`` ORs: each stem with its boost (0.7 for a synonym's), and the phrases."""
        stems = self.stems(text)
        stems += [s for w in extra_words for s in self.stems(w) if s not in stems]
        terms = dict.fromkeys(stems, 1.0)
        phrases: list[PhraseQuery] = []
        present = set(stems)
        for firsts, stemmed in self._synonym_groups(synonyms or []):
            if present.isdisjoint(firsts):
                continue  # none of its spellings can stand in the question
            if any(_contains(stems, list(alt)) for alt in stemmed):
                for alt in stemmed:
                    if len(alt) == 1 and alt[0] not in stems:  # Whoosh adds a repeated alternative twice
                        terms[alt[0]] = terms.get(alt[0], 0.0) + 0.7
                    elif len(alt) > 1 and not _contains(stems, list(alt)):
                        phrases.append(PhraseQuery(alt, SYNONYM_PHRASE_FIELDS, 0.7))
        if len(stems) >= 2:
            phrases.append(PhraseQuery(tuple(stems), QUERY_PHRASE_FIELDS, 2.0))
        return WeightedQuery(terms, phrases)

    def _synonym_groups(self, synonyms: list[list[str]]) -> list[tuple[frozenset[str], list[tuple[str, ...]]]]:
        """Each group's spellings as stems, with the first stem of each: a group whose first stems the
        question lacks cannot match, and a long message need not be searched for it."""
        key = tuple(tuple(group) for group in synonyms)
        found = self._groups.get(key)
        if found is None:
            found = []
            for group in synonyms:
                stemmed = [self.term_stems(term) for term in group]
                found.append((frozenset(alt[0] for alt in stemmed if alt), stemmed))
            self._groups = {key: found}  # one synonyms list per site: keep the latest
        return found

    def term_stems(self, term: str) -> tuple[str, ...]:
        """A synonym's stems, remembered: every query looks at every synonym group."""
        found = self._term_stems.get(term)
        if found is None:
            found = self._term_stems[term] = self._analyse(term)
        return found

    def score(self, query: WeightedQuery, limit: int = 50, category: str | None = None) -> list[KeywordHit]:
        """BM25F top ``limit`` of ``query``, all from the precomputed arrays: terms and phrases."""
        p = self.postings
        total = np.zeros(p.doc_count)
        found = np.zeros(p.doc_count, dtype=bool)
        for stem, boost in query.terms.items():
            docs, weights = p.postings(stem)
            total[docs] += weights if boost == 1.0 else weights * boost
            found[docs] = True
        for phrase in query.phrases:
            for doc, score in self.phrases.score(phrase.stems, phrase.fields, phrase.boost).items():
                total[doc] += score
                found[doc] = True
        if category:
            found &= p.categories == category
        candidates = np.flatnonzero(found)
        return [KeywordHit(p.ids[d], float(total[d])) for d in top_documents(candidates, total[candidates], limit)]

    def matched_stems(self, article_ids: Iterable[str], stems: Iterable[str]) -> dict[str, frozenset[str]]:
        """Which of ``stems`` each article contains (an article of another locale: none)."""
        ids = [i for i in article_ids if i in self.docnum]
        stems = list(stems)
        present = self.contains(ids, stems)
        return {a: frozenset(s for s, has in zip(stems, present[:, n], strict=True) if has) for n, a in enumerate(ids)}

    def contains(self, article_ids: list[str], stems: list[str]) -> np.ndarray:
        """Whether each article (a column) contains each of ``stems`` (a row), in any field; an article of
        another locale contains none. One array, as the coverage of ~180 candidates is summed per stem."""
        docnums = np.array([self.docnum.get(i, -1) for i in article_ids], dtype=np.int64)
        known = docnums >= 0
        present = np.zeros((len(stems), len(article_ids)), dtype=bool)
        for k, stem in enumerate(stems):
            present[k, known] = self.postings.has(stem, docnums[known])
        return present

    def close(self) -> None:
        with self.lock:
            self.searcher.close()


def top_documents(docs: np.ndarray, scores: np.ndarray, limit: int) -> np.ndarray:
    """The ``limit`` best of ``docs`` (ascending docnums) by ``scores``, ties to the lower docnum as Whoosh
    ranks them. Only the top is sorted: a common word matches most of a large help center (sorting all 50,000
    matches was a fifth of a search there)."""
    if len(docs) > limit > 0:
        kth = np.partition(scores, len(scores) - limit)[len(scores) - limit]
        keep = scores >= kth  # every tie at the edge too: which of them goes first is the docnum's call
        docs, scores = docs[keep], scores[keep]
    return docs[np.lexsort((docs, -scores))[:limit]]


def _field_query(stems: list[str], boost: float) -> Query:
    if len(stems) == 1:
        return Or([Term(f, stems[0], boost=boost) for f in FIELDS])
    return Or([Phrase(f, stems, boost=boost) for f in SYNONYM_PHRASE_FIELDS])


def _contains(haystack: list[str], needle: list[str]) -> bool:
    if not needle:
        return False
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _distance(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbouring letters as one edit ("teirs" -> "tiers")."""
    d = [[max(i, j) if i == 0 or j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]
