"""The contact form through the Flask test client, CSRF on, the token read from the page like a browser."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from sqlalchemy import func, select
from visitors import UNANSWERED, Forms, contact_page, fill

from kb.db import engine_of, session_scope
from kb.models import AnswerOpened, Base, OutboxMessage, SearchEvent, Ticket, Vote

# A question the mini tree answers (points expiry), in fields that would break a careless round trip.
NASTY = {
    "name": "José O'Brien <script>alert('name')</script> 한국어",
    "email": "jose@example.com",
    "subject": "Points expiry",
    "message": "How can unused points expire after 12 months of inactivity?\r\n\r\n"
    '<script>alert("x")</script> & &amp; “quotes” — ünïcödé 日本語\r\n  indented line  ',
    "topic": "points",
    "store_url": "https://josé-shop.myshopify.com/?a=1&b=<2>",
}


def count(app: Any, model: Any) -> int:
    with session_scope(app) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def field_block(html: str, field_id: str) -> str:
    match = re.search(rf'<div class="field[^"]*" id="{field_id}-field">(.*?)</div>', html, re.S)
    assert match, f"no field {field_id}"
    return match.group(1)


@pytest.fixture
def contact_app(indexed_root: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_app(
        indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3", WTF_CSRF_ENABLED=True
    )


def test_form_page_has_token_topics_and_subject_from_search(contact_app: Any) -> None:
    client = contact_app.test_client()
    page = contact_page(client, "/en/contact?subject=points+do+not+expire")
    assert page["fields"]["csrf_token"]
    assert page["fields"]["subject"] == "points do not expire"
    html = client.get("/en/contact").get_data(as_text=True)
    for title in ("Getting started", "Points", "Billing"):
        assert title.lower() in html.lower()
    assert 'aria-live="polite"' in html and "js/contact.js" in html
    assert client.get("/contact", headers={"Accept-Language": "en"}).status_code == 200
    assert client.get("/xx/contact").status_code == 404


def test_invalid_fields_show_messages_next_to_them_and_keep_values(contact_app: Any) -> None:
    client = contact_app.test_client()
    page = contact_page(client)
    sent = {
        "name": "",
        "email": "not-an-email",
        "subject": "Points",
        "message": "short",
        "store_url": "not a url",
        "topic": "points",
    }
    response = client.post("/en/contact", data=fill(page, sent))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Tell us your name." in field_block(html, "name")
    assert "Enter an email address like name@example.com." in field_block(html, "email")
    assert "Write between 10 and 5000 characters." in field_block(html, "message")
    assert "for example mystore.myshopify.com" in field_block(html, "store_url")
    assert 'aria-invalid="true"' in field_block(html, "email")
    assert "Please check your message" in html  # the summary on top links to each field
    again = Forms(html).find(id="contact-form")["fields"]
    assert again["email"] == "not-an-email" and again["message"] == "short" and again["topic"] == "points"
    assert count(contact_app, Ticket) == 0


def test_too_long_fields_are_refused(contact_app: Any) -> None:
    client = contact_app.test_client()
    page = contact_page(client)
    response = client.post("/en/contact", data=fill(page, {**UNANSWERED, "subject": "s" * 201, "message": "m" * 5001}))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Keep the subject under 200 characters." in field_block(html, "subject")
    assert count(contact_app, Ticket) == 0


def test_honeypot_filled_is_thanked_and_not_stored(contact_app: Any) -> None:
    client = contact_app.test_client()
    page = contact_page(client)
    response = client.post("/en/contact", data=fill(page, UNANSWERED, website="http://spam.example"))
    assert response.status_code == 200
    assert "Thank you" in response.get_data(as_text=True)
    assert "KB-" not in response.get_data(as_text=True)
    assert count(contact_app, Ticket) == 0


def test_rate_limit_answers_with_a_readable_page_that_keeps_the_message(indexed_root: Path, tmp_path: Path) -> None:
    app = make_app(
        indexed_root / "articles",
        indexed_root / "search_index",
        tmp_path / "kb.sqlite3",
        WTF_CSRF_ENABLED=True,
        CONTACT_RATE_LIMIT="2 per minute",
    )
    client = app.test_client()
    page = contact_page(client)
    data = fill(page, {**UNANSWERED, "email": "bad"})
    assert client.post("/en/contact", data=data).status_code == 422
    assert client.post("/en/contact", data=data).status_code == 422
    response = client.post("/en/contact", data=data)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    html = response.get_data(as_text=True)
    assert "Please wait a little before sending again" in html
    assert re.search(r"try again in about [12] minutes?\.", html)
    assert Forms(html).find(id="contact-form")["fields"]["message"] == UNANSWERED["message"]
    assert client.get("/en/contact").status_code == 200  # reading the form is never limited


def test_without_javascript_suggestions_come_first_and_carry_every_field_untouched(contact_app: Any) -> None:
    client = contact_app.test_client()
    page = contact_page(client)
    response = client.post("/en/contact", data=fill(page, NASTY))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Before you send: do any of these answer your question?" in html
    assert "Set up points expiry" in html
    assert "<script>alert" not in html  # escaped everywhere
    assert count(contact_app, Ticket) == 0
    carried = Forms(html).find(**{"class": "send-anyway"})
    for name, value in NASTY.items():
        assert carried["fields"][name] == value, name
    assert ("send", "1") in carried["buttons"]
    with session_scope(contact_app) as session:
        shown = session.scalars(select(SearchEvent).where(SearchEvent.source == "contact")).one()
        assert shown.shown[0] == "en/set-up-points-expiry"
        shown_ids = list(shown.shown)

    done = client.post("/en/contact", data={**carried["fields"], "send": "1"})
    assert done.status_code == 303
    sent = client.get(done.headers["Location"]).get_data(as_text=True)
    assert re.search(r"KB-0*1\b", sent) and "KB-000001" in sent
    assert "jose@example.com" in sent and "What happens next" in sent
    with session_scope(contact_app) as session:
        ticket = session.scalars(select(Ticket)).one()
        for name, value in NASTY.items():
            assert getattr(ticket, name) == value, name
        assert ticket.context["suggested"] == shown_ids  # what the form showed: the three, best first
        assert shown_ids[0] == "en/set-up-points-expiry"
        # issue 14: the suggestions' search keeps no draft text; sending names it with the subject (redacted)
        assert ticket.context["searches"][0]["query"] == "Points expiry"


def test_change_my_message_goes_back_to_the_filled_form(contact_app: Any) -> None:
    client = contact_app.test_client()
    page = contact_page(client)
    html = client.post("/en/contact", data=fill(page, NASTY)).get_data(as_text=True)
    carried = Forms(html).find(**{"class": "send-anyway"})["fields"]
    back = client.post("/en/contact", data={**carried, "edit": "1"})
    assert back.status_code == 200
    fields = Forms(back.get_data(as_text=True)).find(id="contact-form")["fields"]
    assert {k: fields[k] for k in NASTY} == NASTY
    assert count(contact_app, Ticket) == 0


def test_no_confident_answer_sends_straight_away(contact_app: Any) -> None:
    client = contact_app.test_client()
    page = contact_page(client)
    response = client.post("/en/contact", data=fill(page, UNANSWERED))
    assert response.status_code == 303
    assert "KB-000001" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_with_javascript_the_form_sends_at_once(contact_app: Any) -> None:
    client = contact_app.test_client()
    page = contact_page(client)
    response = client.post("/en/contact", data=fill(page, NASTY, js="1"))
    assert response.status_code == 303
    assert count(contact_app, Ticket) == 1


def test_yes_without_javascript_ends_with_a_thank_you(contact_app: Any) -> None:
    client = contact_app.test_client()
    page = contact_page(client)
    html = client.post("/en/contact", data=fill(page, NASTY)).get_data(as_text=True)
    yes = Forms(html).find(action="/contact/vote")
    response = client.post("/contact/vote", data=yes["fields"])
    assert response.status_code == 200
    assert "glad that answered your question" in response.get_data(as_text=True)
    assert "/en/articles/set-up-points-expiry" in response.get_data(as_text=True)
    with session_scope(contact_app) as session:
        vote = session.scalars(select(Vote)).one()
        assert (vote.article_id, vote.helpful, vote.source) == ("en/set-up-points-expiry", True, "contact")
        assert vote.query.startswith("Points expiry")
    assert count(contact_app, Ticket) == 0


def test_missing_token_keeps_the_message_and_asks_to_send_again(contact_app: Any) -> None:
    client = contact_app.test_client()
    page = contact_page(client)
    data = fill(page, UNANSWERED)
    data.pop("csrf_token")
    response = client.post("/en/contact", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Please send your message again" in html
    fields = Forms(html).find(id="contact-form")["fields"]
    assert fields["message"] == UNANSWERED["message"] and fields["csrf_token"]
    assert count(contact_app, Ticket) == 0
    assert client.post("/en/contact", data={**data, "csrf_token": fields["csrf_token"]}).status_code == 303


def test_opened_and_votes_are_recorded_with_the_page_token(contact_app: Any) -> None:
    client = contact_app.test_client()
    token = contact_page(client)["fields"]["csrf_token"]
    found = client.get("/api/suggest?source=contact&locale=en&q=how+do+I+cancel+my+plan").get_json()
    assert found["suggestions"][0]["id"] == "en/cancel-your-subscription"
    body = {
        "article_id": "en/cancel-your-subscription",
        "search_id": found["search_id"],
        "position": 1,
        "anchor": found["suggestions"][0]["anchor"],
    }
    assert client.post("/contact/opened", json=body).status_code == 400  # no token, no record
    assert client.post("/contact/opened", json=body, headers={"X-CSRFToken": token}).status_code == 200
    vote = {"article_id": "en/cancel-your-subscription", "helpful": False, "query": "how do I cancel my plan"}
    answer = client.post("/contact/vote", json=vote, headers={"X-CSRFToken": token}).get_json()
    assert answer["helpful"] is False
    vote["helpful"] = True
    assert client.post("/contact/vote", json=vote, headers={"X-CSRFToken": token}).status_code == 200
    assert (
        client.post("/contact/vote", json={"article_id": "en/nope"}, headers={"X-CSRFToken": token}).status_code == 404
    )
    with session_scope(contact_app) as session:
        opened = session.scalars(select(AnswerOpened)).one()
        assert (opened.article_id, opened.search_id, opened.position) == (
            "en/cancel-your-subscription",
            found["search_id"],
            1,
        )
        assert opened.visitor and opened.created_at
        vote_row = session.scalars(select(Vote)).one()  # voting again updates the same row
        assert vote_row.helpful is True and vote_row.visitor == opened.visitor and vote_row.revision


def test_database_failing_at_send_time_loses_nothing(contact_app: Any, tmp_path: Path) -> None:
    """The real fault: the tickets table is dropped from the SQLite file under the running app."""
    client = contact_app.test_client()
    page = contact_page(client)
    with sqlite3.connect(tmp_path / "kb.sqlite3") as raw:
        raw.execute("DROP TABLE tickets")
    response = client.post("/en/contact", data=fill(page, NASTY, js="1"))
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "Your message was not sent" in html
    again = Forms(html).find(id="contact-form")
    for name, value in NASTY.items():
        assert again["fields"][name] == value, name

    Base.metadata.tables["tickets"].create(engine_of(contact_app))  # the database is back
    done = client.post("/en/contact", data=again["fields"])
    assert done.status_code == 303
    assert "KB-000001" in client.get(done.headers["Location"]).get_data(as_text=True)
    assert count(contact_app, Ticket) == 1 and count(contact_app, OutboxMessage) == 0
