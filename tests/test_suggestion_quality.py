"""Suggestions for questions as merchants write them, on the demo help center and its index (real models).

The questions here are written for these tests; none comes from bench/eval (the held-out set stays unseen
by tests too) nor from the writers' _search_tests.yml.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MODELS, PROJECT, write_tree

from kb.checks import check
from kb.config import Settings
from kb.content import load_library
from kb.search import Searcher, open_searcher
from kb.search.glossary import load_glossary
from kb.search.names import load_names


@pytest.fixture(scope="module")
def demo() -> Searcher:
    library = load_library(PROJECT / "articles")
    return open_searcher(PROJECT / "search_index", library, Settings(), MODELS)


def slugs(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.article.slug for h in hits]


LONG_MESSAGE = (
    "Points never showed up after an order "
    "Hi there, hope you are all well! One of our regulars placed an order on Tuesday and paid in full, "
    "but today her account still shows the same balance as before the purchase. The order is marked as "
    "paid in our store admin and she is a bit upset. Is there anything we have to do on our side? "
    "Many thanks, Tom"
)


def test_a_long_message_with_a_greeting_finds_and_suggests_its_article(demo: Searcher) -> None:
    suggested = demo.suggest(LONG_MESSAGE, "en")
    assert "points-missing-after-order" in slugs(suggested)


def test_a_long_message_is_read_whole_not_cut_at_300_characters(demo: Searcher) -> None:
    """The part that says what is wrong comes last here, after 300 characters of context."""
    message = (
        "Question about our account "
        "Hello team, we are a small family business selling handmade candles and soaps from our workshop, "
        "we joined you last spring and our customers really enjoy collecting rewards on every order they "
        "place with us. Everything has been running smoothly for months and we are very happy. "
        "Now my business partner is leaving and needs to hand the account over to me: how do I become "
        "the owner of the account?"
    )
    ranked = [c.article_id for c in demo.rank(message, "en")[0][:3]]
    assert "en/transfer-account-ownership" in ranked


@pytest.mark.parametrize(
    ("question", "locale", "slug"),
    [
        ("재피어랑 연결해서 리뷰 남기면 포인트 주고 싶어요", "ko", "connect-zapier"),
        ("كيف أربط المتجر مع كلافيو لإرسال رصيد النقاط في الرسائل؟", "ar", "connect-klaviyo"),
    ],
)
def test_a_product_name_in_another_script_finds_the_english_article(
    demo: Searcher, question: str, locale: str, slug: str
) -> None:
    ranked = [c.article_id for c in demo.rank(question, locale)[0][:3]]
    assert f"en/{slug}" in ranked


@pytest.mark.parametrize(
    ("question", "locale", "slug"),
    [
        ("영수증이랑 세금계산서는 어디서 다운로드하나요?", "ko", "invoices-and-receipts"),
        ("كيف أغير كلمة المرور إذا نسيتها؟", "ar", "reset-password-and-unlock-account"),
    ],
)
def test_a_question_read_through_the_glossary_finds_the_english_only_article(
    demo: Searcher, question: str, locale: str, slug: str
) -> None:
    """No article in the question's language covers it; the glossary reads its words in English."""
    assert demo.library.get(locale, slug) is None
    assert demo._gloss(question, locale)[0]
    ranked = [c.article_id for c in demo.rank(question, locale)[0][:3]]
    assert ranked[0] == f"en/{slug}"


@pytest.mark.parametrize(
    ("question", "locale", "slug"),
    [
        ("로그인 이메일 주소를 바꾸고 싶어요", "ko", "change-account-email"),
        ("الطلبات تظهر مرتين والنقاط تنحسب مرتين", "ar", "orders-imported-twice"),
        ("كيف أمنع العميل من إحالة نفسه بحسابات متعددة؟", "ar", "referral-fraud-protection"),
    ],
)
def test_an_english_only_answer_is_not_outranked_by_a_nearby_article_in_the_visitors_language(
    demo: Searcher, question: str, locale: str, slug: str
) -> None:
    """The multilingual model rates a same-language pair higher than a cross-language one; a translated
    article is judged by its English original too, so the English-only answer comes first (each of these
    ranked a translated neighbour first before)."""
    assert demo.library.get(locale, slug) is None
    assert demo.rank(question, locale)[0][0].article_id == f"en/{slug}"


@pytest.mark.parametrize(
    "question",
    [
        "Can you design a new logo for my bakery and print business cards?",
        "Hi, my delivery van broke down this morning, do you know a good mechanic near Leeds? Thanks, Sam",
    ],
)
def test_a_question_nobody_can_answer_still_gets_no_suggestion(demo: Searcher, question: str) -> None:
    assert demo.suggest(question, "en") == []


def test_names_become_the_articles_spelling_before_search_reads_them(tmp_path: Path) -> None:
    write_tree(tmp_path, {"_names.yml": "Zapier: [재피어, زابير]\nKlaviyo: [클라비요]\n"})
    names, problems = load_names(tmp_path)
    assert problems == []
    assert names.canonical("재피어로 자동화") == "Zapier 로 자동화"
    assert names.canonical("اربط بزابير") == "اربط ب Zapier"
    assert names.mentioned("클라비요와 zapier") == {"klaviyo", "zapier"}
    assert names.canonical("nothing to replace") == "nothing to replace"


def test_the_glossary_reads_each_language_as_its_writers_declared(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "_glossary.yml": (
                "points:\n  fr: [point, points]\n  ko: [포인트]\n  ar: [نقاط]\n"
                "free trial:\n  fr: [essai gratuit]\n  ko: [무료 체험]\n"
            )
        },
    )
    glossary, problems = load_glossary(tmp_path)
    assert problems == []
    assert glossary.gloss("포인트를 무료 체험 중에도 쓸 수 있나요", "ko") == ["points", "free trial"]
    assert glossary.gloss("هل تنتهي النقاط؟", "ar") == ["points"]  # the article ال is not part of the word
    assert glossary.gloss("Mes points en essai gratuit", "fr") == ["points", "free trial"]
    assert glossary.gloss("disappointed", "fr") == []  # a spelling stands as a whole word outside ko and ar
    assert glossary.gloss("points", "en") == []


def test_broken_names_and_glossary_are_reported_with_their_line(tmp_path: Path) -> None:
    write_tree(
        tmp_path / "articles",
        {
            "_names.yml": "Zapier: [재피어]\nKlaviyo: 3\nMailchimp: [재피어]\n",
            "_glossary.yml": "points:\n  ko: [포인트]\nrefund: just a word\n",
        },
    )
    problems = [str(p) for p in check(tmp_path / "articles", "en").problems]
    assert any(p.startswith("_names.yml:2:") for p in problems)
    assert any(p.startswith("_names.yml:3:") and "already stands for Zapier" in p for p in problems)
    assert any(p.startswith("_glossary.yml:3:") for p in problems)
