"""The admin overview and the article feedback in Debian's headless Chromium, driven by Playwright.

The events behind the charts come from the real endpoints (test client); some visitors' rows are then
moved a few days back (``created_at`` only) so the curves have more than one day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app, needs_chromium
from conftest import served as serve
from sqlalchemy import select
from visitors import Visitor

from kb.db import session_scope
from kb.models import AnswerOpened, ContactOpened, SearchEvent, Ticket, Vote

pytestmark = needs_chromium
EMAIL, PASSWORD = "writer@example.com", "correct horse battery"
QUESTION = "how do I cancel my plan"


def days_back(app: Any, visitor: Visitor, days: int) -> None:
    with session_scope(app) as session:
        for model in (ContactOpened, SearchEvent, AnswerOpened, Vote, Ticket):
            for row in session.scalars(select(model).where(model.visitor == visitor.id)):
                row.created_at -= timedelta(days=days)
                if isinstance(row, ContactOpened):
                    row.day = row.created_at.date()
                if isinstance(row, Vote):
                    row.updated_at -= timedelta(days=days)


def populate(app: Any) -> None:
    """A week of a small help center: contact episodes that end well or in a ticket, and votes."""
    for day in range(8):
        for n in range(3 + day % 3):
            visitor = Visitor(app)
            visitor.open_contact()
            found = visitor.suggest(QUESTION)
            article = visitor.open_answer(found)
            if (n + day) % 3 == 0:
                visitor.send_ticket("Cancel", "I still cannot find the cancel button anywhere.")
            else:
                visitor.say_answered(article, True, QUESTION)
            voter = Visitor(app)
            voter.vote("en/set-up-points-expiry", (n + day) % 4 != 0)
            days_back(app, visitor, day)
            days_back(app, voter, day)
    for i in range(6):
        reader = Visitor(app)
        reader.vote("en/cancel-your-subscription", i == 0, query="cancel plan")
        if i:
            reader.say_why(
                "en/cancel-your-subscription",
                "out_of_date",
                "Billing is now under Settings" if i == 1 else "",
            )


@pytest.fixture
def served(indexed_root: Path, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    app = make_app(
        indexed_root / "articles",
        indexed_root / "search_index",
        tmp_path / "kb.sqlite3",
        WTF_CSRF_ENABLED=True,
        CONTACT_RATE_LIMIT="1000 per minute",
        FEEDBACK_RATE_LIMIT="1000 per minute",
    )
    result = app.test_cli_runner().invoke(args=["users", "add", EMAIL], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    with serve(app) as base:
        yield app, base


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-US")
    tab = context.new_page()
    tab.set_default_timeout(15000)
    yield tab
    context.close()


def test_admin_overview_renders_its_charts_in_a_real_browser(
    served: tuple[Any, str], page: Any, tmp_path: Path
) -> None:
    app, base = served
    populate(app)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{base}/admin/")
    assert "/admin/login" in page.url
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Overview')")
    charts = page.locator("figure.chart-box svg.chart")
    assert charts.count() == 3
    for i in range(3):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 100
    assert page.locator("svg.chart circle").count() >= 8  # one point per day with data
    assert page.locator("text=Semantic search is on").count() == 1
    assert page.locator("table.figures >> text=Cancel your subscription").count() == 1
    page.screenshot(path=str(tmp_path / "admin.png"), full_page=True)
    assert [url for url in missing if not url.endswith("/favicon.ico")] == []  # the browser asks for one
    assert [e for e in errors if "404" not in e] == []
    assert all(url.startswith(base) for url in requests)  # nothing from a CDN


def test_feedback_answers_in_place_with_javascript(served: tuple[Any, str], page: Any) -> None:
    app, base = served
    page.goto(f"{base}/en/articles/set-up-points-expiry?from=search&q=points+expire")
    page.click(".feedback-vote button[value=no]")
    page.locator(".feedback-reason").wait_for(state="visible")
    assert page.url.endswith("/en/articles/set-up-points-expiry?from=search&q=points+expire")  # never left
    assert not page.locator(".feedback-vote").is_visible()
    page.check("input[value=hard_to_follow]")
    page.fill("#feedback-comment", "Too many steps <b>at once</b>")
    page.click(".feedback-reason button[type=submit]")
    page.locator(".feedback-thanks:has-text('Thank you for your feedback.')").wait_for()
    assert not page.locator(".feedback-reason").is_visible()
    with session_scope(app) as session:
        vote = session.scalars(select(Vote)).one()
        assert (vote.helpful, vote.reason, vote.comment, vote.query, vote.source) == (
            False,
            "hard_to_follow",
            "Too many steps <b>at once</b>",
            "points expire",
            "article",
        )
