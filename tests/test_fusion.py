"""Fusion and confidence arithmetic on made-up candidates, and the passage matrix with a fake encoder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from kb.config import Settings
from kb.search import confidence, fusion
from kb.search.confidence import QueryShape
from kb.search.fusion import Candidate
from kb.search.vectors import VectorIndex


def candidates() -> list[Candidate]:
    return [
        Candidate(
            "en/a",
            semantic=0.8,
            multilingual=0.5,
            keyword=12.0,
            coverage=1.0,
            keyword_rank=1,
            semantic_rank=2,
        ),
        Candidate("en/b", semantic=0.9, multilingual=0.7, keyword=6.0, coverage=0.5, keyword_rank=2, semantic_rank=1),
        Candidate("en/c", semantic=0.3, multilingual=0.0, semantic_rank=3),
        Candidate("en/d", keyword=3.0, coverage=0.25, keyword_rank=3),
    ]


def test_hybrid_weighs_cosines_coverage_and_bm25_normalised_by_the_best() -> None:
    found = candidates()
    fusion.hybrid(found)
    for c in found:
        expected = (
            fusion.W_SEMANTIC * c.semantic
            + fusion.W_MULTILINGUAL * c.multilingual
            + fusion.W_COVERAGE * c.coverage
            + fusion.W_KEYWORD * c.keyword / 12.0
        )
        assert c.score == pytest.approx(expected)
    by_id = {c.article_id: c.score for c in found}
    assert by_id["en/c"] == pytest.approx(fusion.W_SEMANTIC * 0.3)
    assert by_id["en/d"] == pytest.approx(fusion.W_COVERAGE * 0.25 + fusion.W_KEYWORD * 0.25)


def test_hybrid_is_blind_to_the_scale_of_bm25() -> None:
    plain, scaled = candidates(), candidates()
    for c in scaled:
        c.keyword *= 37.5
    fusion.hybrid(plain)
    fusion.hybrid(scaled)
    assert [c.score for c in plain] == pytest.approx([c.score for c in scaled])


def test_hybrid_without_any_keyword_match_does_not_divide_by_zero() -> None:
    found = [Candidate("en/a", semantic=0.6), Candidate("en/b", semantic=0.4, multilingual=0.5)]
    fusion.hybrid(found)
    assert [c.score for c in found] == pytest.approx(
        [fusion.W_SEMANTIC * 0.6, fusion.W_SEMANTIC * 0.4 + fusion.W_MULTILINGUAL * 0.5]
    )


def test_semantic_uses_only_the_cosines() -> None:
    found = candidates()
    fusion.semantic(found)
    assert [c.score for c in found] == pytest.approx(
        [fusion.W_SEMANTIC * c.semantic + fusion.W_MULTILINGUAL * c.multilingual for c in found]
    )
    assert found[3].score == 0.0  # found by keywords only


def test_keyword_is_the_bm25_score() -> None:
    found = candidates()
    fusion.keyword(found)
    assert [c.score for c in found] == [12.0, 6.0, 0.0, 3.0]


def ranked(scores: list[float], words: int = 6) -> list[Candidate]:
    """Candidates with only a fused score, calibrated by the shipped model for an English question."""
    found = [Candidate(f"en/{i}", score=s, semantic=s) for i, s in enumerate(scores)]
    found.sort(key=lambda c: -c.score)
    confidence.calibrate(found, QueryShape(words), confidence.load_model())
    return found


def test_the_first_three_share_the_chance_that_one_of_them_answers() -> None:
    found = ranked([0.9, 0.7, 0.65, 0.3, 0.0])
    sure = found[0].confidence
    assert 0.0 < sure < 1.0
    assert [c.confidence for c in found] == [sure, sure, sure, 0.0, 0.0]  # the form never shows the rest


@pytest.mark.parametrize("third", [0.8, 0.6, 0.4])
def test_three_that_stand_clear_of_the_rest_are_surer(third: float) -> None:
    """The form shows three: what counts is how far they stand from the fourth and beyond."""
    closer = ranked([0.9, 0.85, min(0.84, third + 0.1), third])[0].confidence
    clearer = ranked([0.9, 0.85, third, third - 0.1])[0].confidence
    assert clearer > closer


def test_a_higher_score_is_surer() -> None:
    assert ranked([0.9, 0.5, 0.4])[0].confidence > ranked([0.6, 0.2, 0.1])[0].confidence


def test_a_model_fitted_for_other_features_is_refused(tmp_path: Path) -> None:
    saved = json.loads(confidence.WEIGHTS_FILE.read_text(encoding="utf-8"))
    saved["features"] = saved["features"][:-1]
    stale = tmp_path / "confidence.json"
    stale.write_text(json.dumps(saved), encoding="utf-8")
    with pytest.raises(ValueError, match="rerun the fit"):
        confidence.load_model(stale)


def test_the_default_threshold_is_the_fitted_one() -> None:
    """KB_SUGGEST_THRESHOLD's default and the threshold bench/fit_confidence.py chose cannot drift apart."""
    saved = json.loads(confidence.WEIGHTS_FILE.read_text(encoding="utf-8"))
    assert Settings().suggest_threshold == saved["threshold"]


def keyword_ranked(pairs: list[tuple[float, float]]) -> list[Candidate]:
    """(BM25, coverage) pairs, calibrated as keyword-only search does it."""
    found = [Candidate(f"en/{i}", keyword=k, coverage=cov) for i, (k, cov) in enumerate(pairs)]
    fusion.keyword(found)
    found.sort(key=lambda c: -c.score)
    fusion.calibrate_keyword_only(found)
    return found


def test_keyword_only_confidence_rises_with_coverage_and_with_the_lead() -> None:
    low, high = keyword_ranked([(10.0, 0.2)])[0], keyword_ranked([(10.0, 0.9)])[0]
    assert high.confidence > low.confidence
    narrow = keyword_ranked([(10.0, 0.8), (9.5, 0.8)])
    wide = keyword_ranked([(10.0, 0.8), (2.0, 0.8)])
    assert wide[0].confidence > narrow[0].confidence
    assert narrow[1].confidence == pytest.approx(wide[1].confidence)  # the lead counts for the top only
    assert narrow[0].confidence > narrow[1].confidence


def test_calibrating_nothing_is_fine() -> None:
    """No candidates has no top score to read: calibrate must return, not raise IndexError."""
    empty: list[Candidate] = []
    confidence.calibrate(empty, QueryShape(0), confidence.load_model())
    fusion.calibrate_keyword_only(empty)


def test_logistic_is_clamped_and_monotone() -> None:
    model = fusion.Logistic(bias=-1.0, a=2.0, b=1.0)
    assert model(0.0, 0.0) == pytest.approx(1 / (1 + math.e))
    assert model(1e9, 0.0) == pytest.approx(1.0)
    assert model(-1e9, 0.0) == pytest.approx(0.0)
    assert model(0.5, 0.1) < model(0.6, 0.1) < model(0.6, 0.2)


class FakeEncoder:
    """Maps known words to fixed unit vectors: enough to check the passage matrix arithmetic."""

    name = "fake"
    dim = 3
    AXES = {"points": 0, "billing": 1, "install": 2}

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                if word in self.AXES:
                    out[row, self.AXES[word]] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def passages() -> VectorIndex:
    encoder = FakeEncoder()
    texts = ["points", "points billing", "billing", "install", "install points"]
    ids = ["en/a", "en/a", "en/b", "en/c", "en/c"]
    return VectorIndex(encoder.encode(texts), ids, ["", "x", "", "", "y"], ["", "X", "", "", "Y"])


def test_best_passage_per_article_and_its_row() -> None:
    index = passages()
    query = FakeEncoder().encode_query("billing")
    best = index.best_per_article(query)
    assert index.articles == ["en/a", "en/b", "en/c"]
    assert best.tolist() == pytest.approx([math.sqrt(0.5), 1.0, 0.0])
    assert index.best_row("en/a", query) == 1
    assert index.anchors[index.best_row("en/c", FakeEncoder().encode_query("points"))] == "y"


def test_top_orders_by_cosine_and_respects_the_allowed_set() -> None:
    index = passages()
    best = index.best_per_article(FakeEncoder().encode_query("points"))
    assert [a for a, _ in index.top(best, 10)] == ["en/a", "en/c", "en/b"]
    assert [a for a, _ in index.top(best, 1)] == ["en/a"]
    assert [a for a, _ in index.top(best, 10, allowed={"en/b", "en/c"})] == ["en/c", "en/b"]
    assert index.top(best, 10, allowed=set()) == []


def test_passages_of_one_article_must_be_adjacent() -> None:
    vectors = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError):
        VectorIndex(vectors, ["en/a", "en/b", "en/a"], ["", "", ""], ["", "", ""])
