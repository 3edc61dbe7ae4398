"""The Searcher with the real models on small real trees: keywords, meaning, fusion, suggestions, typos."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from conftest import MINI_ARTICLES, MODELS, write_tree

from kb.config import Settings
from kb.content import load_library
from kb.search import Searcher, open_searcher
from kb.search.indexer import build_index
from kb.search.keyword import analyzer_for

REFERRALS = """\
    ---
    title: Set up your referral program
    summary: Reward customers who bring their friends to your store.
    tags: [referrals]
    ---

    A referral program gives a customer a reward for each friend who places a first order.

    ## Turn on referrals

    Go to **Perkly admin > Referrals**, choose the reward for the advocate and for the friend, and save.
    """

WIDER = {
    **MINI_ARTICLES,
    "en/referrals/set-up-referrals.md": REFERRALS,
    "_synonyms.yml": "- cancel = unsubscribe = stop paying\n- points = credits\n",
}


def open_tree(root: Path, settings: dict | None = None) -> Searcher:
    """Open the index of the tree at ``root`` as the app does, with the default settings."""
    return open_searcher(
        root / "search_index", load_library(root / "articles"), Settings.from_mapping(settings or {}), MODELS
    )


@pytest.fixture(scope="module")
def searcher(indexed_root: Path) -> Searcher:
    return open_tree(indexed_root)


@pytest.fixture(scope="module")
def wider(tmp_path_factory: pytest.TempPathFactory) -> Searcher:
    """The mini tree plus a referrals article and the writers' synonyms, indexed with the real models."""
    root = tmp_path_factory.mktemp("wider")
    write_tree(root / "articles", WIDER)
    build_index(load_library(root / "articles"), root / "search_index", MODELS.embedders(Settings()))
    return open_tree(root)


def ids(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.id for h in hits]


# -- keywords ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
def test_an_error_code_finds_its_article_first(searcher: Searcher, mode: str) -> None:
    result = searcher.search("PK-4011", "en", mode=mode)
    assert ids(result.hits)[0] == "en/install-on-shopify"
    assert result.hits[0].anchor == "troubleshooting"


def test_an_error_code_is_one_word_not_two(searcher: Searcher) -> None:
    assert ids(searcher.search("PK-4011", "en", mode="keyword").hits) == ["en/install-on-shopify"]
    assert searcher.search("PK-4012", "en", mode="keyword").hits == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Store connection expired", "en/install-on-shopify"),
        ("Shopify App Store", "en/install-on-shopify"),
        ("Cancel subscription", "en/cancel-your-subscription"),
        ("points expiry", "en/set-up-points-expiry"),
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
def test_an_exact_product_phrase_finds_its_article_first(
    searcher: Searcher, query: str, expected: str, mode: str
) -> None:
    assert ids(searcher.search(query, "en", mode=mode).hits)[0] == expected


def test_french_analyser_folds_accents_and_stems(tmp_path: Path) -> None:
    french = """\
        ---
        title: Inviter votre équipe
        summary: Donnez accès à l'administration aux membres de l'équipe.
        ---

        Chaque membre de l'équipe reçoit un e-mail d'invitation.
        """
    root = write_tree(
        tmp_path,
        {
            "articles/fr/compte/inviter-equipe.md": french,
            "articles/fr/compte/facturation.md": "---\ntitle: Facturation\n---\n\nLa facture.\n",
        },
    )
    build_index(load_library(root / "articles"), root / "search_index", {})
    searcher = open_tree(root)
    for query in ("equipe", "équipe", "EQUIPES", "Équipe"):
        assert ids(searcher.search(query, "fr", mode="keyword").hits) == ["fr/inviter-equipe"], query
    analyse = analyzer_for("fr")
    assert [t.text for t in analyse("équipe")] == [t.text for t in analyse("equipe")]


# -- meaning -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected", "anchor"),
    [
        ("I no longer want to be charged", "en/cancel-your-subscription", "cancel-your-plan"),
        ("how long until balances lapse", "en/set-up-points-expiry", "turn-on-expiry"),
    ],
)
def test_a_paraphrase_without_shared_words_finds_the_article(
    searcher: Searcher, query: str, expected: str, anchor: str
) -> None:
    assert searcher.search(query, "en", mode="keyword").hits == []  # no word in common with any article
    for mode in ("hybrid", "semantic"):
        top = searcher.search(query, "en", mode=mode).hits[0]
        assert top.id == expected, mode
        assert top.anchor == anchor
        assert top.url == f"/{expected.replace('/', '/articles/')}#{anchor}"


@pytest.mark.parametrize(
    ("query", "expected", "anchor"),
    [
        ("do you give money back for the rest of the month", "en/cancel-your-subscription", "refunds"),
        (
            "will my customers get an email reminder before their balance runs out",
            "en/set-up-points-expiry",
            "warn-customers-before-points-expire",
        ),
        ("switch the loyalty program live", "en/launch-your-program", "go-live"),
    ],
)
def test_the_hit_links_to_the_section_that_answers(searcher: Searcher, query: str, expected: str, anchor: str) -> None:
    top = searcher.search(query, "en").hits[0]
    assert (top.id, top.anchor) == (expected, anchor)
    assert top.url.endswith(f"#{anchor}")
    section = next(s for s in top.article.sections if s.anchor == anchor)
    assert top.heading == section.heading


# -- fusion and results ------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["points", "launch the program", "how do I cancel", "shopify store points expiry"])
def test_hybrid_ranks_articles_not_passages(searcher: Searcher, query: str) -> None:
    result = searcher.search(query, "en", limit=50)
    found = ids(result.hits)
    assert len(found) == len(set(found)) == result.total
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    assert all(0.0 <= h.confidence <= 1.0 for h in result.hits)


def test_pages_of_results_do_not_overlap(searcher: Searcher) -> None:
    everything = ids(searcher.search("points program", "en", limit=50).hits)
    pages = [ids(searcher.search("points program", "en", limit=2, offset=o).hits) for o in (0, 2, 4)]
    assert pages[0] + pages[1] + pages[2] == everything


def test_category_filter_keeps_only_that_category(searcher: Searcher) -> None:
    result = searcher.search("points", "en", category="billing")
    assert ids(result.hits) == ["en/cancel-your-subscription"]
    assert searcher.search("points", "en", category="no-such-category").hits == []


def test_drafts_are_never_found(searcher: Searcher) -> None:
    assert "en/draft-tiktok-points" not in ids(searcher.search("TikTok follows points", "en", limit=50).hits)


def test_snippet_marks_the_query_words_and_escapes_the_text(searcher: Searcher) -> None:
    top = searcher.search("turn on points expiry", "en").hits[0]
    assert top.id == "en/set-up-points-expiry"
    text = str(top.snippet)
    assert "<mark>" in text and "expiry" in text.lower()
    assert "&gt;" in text and " > " not in text  # "Perkly admin > Program" is text, not markup


def test_snippet_never_carries_markup_from_the_query(searcher: Searcher) -> None:
    for hit in searcher.search("<b>launch</b> <script>alert(1)</script> program", "en").hits:
        text = str(hit.snippet)
        assert "<script" not in text and "<b>" not in text
        assert text.replace("<mark>", "").replace("</mark>", "").count("<") == 0


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
def test_an_empty_query_finds_nothing(searcher: Searcher, query: str) -> None:
    result = searcher.search(query, "en")
    assert (result.hits, result.total, result.did_you_mean) == ([], 0, "")
    assert searcher.suggest(query, "en") == []


@pytest.mark.parametrize("query", ["!!!", "\x00", "a\x00b", "?" * 5000, "points " * 2000, "💥🔥", "'\"--;"])
def test_odd_queries_give_a_result_not_an_error(searcher: Searcher, query: str) -> None:
    result = searcher.search(query, "en")
    assert len(result.hits) <= 10 and result.total >= len(result.hits)
    assert len(set(ids(result.hits))) == len(result.hits)
    assert len(searcher.suggest(query, "en")) <= 3


def test_unknown_mode_is_refused(searcher: Searcher) -> None:
    with pytest.raises(ValueError):
        searcher.search("points", "en", mode="fuzzy")


# -- suggestions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("how do I cancel my subscription", "en/cancel-your-subscription"),
        ("how do I install perkly on shopify", "en/install-on-shopify"),
        ("I get error PK-4011", "en/install-on-shopify"),
    ],
)
def test_a_clear_question_suggests_the_article(searcher: Searcher, query: str, expected: str) -> None:
    suggested = searcher.suggest(query, "en")
    assert 1 <= len(suggested) <= 3
    assert suggested[0].id == expected
    assert all(h.confidence >= searcher.threshold for h in suggested)


@pytest.mark.parametrize(
    "query", ["how do I bake sourdough bread", "what is the capital of Mongolia", "my dog ate my homework"]
)
def test_an_unrelated_question_suggests_nothing(searcher: Searcher, query: str) -> None:
    assert searcher.suggest(query, "en") == []


def test_suggestions_are_at_most_three(searcher: Searcher) -> None:
    for query in ("perkly", "points program store", "launch install cancel expiry"):
        assert len(searcher.suggest(query, "en", threshold=0.0)) == 3
    assert len(searcher.suggest("perkly", "en", limit=1, threshold=0.0)) == 1


def test_suggestions_follow_the_threshold(searcher: Searcher) -> None:
    query = "how do I cancel my subscription"
    assert searcher.suggest(query, "en", threshold=1.01) == []
    assert ids(searcher.suggest(query, "en"))[0] == "en/cancel-your-subscription"


# -- synonyms and typos ------------------------------------------------------------------------------


def test_synonyms_widen_keyword_search(searcher: Searcher, wider: Searcher) -> None:
    assert searcher.search("unsubscribe", "en", mode="keyword").hits == []  # no synonyms there
    assert ids(wider.search("unsubscribe", "en", mode="keyword").hits) == ["en/cancel-your-subscription"]
    assert ids(wider.search("credits expire", "en", mode="keyword").hits)[0] == "en/set-up-points-expiry"


@pytest.mark.parametrize(
    ("query", "expected", "corrected"),
    [
        ("refferal programm", "en/set-up-referrals", "referral program"),
        ("cancle my subscripton", "en/cancel-your-subscription", "cancel my subscription"),
        ("lanch the programm", "en/launch-your-program", "launch the program"),
    ],
)
@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
def test_a_misspelt_query_still_finds_the_article(
    wider: Searcher, query: str, expected: str, corrected: str, mode: str
) -> None:
    result = wider.search(query, "en", mode=mode)
    assert ids(result.hits)[0] == expected
    assert result.did_you_mean == corrected


@pytest.mark.parametrize("query", ["print", "launch the program", "PK-4011", "shopify"])
def test_a_real_word_is_not_corrected(wider: Searcher, query: str) -> None:
    assert wider.search(query, "en").did_you_mean == ""


# -- without the models ------------------------------------------------------------------------------


def test_search_runs_on_keywords_when_the_model_is_missing(
    indexed_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = str(tmp_path / "no-such-model")
    with caplog.at_level(logging.WARNING):
        searcher = open_tree(indexed_root, {"EMBEDDING_MODEL": missing, "MULTILINGUAL_MODEL": ""})
    status = searcher.status()
    assert status["semantic"] is False
    assert status["reason"]
    assert status["models"] == {}
    assert any("semantic search is off" in r.getMessage() and missing in r.getMessage() for r in caplog.records)
    assert any(
        "semantic search is off" in r.getMessage() and status["reason"] in r.getMessage() for r in caplog.records
    )
    assert ids(searcher.search("PK-4011", "en").hits) == ["en/install-on-shopify"]
    assert (
        ids(searcher.search("cancel subscription", "en", mode="semantic").hits)[0] == "en/cancel-your-subscription"
    )  # asked for meaning, served by keywords
    assert searcher.search("I no longer want to be charged", "en").hits == []
    assert ids(searcher.suggest("how do I cancel my subscription", "en"))[:1] == ["en/cancel-your-subscription"]
    assert searcher.suggest("how do I bake sourdough bread", "en") == []


def test_an_index_built_without_models_serves_keywords(tmp_path: Path) -> None:
    root = write_tree(tmp_path, {f"articles/{k}": v for k, v in MINI_ARTICLES.items()})
    report = build_index(load_library(root / "articles"), root / "search_index", {})
    assert "keyword only" in report.summary()
    searcher = open_tree(root)  # the models load, but the index has no vectors for them
    assert searcher.status()["semantic"] is False
    assert "kb index" in searcher.status()["reason"]
    assert ids(searcher.search("PK-4011", "en").hits) == ["en/install-on-shopify"]


# -- the shared Whoosh reader ------------------------------------------------------------------------


class CountedLock:
    """The index's real lock, counting how deep it is held (the race itself cannot be produced on demand)."""

    def __init__(self, lock: Any) -> None:
        self.lock, self.depth = lock, 0

    def __enter__(self) -> CountedLock:
        self.lock.acquire()
        self.depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        self.lock.release()


class GuardedReader:
    """The real reader, failing the test when it is used while its lock is not held."""

    def __init__(self, reader: Any, lock: CountedLock) -> None:
        self.reader, self.lock = reader, lock

    def __getattr__(self, name: str) -> Any:
        assert self.lock.depth > 0, f"reader.{name} used outside the index lock"
        return getattr(self.reader, name)


class GuardedSearcher:
    """The real Whoosh searcher, whose reader() hands out a GuardedReader."""

    def __init__(self, searcher: Any, lock: CountedLock) -> None:
        self.searcher, self.lock = searcher, lock

    def reader(self) -> GuardedReader:
        return GuardedReader(self.searcher.reader(), self.lock)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.searcher, name)


@pytest.mark.parametrize("query", ["PK-4011 store connection", "how do points expire"])
def test_the_shared_reader_is_only_read_under_its_lock(
    searcher: Searcher, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    kw = searcher.keyword["en"]
    lock = CountedLock(kw.lock)
    monkeypatch.setattr(kw, "lock", lock)
    monkeypatch.setattr(kw, "searcher", GuardedSearcher(kw.searcher, lock))
    for mode in ("hybrid", "keyword"):
        assert searcher.search(query, "en", mode=mode).hits
