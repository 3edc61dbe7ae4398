"""Fusing keyword and semantic evidence into one ranking, and the confidence that an answer is right.

Chosen by measurement (bench/README.md has the figures): reciprocal rank fusion and a plain blend of
cosine and normalised BM25 both fell below semantic-only on natural-language questions; a weighted
sum of the MiniLM cosine, a small share of the multilingual cosine, the idf-weighted share of the
query's words the article contains ("coverage") and a small share of normalised BM25 beat both
single modes on all four measured sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Weights of the hybrid score (fitted by grid search, see bench/README.md).
W_SEMANTIC = 1.0
W_MULTILINGUAL = 0.1
W_COVERAGE = 0.2
W_KEYWORD = 0.05


@dataclass
class Candidate:
    """One article with everything both searches said about it."""

    article_id: str
    semantic: float = 0.0  # best passage cosine (MiniLM), 0 when unknown
    semantic_rank: int | None = None
    multilingual: float = 0.0  # best passage cosine (multilingual model), 0 when unknown
    keyword: float = 0.0  # BM25F score, 0 when keyword search did not return it
    keyword_rank: int | None = None
    coverage: float = 0.0  # idf-weighted share of the query's words found in the article
    code_match: bool = False  # the article contains an error code or identifier the query names
    name_match: bool = False  # the article's title has a product name the query mentions (_names.yml)
    other_language: bool = False  # not in the query's language: found by the multilingual model alone
    gloss_semantic: float = 0.0  # MiniLM cosine of the question's English gloss (_glossary.yml) and the article
    gloss_coverage: float = 0.0  # idf-weighted share of the gloss's words the article's English version has
    learned: float = 0.0  # what visitors' votes on similar questions added to the score (kb.learning)
    score: float = 0.0
    confidence: float = 0.0


# Other languages: the multilingual model is the semantic side (MiniLM reads English only); fitted on the
# writers' Korean and Arabic search tests (bench/README.md).
W_OTHER_COVERAGE = 0.1
W_OTHER_KEYWORD = 0.05
# An error code or identifier in the query ("PK-5522") that an article contains decides, in any language.
W_CODE = 0.3
# A product name the query mentions (in any spelling _names.yml declares) that an article's title has;
# fitted with W_OTHER_LANGUAGE on the merchants' fit set and the writers' tests (bench/README.md).
W_NAME = 0.2
# The multilingual model scores a question against its own language's articles higher than against an
# English-only article that answers it better: a small lift for articles in another language (with the
# translated candidates' cosine levelled by their English original's, Searcher._level_languages).
W_OTHER_LANGUAGE = 0.04
# A question in another language, read in English through the writers' glossary: the gloss's MiniLM
# cosine and keyword coverage against each candidate's English version (fitted with the two above).
W_GLOSS_SEMANTIC = 0.3
W_GLOSS_COVERAGE = 0.3


def hybrid(candidates: list[Candidate], english: bool = True) -> None:
    """Score by the weighted sum of both cosines, coverage, normalised BM25, a named code or product."""
    top = max((c.keyword for c in candidates), default=0.0) or 1.0
    coverage, keyword_weight = (W_COVERAGE, W_KEYWORD) if english else (W_OTHER_COVERAGE, W_OTHER_KEYWORD)
    for c in candidates:
        c.score = (
            W_SEMANTIC * c.semantic
            + W_MULTILINGUAL * c.multilingual
            + coverage * c.coverage
            + keyword_weight * c.keyword / top
            + (W_CODE if c.code_match else 0.0)
            + (W_NAME if c.name_match else 0.0)
            + (0.0 if english else W_GLOSS_SEMANTIC * c.gloss_semantic + W_GLOSS_COVERAGE * c.gloss_coverage)
            + (W_OTHER_LANGUAGE if c.other_language and not english else 0.0)
        )


def semantic(candidates: list[Candidate]) -> None:
    """Score by the cosines alone."""
    for c in candidates:
        c.score = W_SEMANTIC * c.semantic + W_MULTILINGUAL * c.multilingual


def keyword(candidates: list[Candidate]) -> None:
    """Score by BM25F alone."""
    for c in candidates:
        c.score = c.keyword


@dataclass(frozen=True)
class Logistic:
    """P(the article answers the query) = sigmoid(bias + a * x + b * y), fitted on labelled queries."""

    bias: float
    a: float
    b: float

    def __call__(self, x: float, y: float) -> float:
        z = self.bias + self.a * x + self.b * y
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# Keyword-only (no model): x = coverage, y = the top BM25 score's lead over the second, relative.
# With the models, kb.search.confidence decides.
KEYWORD_CONFIDENCE = Logistic(bias=-1.684, a=2.171, b=1.164)


def calibrate_keyword_only(candidates: list[Candidate]) -> None:
    """Give every candidate (already sorted best first) its confidence when no model is loaded."""
    if not candidates:
        return
    first = candidates[0].score
    second = candidates[1].score if len(candidates) > 1 else 0.0
    lead = (first - second) / first if first else 0.0
    for c in candidates:
        c.confidence = KEYWORD_CONFIDENCE(c.coverage, lead if c is candidates[0] else 0.0)
