"""Issue 14, finding 8 (the body limit): a request body over KB_MAX_CONTENT_LENGTH is refused with a clear 413
before it is read, a 10 MB contact form is not stored, every form field has a length limit, and JSON nested
deep enough to exhaust the parser is a 400, not a 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from sqlalchemy import func, select
from visitors import UNANSWERED, Visitor, contact_page, fill

from kb.db import session_scope
from kb.forms import ContactForm, FeedbackForm, LoginForm
from kb.models import Ticket, Vote

ARTICLE = "en/set-up-points-expiry"


@pytest.fixture
def site(articles_dir: Path, tmp_path: Path) -> Any:
    return make_app(articles_dir, tmp_path / "search_index", tmp_path / "kb.sqlite3", WTF_CSRF_ENABLED=True)


def count(app: Any, model: Any) -> int:
    with session_scope(app) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_ten_megabyte_contact_form_is_refused_and_not_stored(site: Any) -> None:
    client = site.test_client()
    data = fill(contact_page(client), {**UNANSWERED, "message": "x" * (10 * 1024 * 1024)}, send="1")
    response = client.post("/en/contact", data=data)
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "larger than this site accepts (128 KB)" in page and "Nothing was saved" in page
    assert count(site, Ticket) == 0


def test_a_large_json_body_gets_a_json_413(site: Any) -> None:
    body = json.dumps({"article_id": ARTICLE, "query": "q" * 300_000})
    response = site.test_client().post("/contact/vote", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["status"] == 413 and "KB" in response.get_json()["message"]
    assert count(site, Vote) == 0


def test_the_limit_is_a_setting(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(articles_dir, tmp_path / "i", tmp_path / "small.sqlite3", MAX_CONTENT_LENGTH=2048)
    response = app.test_client().post("/contact/vote", data="x" * 4096, content_type="text/plain")
    assert response.status_code == 413


@pytest.mark.parametrize("depth", [2_000, 50_000])
def test_deeply_nested_json_is_a_bad_request(site: Any, depth: int) -> None:
    for path in ("/contact/vote", "/contact/opened"):
        response = site.test_client().post(path, data="[" * depth, content_type="application/json")
        assert response.status_code == 400, (path, response.status_code)


def test_a_full_length_message_in_emoji_still_fits(site: Any) -> None:
    client = site.test_client()
    data = fill(contact_page(client), {**UNANSWERED, "message": "\U0001f600" * 5000}, send="1")
    response = client.post("/en/contact", data=data)
    assert response.status_code == 303
    assert count(site, Ticket) == 1


def _field_limits(form_class: Any) -> dict[str, int]:
    from wtforms.validators import Length

    limits = {}
    for name, field in vars(form_class).items():
        kwargs = getattr(field, "kwargs", None)
        if kwargs is None:
            continue
        found = [v.max for v in kwargs.get("validators", []) if isinstance(v, Length) and v.max > 0]
        limits[name] = found[0] if found else 0
    return limits


@pytest.mark.parametrize("form_class", [ContactForm, FeedbackForm, LoginForm])
def test_every_text_field_has_a_length_limit(form_class: Any) -> None:
    limits = _field_limits(form_class)
    unlimited = [name for name, limit in limits.items() if not limit and name != "topic"]  # topic: a choice
    assert unlimited == []


def test_an_overlong_feedback_field_is_refused(site: Any) -> None:
    visitor = Visitor(site)
    visitor.read(ARTICLE)
    response = visitor.client.post(
        "/feedback",
        data={"csrf_token": visitor.token, "article_id": ARTICLE, "step": "vote", "helpful": "yes" * 100},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 422
    assert count(site, Vote) == 0
