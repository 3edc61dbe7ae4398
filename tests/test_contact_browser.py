"""The contact form with JavaScript, in Debian's headless Chromium driven by Playwright.

The app is served by werkzeug on a free loopback port; the browser types like a merchant.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app, needs_chromium
from conftest import served as serve
from sqlalchemy import select

from kb.db import session_scope
from kb.models import AnswerOpened, SearchEvent, Ticket, Vote

pytestmark = needs_chromium


@pytest.fixture
def served(indexed_root: Path, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    app = make_app(
        indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3", WTF_CSRF_ENABLED=True
    )
    with serve(app) as base:
        yield app, base


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 1400}, locale="en-US")
    tab = context.new_page()
    tab.set_default_timeout(15000)
    yield tab
    context.close()


QUESTION = "How can unused points expire after 12 months of inactivity?"


def type_question(page: Any, base: str) -> Any:
    page.goto(f"{base}/en/contact")
    page.fill("#name", "Ada Lovelace")
    page.fill("#email", "ada@example.com")
    page.locator("#subject").press_sequentially("Points expiry", delay=20)
    page.locator("#message").press_sequentially(QUESTION, delay=5)
    first = page.locator("#contact-suggestions .suggestion").first
    first.wait_for(state="visible")
    assert "may answer your question" in page.locator("#contact-status").text_content()
    assert first.locator(".suggestion-title").text_content() == "Set up points expiry"
    assert page.locator("#contact-suggestions .suggestion").count() <= 3
    return first


def open_answer(page: Any, suggestion: Any) -> None:
    with page.expect_response(lambda r: r.url.endswith("/contact/opened") and r.ok):
        suggestion.get_by_role("button", name="Show the answer").click()
    body = suggestion.locator(".answer-body")
    body.get_by_text("choose 6, 12 or 24 months", exact=False).wait_for(state="visible")
    assert suggestion.locator(".suggestion-toggle").get_attribute("aria-expanded") == "true"


def rows(app: Any, model: Any) -> list[Any]:
    with session_scope(app) as session:
        found = list(session.scalars(select(model)))
        for row in found:
            session.expunge(row)
        return found


def test_type_see_suggestions_open_one_and_say_yes(served: tuple[Any, str], page: Any, tmp_path: Path) -> None:
    app, base = served
    suggestion = type_question(page, base)
    open_answer(page, suggestion)
    assert page.url.endswith("/en/contact")  # the answer opened in place
    assert page.input_value("#message") == QUESTION  # nothing typed is lost
    page.screenshot(path=str(tmp_path / "contact.png"), full_page=True)

    with page.expect_response(lambda r: r.url.endswith("/contact/vote") and r.ok):
        suggestion.get_by_role("button", name="Yes, this answered my question").click()
    thanks = page.locator("#contact-thanks")
    thanks.wait_for(state="visible")
    assert "glad that answered your question" in thanks.text_content()
    assert thanks.locator("a").get_attribute("href").startswith("/en/articles/set-up-points-expiry")
    assert page.locator("#contact-form").is_hidden()

    [opened] = rows(app, AnswerOpened)
    assert opened.article_id == "en/set-up-points-expiry" and opened.position == 1 and opened.search_id
    [vote] = rows(app, Vote)
    assert (vote.article_id, vote.helpful, vote.source) == ("en/set-up-points-expiry", True, "contact")
    assert vote.visitor == opened.visitor
    assert rows(app, Ticket) == []
    assert any(e.source == "contact" for e in rows(app, SearchEvent))

    page.get_by_role("button", name="I still want to send my message").click()
    assert page.input_value("#message") == QUESTION


def test_type_open_say_no_and_send_gets_a_reference(served: tuple[Any, str], page: Any) -> None:
    app, base = served
    suggestion = type_question(page, base)
    open_answer(page, suggestion)
    with page.expect_response(lambda r: r.url.endswith("/contact/vote") and r.ok):
        suggestion.get_by_role("button", name="No", exact=True).click()
    assert suggestion.locator(".answer").is_hidden()
    assert page.evaluate("document.activeElement.id") == "message"
    page.locator("#message").press_sequentially(" It did not help.", delay=5)
    page.get_by_role("button", name="Send message").click()
    page.wait_for_url("**/en/contact/sent")
    assert "KB-000001" in page.locator(".reference").text_content()

    [ticket] = rows(app, Ticket)
    assert ticket.message == QUESTION + " It did not help."
    assert ticket.context["opened"][0]["article_id"] == "en/set-up-points-expiry"
    votes = [(v["article_id"], v["helpful"]) for v in ticket.context["votes"]]
    assert votes == [("en/set-up-points-expiry", False)]
    assert "en/set-up-points-expiry" in ticket.context["suggested"]
