"""The write path of what visitors did (kb.tracking.store): once means once, text fits, a fault is survived."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from sqlalchemy import func, select
from visitors import UNANSWERED, Visitor, contact_page, fill

from kb.analytics.helpfulness import reason_label
from kb.db import engine_of, session_scope
from kb.models import ArticleView, ContactOpened, SearchEvent, Ticket, utcnow
from kb.tracking import store, votes
from kb.tracking.contact_opened import record_contact_opened
from kb.tracking.search_log import record_search
from kb.tracking.view_buffer import ViewBuffer

ARTICLE = "en/set-up-points-expiry"


@pytest.fixture
def site(articles_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The mini help center on a real SQLite file (no index: pages and the contact form need none)."""
    return make_app(articles_dir, tmp_path / "search_index", tmp_path / "kb.sqlite3", WTF_CSRF_ENABLED=False)


def count(app: Any, model: Any) -> int:
    with session_scope(app) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def drop_table(app: Any, table: str) -> None:
    """Take a table away under the running app, as a broken or half-migrated database would."""
    path = app.config["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute(f"DROP TABLE {table}")


def test_insert_once_inserts_a_row_only_once(site: Any) -> None:
    now = utcnow()
    with session_scope(site) as session:
        first = store.insert_once(session, ContactOpened(created_at=now, day=now.date(), visitor="v" * 32, locale="en"))
        again = store.insert_once(session, ContactOpened(created_at=now, day=now.date(), visitor="v" * 32, locale="en"))
    assert (first, again) == (True, False)
    assert count(site, ContactOpened) == 1


def test_a_view_is_counted_once_per_visitor_article_and_day(site: Any) -> None:
    worker = ViewBuffer(engine_of(site), flush_seconds=60)
    counted = [worker.add("v" * 32, ARTICLE, "r1", "search", "q") for _ in range(3)]
    assert counted == [True, False, False]  # this process counts it once
    other_worker = ViewBuffer(engine_of(site), flush_seconds=60)
    assert other_worker.add("v" * 32, ARTICLE, "r1", "search", "q")  # another process does not know
    assert (worker.flush(), other_worker.flush()) == (1, 0)  # the database keeps one
    assert count(site, ArticleView) == 1


def test_text_is_cut_to_its_column_and_loses_nul_characters(site: Any) -> None:
    with session_scope(site) as session:
        search_id = record_search(
            session,
            visitor="v" * 32,
            locale="en",
            source="a-source-longer-than-sixteen",
            query="po\x00ints " * 200,
            shown=[],
            result_count=0,
            confidence=None,
            latency_ms=1.0,
        )
    with session_scope(site) as session:
        event = session.get(SearchEvent, search_id)
        assert event is not None
        assert len(event.query) == 500 and "\x00" not in event.query
        assert event.source == "a-source-longer-"


def test_safely_survives_a_refusing_database_and_rolls_back(site: Any, caplog: pytest.LogCaptureFixture) -> None:
    drop_table(site, "contact_opened")
    with site.app_context(), session_scope(site) as session:
        with caplog.at_level(logging.ERROR, logger="kb.tracking.store"):
            assert store.safely(record_contact_opened, session, "v" * 32, "en") is None
        assert "could not record record_contact_opened" in caplog.text
        assert session.scalar(select(func.count()).select_from(SearchEvent)) == 0  # the session works on


def test_an_article_page_answers_when_its_view_cannot_be_stored(site: Any, caplog: pytest.LogCaptureFixture) -> None:
    drop_table(site, "article_views")
    with caplog.at_level(logging.ERROR, logger="kb.tracking.view_buffer"):
        html = Visitor(site).read(ARTICLE, query="points expire")  # asserts 200
    assert "Did this answer your question?" in html
    assert "could not record 1 article views" in caplog.text
    assert "points" not in caplog.text  # the kind of fault, never what the visitor searched


def test_the_contact_form_answers_when_opened_cannot_be_stored(site: Any) -> None:
    drop_table(site, "contact_opened")
    response = site.test_client().get("/en/contact")
    assert response.status_code == 200
    assert 'id="contact-form"' in response.get_data(as_text=True)


def test_sending_the_contact_form_does_not_count_it_opened(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(articles_dir, tmp_path / "search_index", tmp_path / "kb.sqlite3", WTF_CSRF_ENABLED=True)
    client = app.test_client()
    page = contact_page(client)  # opened: counted
    assert client.post("/en/contact", data=fill(page, UNANSWERED, edit="1")).status_code == 200
    assert client.post("/en/contact", data=fill(page, UNANSWERED, message="short")).status_code == 422
    assert client.post("/en/contact", data=fill(page, UNANSWERED)).status_code == 303
    assert count(app, Ticket) == 1
    assert count(app, ContactOpened) == 1


def test_a_reason_has_one_table_for_the_visitor_and_the_admin(site: Any) -> None:
    with site.test_request_context("/en/"):
        assert str(votes.REASONS["out_of_date"].asked) == "It is out of date"
        assert {str(reason_label(code)) for code in votes.REASONS} == {
            "not answered",
            "out of date",
            "hard to follow",
            "missing",
        }
        assert str(reason_label("none given")) == "none given"
        assert reason_label("made_up") == "made up"
