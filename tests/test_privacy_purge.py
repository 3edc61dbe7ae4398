"""Finding 7 of issue 14: ``kb purge`` anonymises old search text, visitor ids and delivered tickets, on
SQLite and PostgreSQL, keeping what the analytics count."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from sqlalchemy import func, select
from visitors import Visitor

from kb import create_app, db
from kb.db import engine_of, session_scope
from kb.models import (
    AnswerOpened,
    ArticleView,
    ContactOpened,
    LearnedEvidence,
    OutboxMessage,
    SearchClick,
    SearchEvent,
    Ticket,
    Vote,
    utcnow,
)

MODELS = (SearchEvent, SearchClick, ArticleView, AnswerOpened, ContactOpened, Vote, Ticket)
EXPIRY = "en/set-up-points-expiry"


def activity(app: Any) -> Visitor:
    """One visitor's searches, clicks, reading, votes, answers and a ticket, through the real endpoints."""
    visitor = Visitor(app)
    [(search_id, position, article_id), *_] = visitor.search_page("points expiry for my store")
    visitor.click(search_id, position, article_id)
    visitor.vote(EXPIRY, False, query="points expiry")
    visitor.say_why(EXPIRY, "missing", "It does not say what happens to my 300 points")
    visitor.open_contact()
    visitor.open_answer(visitor.suggest("cancel my subscription"))
    visitor.send_ticket("Cancel my plan, ada@example.com", "Please cancel store 4521. Ada Lovelace")
    return visitor


def age(app: Any, days: int) -> None:
    """Move every record ``days`` into the past (the only way these tests move time)."""
    with session_scope(app) as session:
        for model in MODELS:
            for row in session.scalars(select(model)):
                row.created_at -= timedelta(days=days)
                if hasattr(row, "day"):
                    row.day = row.created_at.date()
                if isinstance(row, Vote):
                    row.updated_at -= timedelta(days=days)
        for evidence in session.scalars(select(LearnedEvidence)):
            evidence.created_at -= timedelta(days=days)


def snapshot(app: Any) -> dict[str, Any]:
    with session_scope(app) as session:
        counts = {m.__tablename__: session.scalar(select(func.count()).select_from(m)) for m in MODELS}
        visitors = {v for m in MODELS for v in session.scalars(select(m.visitor))}
        ticket = session.scalars(select(Ticket).order_by(Ticket.id)).first()
        vote = session.scalars(select(Vote).order_by(Vote.id)).first()
        assert ticket is not None and vote is not None
        return {
            "counts": counts,
            "visitors": visitors,
            "queries": sorted(q for q in session.scalars(select(SearchEvent.query)) if q)
            + [q for q in session.scalars(select(ArticleView.query)) if q]
            + [vote.query],
            "shown": [e.shown for e in session.scalars(select(SearchEvent).order_by(SearchEvent.id))],
            "ticket": (ticket.name, ticket.email, ticket.message, ticket.subject, ticket.context),
            "vote": (vote.article_id, vote.helpful, vote.reason, vote.comment),
            "clicked": [c.article_id for c in session.scalars(select(SearchClick))],
        }


def check_purge(app: Any) -> None:
    visitor = activity(app)
    before = snapshot(app)
    assert visitor.id in before["visitors"] and before["queries"]
    assert before["ticket"][1] == "ada@example.com"
    age(app, 200)
    recent = activity(app)  # a second visitor, today: untouched

    result = app.test_cli_runner().invoke(args=["purge", "--older-than", "180d"])
    assert result.exit_code == 0, result.output
    assert "tickets stripped of name, e-mail and message: 1" in result.output
    assert "visitors anonymised: 1" in result.output
    assert "learned questions deleted: " in result.output  # the old visitor's answer opened taught the search

    after = snapshot(app)
    assert visitor.id not in after["visitors"] and recent.id in after["visitors"]
    assert {c: n for c, n in after["counts"].items()} == {c: 2 * n for c, n in before["counts"].items()}
    with session_scope(app) as session:
        old_ticket, new_ticket = session.scalars(select(Ticket).order_by(Ticket.id)).all()
        assert (old_ticket.name, old_ticket.email, old_ticket.message) == ("", "", "")
        assert old_ticket.subject == "Cancel my plan, [email]" and old_ticket.context == {"purged": True}
        assert new_ticket.email == "ada@example.com" and new_ticket.visitor == recent.id
        old_vote, new_vote = session.scalars(select(Vote).order_by(Vote.id)).all()
        assert (old_vote.helpful, old_vote.reason, old_vote.query, old_vote.comment) == (False, "missing", "", None)
        assert new_vote.comment and new_vote.query == "points expiry"
        old_searches = session.scalars(select(SearchEvent).where(SearchEvent.visitor != recent.id)).all()
        assert old_searches and all(e.query == "" for e in old_searches)
        assert all(e.shown for e in old_searches if e.source == "search")  # what was shown stays
        pseudonyms = {e.visitor for e in old_searches}
        assert len(pseudonyms) == 1 and pseudonyms.pop().startswith("anon-")
        # what the old visitor taught the search (the contact form's answer opened) is gone, the new one's kept
        kept = session.scalars(select(LearnedEvidence)).all()
        assert kept and all(e.created_at > utcnow() - timedelta(days=180) for e in kept)  # only the recent visitor's

    again = app.test_cli_runner().invoke(args=["purge", "--older-than", "180d"])
    assert again.exit_code == 0 and "nothing older to purge" in again.output, again.output


def test_purge_on_sqlite(indexed_root: Path, tmp_path: Path) -> None:
    app = make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3")
    check_purge(app)


def test_purge_on_postgresql(indexed_root: Path, database: str) -> None:
    db.upgrade(database)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "ARTICLES_DIR": str(indexed_root / "articles"),
            "SEARCH_INDEX_DIR": str(indexed_root / "search_index"),
            "DATABASE_URL": database,
            "INDEX_RELOAD_SECONDS": 0.0,
        }
    )
    try:
        check_purge(app)
    finally:
        engine_of(app).dispose()


def test_purge_keeps_tickets_still_waiting_to_be_sent_and_uses_the_retention_setting(
    indexed_root: Path, tmp_path: Path
) -> None:
    app = make_app(
        indexed_root / "articles",
        indexed_root / "search_index",
        tmp_path / "kb.sqlite3",
        RETENTION_DAYS=30,
        TICKET_DELIVERY="webhook",
        TICKET_WEBHOOK_URL="http://127.0.0.1:9/hook",
        DELIVER_AFTER_COMMIT=False,
    )
    Visitor(app).send_ticket("Points", "Where are my points? ada@example.com")
    age(app, 40)
    result = app.test_cli_runner().invoke(args=["purge"])  # KB_RETENTION_DAYS=30
    assert result.exit_code == 0, result.output
    assert "(30 days)" in result.output and "tickets stripped" not in result.output
    with session_scope(app) as session:
        ticket = session.scalars(select(Ticket)).one()
        message = session.scalars(select(OutboxMessage)).one()
        assert ticket.email == "ada@example.com" and message.payload["email"] == "ada@example.com"
        assert ticket.visitor.startswith("anon-")  # the visitor id goes; the ticket stays for delivery


@pytest.mark.parametrize("span", ["soon", "0d", "-3d"])
def test_purge_refuses_a_span_it_cannot_read(indexed_root: Path, tmp_path: Path, span: str) -> None:
    app = make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3")
    result = app.test_cli_runner().invoke(args=["purge", "--older-than", span])
    assert result.exit_code != 0 and "--older-than" in result.output


def test_contact_draft_keys_last_a_day_whatever_the_retention(indexed_root: Path, tmp_path: Path) -> None:
    app = make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3")
    activity(app)
    with session_scope(app) as session:
        contact = session.scalars(select(SearchEvent).where(SearchEvent.source == "contact")).all()
        assert contact and all(e.draft for e in contact)
    age(app, 2)
    result = app.test_cli_runner().invoke(args=["purge", "--older-than", "180d"])
    assert result.exit_code == 0 and "contact draft keys emptied: 1" in result.output, result.output
    with session_scope(app) as session:
        events = session.scalars(select(SearchEvent)).all()
        assert all(e.draft == "" for e in events)
        assert any(e.query for e in events)  # two days old: their words stay until the retention's end
