"""Finding 1 of issue 14, the contact form: its as-you-type suggestions store what was shown, never the
draft; the question's text is stored (redacted) only when the ticket is sent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from visitors import Visitor

from kb.analytics import deflection, gaps
from kb.analytics.period import Period
from kb.db import session_scope
from kb.models import SearchEvent

DRAFTS = [
    "how do I cancel",
    "how do I cancel my plan, order #55123",
    "how do I cancel my plan, order #55123, call me on +44 20 7946 0958",
]


@pytest.fixture
def site(form_app: Any) -> Any:
    return form_app


def events(app: Any) -> list[SearchEvent]:
    with session_scope(app) as session:
        return list(session.scalars(select(SearchEvent).order_by(SearchEvent.id)))


def test_drafts_leave_which_answers_were_shown_and_no_text(site: Any) -> None:
    visitor = Visitor(site)
    visitor.open_contact()
    found = [visitor.suggest(draft) for draft in DRAFTS]
    assert all(f["suggestions"] for f in found) and all(f["search_id"] for f in found)
    stored = events(site)
    assert [(e.source, e.query) for e in stored] == [("contact", "")] * 3
    assert stored[-1].shown == [s["id"] for s in found[-1]["suggestions"]]
    visitor.open_answer(found[-1])  # the search id still ties the answer opened to what was shown
    with session_scope(site) as session:
        funnel = deflection.funnel(session, Period.last(1))
    assert (funnel.opened, funnel.shown, funnel.answered) == (1, 1, 1)


def test_the_question_is_stored_redacted_once_the_ticket_is_sent(site: Any) -> None:
    visitor = Visitor(site)
    visitor.open_contact()
    for draft in ("can I pay with bitc", "can I pay with bitcoin"):
        assert visitor.suggest(draft)["suggestions"] == []
    visitor.send_ticket("Can I pay with bitcoin? Order #55123", "My number is +44 20 7946 0958.")
    assert [e.query for e in events(site)] == ["", "Can I pay with bitcoin? Order #[number]"]
    with session_scope(site) as session:
        report = gaps.content_gaps(session, Period.last(1), None)
    [gap] = report.gaps
    assert gap.kinds == {"contact": 1} and gap.label == "can i pay with bitcoin? order #[number]"


def test_without_javascript_the_posted_question_is_not_kept_unless_sent(site: Any) -> None:
    from visitors import contact_page, fill

    client = site.test_client()
    page = contact_page(client)
    values = {
        "name": "Ada",
        "email": "ada@example.com",
        "subject": "Points expiry for ada@example.com",
        "message": "How can unused points expire?",
    }
    response = client.post("/en/contact", data=fill(page, values))
    assert response.status_code == 200 and "Before you send" in response.get_data(as_text=True)
    assert [(e.source, e.query, bool(e.shown)) for e in events(site)] == [("contact", "", True)]
