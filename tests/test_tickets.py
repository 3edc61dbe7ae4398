"""Tickets: the reference, the context the agent gets, and the outbox messages committed with the ticket."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from delivery import tried
from sqlalchemy import select
from visitors import UNANSWERED, contact_page, fill

from kb.db import session_scope
from kb.models import OutboxMessage, SearchEvent, Ticket, Vote, utcnow
from kb.tickets import intake
from kb.tracking import votes


def make(indexed_root: Path, tmp_path: Path, **settings: Any) -> Any:
    return make_app(
        indexed_root / "articles",
        indexed_root / "search_index",
        tmp_path / "kb.sqlite3",
        WTF_CSRF_ENABLED=True,
        **settings,
    )


def send(app: Any, values: dict[str, str] | None = None, **headers: str) -> Any:
    """Send the form as a visitor with JavaScript would, from a fresh client; return the client."""
    client = app.test_client()
    return client, client.post(
        "/en/contact", data=fill(contact_page(client), values or UNANSWERED, js="1"), headers=headers
    )


def stored(app: Any) -> tuple[Ticket, list[OutboxMessage]]:
    with session_scope(app) as session:
        ticket = session.scalars(select(Ticket)).one()
        return ticket, list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.mark.parametrize(("ticket_id", "expected"), [(1, "KB-000001"), (123, "KB-000123"), (1234567, "KB-1234567")])
def test_reference_is_the_zero_padded_id(ticket_id: int, expected: str) -> None:
    assert Ticket(id=ticket_id).reference == expected


def test_context_holds_the_visitors_last_24_hours(indexed_root: Path, tmp_path: Path) -> None:
    app = make(indexed_root, tmp_path)
    client = app.test_client()
    client.get("/en/search?q=points+expire")
    client.get("/en/articles/set-up-points-expiry?from=search&q=points+expire")
    found = client.get("/api/suggest?source=contact&locale=en&q=cancel+my+subscription").get_json()
    token = contact_page(client)["fields"]["csrf_token"]
    client.post(
        "/contact/opened",
        json={"article_id": "en/cancel-your-subscription", "search_id": found["search_id"], "position": 1},
        headers={"X-CSRFToken": token},
    )
    client.post(
        "/contact/vote",
        json={"article_id": "en/cancel-your-subscription", "helpful": False},
        headers={"X-CSRFToken": token},
    )
    visitor = client.get_cookie("kb_visitor").value
    with session_scope(app) as session:  # older than a day, and another visitor's: neither belongs
        session.add(
            SearchEvent(visitor=visitor, query="yesterday's question", created_at=utcnow() - timedelta(hours=25))
        )
        session.add(SearchEvent(visitor="someone-else-0000", query="not mine"))
    page = contact_page(client, "/en/contact?from=/en/articles/set-up-points-expiry")
    response = client.post(
        "/en/contact", data=fill(page, UNANSWERED, js="1"), headers={"User-Agent": "Mozilla/5.0 (Test) Firefox/140"}
    )
    assert response.status_code == 303
    ticket, _ = stored(app)
    assert ticket.visitor == visitor and ticket.created_at and ticket.locale == "en"
    context = ticket.context
    # issue 14: the contact form's search keeps no draft; the ticket names it with its subject
    assert [s["query"] for s in context["searches"]] == ["points expire", UNANSWERED["subject"]]
    assert context["searches"][0]["source"] == "search"
    assert context["suggested"][0] == "en/cancel-your-subscription"
    cancel, expiry = "en/cancel-your-subscription", "en/set-up-points-expiry"
    assert [(o["article_id"], o["position"]) for o in context["opened"]] == [(cancel, 1)]
    assert [(v["article_id"], v["helpful"]) for v in context["votes"]] == [(cancel, False)]
    assert [(r["article_id"], r["source"]) for r in context["read"]] == [(expiry, "search")]
    assert context["came_from"] == ticket.came_from == "/en/articles/set-up-points-expiry"
    assert context["user_agent"] == ticket.user_agent == "Mozilla/5.0 (Test) Firefox/140"
    assert context["locale"] == "en"


def test_referrer_is_the_page_they_came_from_when_no_from_field(indexed_root: Path, tmp_path: Path) -> None:
    app = make(indexed_root, tmp_path)
    client = app.test_client()
    page = contact_page(client)
    page["fields"]["from"] = ""
    client.post(
        "/en/contact", data=fill(page, UNANSWERED, js="1"), headers={"Referer": "https://shop.example/admin/perkly"}
    )
    assert stored(app)[0].came_from == "https://shop.example/admin/perkly"


def test_delivery_none_stores_the_ticket_only(indexed_root: Path, tmp_path: Path) -> None:
    app = make(indexed_root, tmp_path, TICKET_DELIVERY="none")
    send(app)
    ticket, messages = stored(app)
    assert ticket.message == UNANSWERED["message"] and messages == []


def test_smtp_delivery_queues_a_plain_text_mail_for_support(indexed_root: Path, tmp_path: Path) -> None:
    app = make(
        indexed_root,
        tmp_path,
        TICKET_DELIVERY="smtp",
        SUPPORT_EMAIL="support@perkly.example",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=9,
        TICKET_ACK=False,
        DELIVERY_TIMEOUT_SECONDS=0.5,
    )
    client = app.test_client()
    client.get("/en/search?q=points+expire")
    page = contact_page(client)
    client.post(
        "/en/contact", data=fill(page, {**UNANSWERED, "subject": "Bad\r\nBcc: x@evil.example"}, js="1", topic="billing")
    )
    tried(app)  # issue 14: the one try happens after the request, in the background
    ticket, [mail] = stored(app)
    assert (mail.kind, mail.channel, mail.ticket_id) == ("ticket", "smtp", ticket.id)
    payload = mail.payload
    assert payload["to"] == ["support@perkly.example"]
    assert payload["subject"].startswith("[KB-000001] Bad")
    assert payload["reply_to"] == "Ada <ada@example.com>"
    body = payload["body"]
    assert UNANSWERED["message"] in body and "Topic:    Billing" in body
    assert 'Searched:\n  - "points expire" (search, ' in body
    # port 9 refuses: the one try in the request failed, and the message waits for a retry
    assert mail.status == "pending" and mail.attempts == 1 and mail.last_error
    assert mail.next_attempt_at > mail.created_at


def test_webhook_delivery_queues_the_ticket_as_json(indexed_root: Path, tmp_path: Path) -> None:
    app = make(indexed_root, tmp_path, TICKET_DELIVERY="webhook", TICKET_WEBHOOK_URL="http://127.0.0.1:9/hook")
    send(app)
    ticket, [hook] = stored(app)
    body = hook.payload
    assert (hook.channel, body["event"], body["reference"]) == ("webhook", "ticket.created", "KB-000001")
    assert body["message"] == UNANSWERED["message"] and body["email"] == "ada@example.com"
    assert set(body["context"]) >= {"searches", "suggested", "opened", "read", "votes", "came_from", "locale"}


def test_acknowledgement_has_the_reference_and_best_answers(indexed_root: Path, tmp_path: Path) -> None:
    app = make(
        indexed_root,
        tmp_path,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=9,
        SUPPORT_EMAIL="help@perkly.example",
        DELIVERY_TIMEOUT_SECONDS=0.5,
    )
    send(
        app,
        {
            **UNANSWERED,
            "subject": "Points expiry",
            "message": "How can unused points expire after 12 months of inactivity?",
        },
    )
    _, [ack] = stored(app)
    assert (ack.kind, ack.channel, ack.payload["to"]) == ("ack", "smtp", ["ada@example.com"])
    assert ack.payload["reply_to"] == "help@perkly.example"
    assert "KB-000001" in ack.payload["subject"] and "KB-000001" in ack.payload["body"]
    assert "Set up points expiry" in ack.payload["body"]
    assert "http://localhost/en/articles/set-up-points-expiry" in ack.payload["body"]


def test_no_acknowledgement_without_smtp(indexed_root: Path, tmp_path: Path) -> None:
    app = make(indexed_root, tmp_path, TICKET_ACK=True, SMTP_HOST="")
    send(app)
    assert stored(app)[1] == []


def test_a_vote_again_updates_the_one_row(app: Any) -> None:
    with session_scope(app) as session:
        first = votes.record_vote(
            session, visitor="v" * 32, article_id="en/a", revision="r1", helpful=False, query="q", source="contact"
        )
        second = votes.record_vote(
            session,
            visitor="v" * 32,
            article_id="en/a",
            revision="r2",
            helpful=True,
            query="q2",
            source="contact",
            reason="other",
            comment="ok",
        )
        assert first.id == second.id
        row = session.scalars(select(Vote)).one()
        assert (row.helpful, row.revision, row.reason, row.comment) == (True, "r2", "other", "ok")
        assert row.query == "q2"
        assert row.updated_at >= row.created_at


def test_question_text_is_subject_then_message_in_one_line() -> None:
    assert intake.question_text("Points", "do not\r\nexpire  ") == "Points do not expire"
    assert len(intake.question_text("x", "y" * 1000)) == intake.QUERY_MAX
