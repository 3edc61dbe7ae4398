"""Feedback under articles through the real endpoints, CSRF on: Yes / No, one follow-up, limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from sqlalchemy import select
from visitors import Visitor

from kb.db import session_scope
from kb.models import ContactOpened, Vote

ARTICLE = "en/set-up-points-expiry"


@pytest.fixture
def site(articles_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The mini help center (no index needed for article pages), CSRF on as in production."""
    return make_app(articles_dir, tmp_path / "search_index", tmp_path / "kb.sqlite3", WTF_CSRF_ENABLED=True)


def votes(app: Any) -> list[Vote]:
    with session_scope(app) as session:
        return list(session.scalars(select(Vote).order_by(Vote.id)).all())


def revision_of(app: Any, article_id: str) -> str:
    with app.app_context():
        from kb.site_state import library

        return library().by_id(article_id).revision


def test_every_article_asks_with_a_form_that_works_without_javascript(site: Any) -> None:
    html = Visitor(site).read(ARTICLE, query="points expire")
    assert "Did this answer your question?" in html
    assert 'action="/feedback"' in html and 'name="csrf_token"' in html
    assert f'name="article_id" value="{ARTICLE}"' in html
    assert 'name="query" value="points expire"' in html  # the search that led here, kept for the vote
    assert 'name="helpful" value="yes"' in html and 'name="helpful" value="no"' in html
    assert "js/feedback.js" in html


def test_yes_returns_to_the_article_with_a_thank_you_shown_once(site: Any) -> None:
    visitor = Visitor(site)
    response = visitor.vote(ARTICLE, True, query="do points expire")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/en/articles/set-up-points-expiry#feedback")
    html = visitor.read(ARTICLE)
    assert "Thank you for your feedback." in html
    assert '<form class="feedback-vote" method="post" action="/feedback" hidden>' in html  # no more questions
    assert "Thank you for your feedback.</p>" not in visitor.read(ARTICLE)  # once only; next time it asks
    [vote] = votes(site)
    assert (vote.article_id, vote.helpful, vote.source, vote.query) == (
        ARTICLE,
        True,
        "article",
        "do points expire",
    )
    assert vote.revision == revision_of(site, ARTICLE) and vote.revision
    assert vote.visitor == visitor.id


def test_no_asks_one_follow_up_and_then_no_more(site: Any) -> None:
    visitor = Visitor(site)
    assert visitor.vote(ARTICLE, False).status_code == 303
    html = visitor.read(ARTICLE)
    assert '<form class="feedback-reason" method="post" action="/feedback">' in html  # the follow-up, shown
    assert '<form class="feedback-vote" method="post" action="/feedback" hidden>' in html
    for reason in ("not_answered", "out_of_date", "hard_to_follow", "missing"):
        assert f'value="{reason}"' in html
    response = visitor.say_why(ARTICLE, "out_of_date", "The menu is now called Settings > Expiry.")
    assert response.status_code == 303
    html = visitor.read(ARTICLE)
    assert "Thank you for your feedback." in html
    assert '<form class="feedback-reason" method="post" action="/feedback" hidden>' in html
    [vote] = votes(site)
    assert (vote.helpful, vote.reason, vote.comment) == (
        False,
        "out_of_date",
        "The menu is now called Settings > Expiry.",
    )


def test_voting_again_changes_the_one_vote(site: Any) -> None:
    visitor = Visitor(site)
    visitor.vote(ARTICLE, False)
    visitor.say_why(ARTICLE, "missing", "no screenshots")
    visitor.vote(ARTICLE, True)
    [vote] = votes(site)
    assert vote.helpful is True and vote.reason is None and vote.comment is None
    Visitor(site).vote(ARTICLE, False)  # someone else: a second row
    assert len(votes(site)) == 2


def test_with_javascript_each_step_answers_json(site: Any) -> None:
    visitor = Visitor(site)
    answer = visitor.vote(ARTICLE, False, as_json=True)
    assert answer.status_code == 200 and answer.get_json() == {"step": "reason", "helpful": False}
    answer = visitor.say_why(ARTICLE, "hard_to_follow", as_json=True)
    assert answer.get_json() == {"step": "thanks", "helpful": False}
    answer = visitor.vote(ARTICLE, True, as_json=True)
    assert answer.get_json() == {"step": "thanks", "helpful": True}
    assert votes(site)[0].helpful is True


def test_a_post_without_the_token_stores_nothing(site: Any) -> None:
    visitor = Visitor(site)
    visitor.read(ARTICLE)
    data = {"article_id": ARTICLE, "step": "vote", "helpful": "no"}
    response = visitor.client.post("/feedback", data=data, headers={"Accept": "application/json"})
    assert response.status_code == 400
    response = visitor.client.post("/feedback", data=data)
    assert response.status_code == 303  # back to the article, which says the answer was not saved
    assert "could not save your answer" in visitor.read(ARTICLE)
    assert votes(site) == []


@pytest.mark.parametrize(
    ("reason", "comment", "problem"),
    [
        ("missing", "x" * 1001, "under 1000 characters"),
        ("because", "", "Choose one of the reasons"),
    ],
)
def test_follow_up_is_length_limited_and_checked(site: Any, reason: str, comment: str, problem: str) -> None:
    visitor = Visitor(site)
    visitor.vote(ARTICLE, False)
    answer = visitor.say_why(ARTICLE, reason, comment, as_json=True)
    assert answer.status_code == 422 and problem in answer.get_json()["error"]
    response = visitor.say_why(ARTICLE, reason, comment)
    assert response.status_code == 303
    html = visitor.read(ARTICLE)
    assert problem in html and '<form class="feedback-reason" method="post" action="/feedback">' in html
    [vote] = votes(site)
    assert vote.helpful is False and vote.comment is None and vote.reason is None


def test_votes_are_rate_limited_with_a_readable_answer(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(
        articles_dir,
        tmp_path / "search_index",
        tmp_path / "kb.sqlite3",
        WTF_CSRF_ENABLED=True,
        FEEDBACK_RATE_LIMIT="3 per minute",
    )
    visitor = Visitor(app)
    for helpful in (True, False, True):
        assert visitor.vote(ARTICLE, helpful).status_code == 303
    response = visitor.vote(ARTICLE, False)
    assert response.status_code == 429
    assert "Please try again in a few minutes" in response.get_data(as_text=True)
    assert visitor.vote(ARTICLE, False, as_json=True).status_code == 429
    assert votes(app)[0].helpful is True  # the refused vote changed nothing


def test_unknown_article_is_a_404(site: Any) -> None:
    visitor = Visitor(site)
    visitor.read(ARTICLE)
    response = visitor.client.post(
        "/feedback", data={"csrf_token": visitor.token, "article_id": "en/nope", "helpful": "yes"}
    )
    assert response.status_code == 404


def test_opening_the_contact_form_is_counted_once_per_visitor_and_day(site: Any) -> None:
    first, second = Visitor(site), Visitor(site)
    first.open_contact()
    first.open_contact()
    second.open_contact()
    with session_scope(site) as session:
        rows = session.scalars(select(ContactOpened)).all()
        assert sorted(r.visitor for r in rows) == sorted([first.id, second.id])
        assert {r.locale for r in rows} == {"en"}
