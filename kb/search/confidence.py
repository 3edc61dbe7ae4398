"""How sure we are that one of the first three articles answers a question, whatever its shape.

The contact form shows suggestions only when this is high enough; a wrong suggestion costs the merchant
more than none. A two-number model (top score and margin) fitted on short search tests was sure only of
questions that look like them: a four-sentence message with a greeting scores lower than a short query
for the same article. So the model also reads the question's length, the words no article contains,
the language, and what each side said about the first three. Fitted by ``bench/fit_confidence.py`` on
realistic messages and short queries together (figures in bench/README.md); the weights live in
``confidence.json`` beside this module, written by that script.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from kb.search.fusion import Candidate

WEIGHTS_FILE = Path(__file__).with_name("confidence.json")
SHOWN = 3  # the contact form shows at most three articles: the confidence is that one of them answers

FEATURES = (
    "score",  # the first article's fused score
    "lead_second",  # its lead over the second
    "lead_third",  # and over the third
    "coverage",  # idf-weighted share of the question's words the first article contains
    "coverage_second",
    "keyword",  # the first article's BM25, relative to the best BM25
    "keyword_rank",  # 1 / its rank on the keyword side (0: not found there)
    "semantic_rank",  # 1 / its rank on the semantic side
    "semantic",  # its MiniLM cosine (0 outside English)
    "multilingual",  # its multilingual cosine
    "code",  # it contains an error code the question names
    "name",  # its title has a product name the question mentions
    "log_words",  # log(1 + words in the question): long messages score lower for the same answer
    "unknown",  # idf-weighted share of the question's words that no article contains
    "log_unknown",  # log(1 + how many such words)
    "gloss_semantic",  # outside English: MiniLM cosine of the question's English gloss and the first article
    "gloss_coverage",  # and the share of the gloss's words it has
    "other_language",  # the first article is not in the question's language
    "not_english",
)


@dataclass(frozen=True)
class QueryShape:
    """What the confidence needs to know about the question itself."""

    words: int
    unknown: float = 0.0
    unknown_count: int = 0
    english: bool = True


def features(ranked: list[Candidate], shape: QueryShape) -> list[float]:
    """The model's inputs for candidates sorted best first (at least one)."""
    first = ranked[0]
    second = ranked[1] if len(ranked) > 1 else None
    third = ranked[2] if len(ranked) > 2 else None
    top_keyword = max((c.keyword for c in ranked), default=0.0) or 1.0
    values = {
        "score": first.score - first.learned,  # what visitors taught reorders; it was not fitted here
        "lead_second": first.score - (second.score if second else 0.0),
        "lead_third": first.score - (third.score if third else 0.0),
        "coverage": first.coverage,
        "coverage_second": second.coverage if second else 0.0,
        "keyword": first.keyword / top_keyword,
        "keyword_rank": 1.0 / first.keyword_rank if first.keyword_rank else 0.0,
        "semantic_rank": 1.0 / first.semantic_rank if first.semantic_rank else 0.0,
        "semantic": first.semantic,
        "multilingual": first.multilingual,
        "code": float(first.code_match),
        "name": float(first.name_match),
        "log_words": math.log1p(shape.words),
        "unknown": shape.unknown,
        "log_unknown": math.log1p(shape.unknown_count),
        "gloss_semantic": first.gloss_semantic,
        "gloss_coverage": first.gloss_coverage,
        "other_language": float(first.other_language),
        "not_english": float(not shape.english),
    }
    return [values[name] for name in FEATURES]


@dataclass(frozen=True)
class Model:
    """Logistic regression over standardised features."""

    bias: float
    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def __call__(self, x: list[float]) -> float:
        z = self.bias + sum(w * (v - m) / s for w, v, m, s in zip(self.weights, x, self.mean, self.scale, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def as_json(self) -> dict[str, object]:
        return {
            "features": list(FEATURES),
            "bias": self.bias,
            "weights": list(self.weights),
            "mean": list(self.mean),
            "scale": list(self.scale),
        }


def load_model(path: Path = WEIGHTS_FILE) -> Model:
    """The fitted model; a file whose features are not this module's is a build error, not a guess."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{path}: fitted for features {data['features']}, not {list(FEATURES)}: rerun the fit")
    return Model(float(data["bias"]), tuple(data["weights"]), tuple(data["mean"]), tuple(data["scale"]))


def calibrate(ranked: list[Candidate], shape: QueryShape, model: Model) -> None:
    """Give the first three candidates (sorted best first) the chance that one of them answers; the
    rest get nothing: the form never shows them."""
    if not ranked:
        return
    sure = model(features(ranked, shape))
    for position, c in enumerate(ranked):
        c.confidence = sure if position < SHOWN else 0.0
