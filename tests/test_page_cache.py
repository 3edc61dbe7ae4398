"""Article pages stored once per index build and answered in front of Flask (kb.views.page_cache), and the
article views written in batches (kb.tracking.view_buffer): the same page, cookies, headers and counts as
Flask's own, for every visitor, and Flask's answer whenever the page is the visitor's own."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from conftest import build, make_app
from sqlalchemy import select
from visitors import TOKEN, Visitor
from werkzeug.test import EnvironBuilder

from kb.db import session_scope
from kb.models import ArticleView, Vote
from kb.views import page_cache

ARTICLE = "en/set-up-points-expiry"
URL = "/en/articles/set-up-points-expiry"


def server(app: Any) -> Any:
    return app.extensions["kb.page_server"]


def without_token(html: str) -> str:
    return TOKEN.sub("", html)


def cookie_names(response: Any) -> list[str]:
    return sorted(c.split("=", 1)[0] for c in response.headers.getlist("Set-Cookie"))


def views(app: Any) -> list[ArticleView]:
    with session_scope(app) as session:
        return list(session.scalars(select(ArticleView).order_by(ArticleView.id)))


def test_a_stored_page_is_flasks_page_with_the_visitors_own_token(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(articles_dir, tmp_path / "idx", tmp_path / "kb.sqlite3", WTF_CSRF_ENABLED=True)
    first = app.test_client().get(URL)  # rendered by Flask, then stored
    assert server(app).served == 0
    second = app.test_client().get(URL)
    assert server(app).served == 1
    assert first.status_code == second.status_code == 200
    one, two = first.get_data(as_text=True), second.get_data(as_text=True)
    assert without_token(one) == without_token(two)
    assert TOKEN.search(one).group(1) != TOKEN.search(two).group(1)  # type: ignore[union-attr]
    per_response = {"Set-Cookie", "X-Request-ID", "Content-Length"}
    assert {k: v for k, v in first.headers if k not in per_response} == {
        k: v for k, v in second.headers if k not in per_response
    }
    assert "Content-Security-Policy" in second.headers and second.headers["Vary"] == "Cookie"
    assert cookie_names(first) == cookie_names(second) == ["kb_visitor", "session"]
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert int(second.headers["Content-Length"]) == len(second.data)


def test_the_token_of_a_stored_page_is_accepted_by_the_vote(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(articles_dir, tmp_path / "idx", tmp_path / "kb.sqlite3", WTF_CSRF_ENABLED=True)
    Visitor(app).read(ARTICLE)  # stores the page
    newcomer = Visitor(app)
    assert newcomer.vote(ARTICLE, helpful=True).status_code == 303  # read (served stored), then vote
    assert server(app).served >= 1
    served = server(app).served
    page = newcomer.client.get(URL)  # a vote to thank them for: Flask's page, not the stored one
    assert server(app).served == served
    assert '<p class="feedback-thanks" role="status" aria-live="polite"' in page.get_data(as_text=True)
    assert "Thank you for your feedback.</p>" in page.get_data(as_text=True)
    again = newcomer.client.get(URL)  # thanked once; the session holds only its token again
    assert server(app).served == served + 1
    assert again.headers.getlist("Set-Cookie") == []  # nothing new to set for a known visitor
    assert TOKEN.search(again.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    with session_scope(app) as session:
        assert len(list(session.scalars(select(Vote)))) == 1


def test_a_question_in_the_url_or_a_vote_step_is_never_served_stored(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(articles_dir, tmp_path / "idx", tmp_path / "kb.sqlite3", WTF_CSRF_ENABLED=True)
    app.test_client().get(URL)
    html = app.test_client().get(URL + "?from=search&q=when+do+points+expire").get_data(as_text=True)
    assert server(app).served == 0
    assert 'name="query" value="when do points expire"' in html  # the vote keeps the visitor's question
    assert app.test_client().get(URL + "?from=category").status_code == 200
    assert server(app).served == 1  # ``from`` alone does not change the page
    reader = Visitor(app)
    reader.vote(ARTICLE, helpful=False)
    step = reader.client.get(URL).get_data(as_text=True)
    assert re.search(r'<form class="feedback-reason"[^>]*>', step).group(0).count("hidden") == 0  # type: ignore[union-attr]


def test_head_and_unknown_hosts(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(articles_dir, tmp_path / "idx", tmp_path / "kb.sqlite3", BASE_URL="https://help.example.com")
    client = app.test_client()
    client.get(URL, base_url="https://help.example.com")
    head = app.test_client().head(URL, base_url="https://help.example.com")
    assert head.status_code == 200 and head.data == b"" and server(app).served == 1
    assert "Strict-Transport-Security" in head.headers
    assert all("Secure" in c for c in head.headers.getlist("Set-Cookie"))
    evil = app.test_client().get(URL, base_url="https://evil.example")
    assert evil.status_code == 400  # Flask's Host check: no page is stored under another host
    assert server(app).served == 1


def test_a_new_index_build_drops_the_pages_of_the_old_one(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(articles_dir, tmp_path / "idx", tmp_path / "kb.sqlite3")
    build(app)
    app.test_client().get(URL)
    assert "Set up points expiry" in app.test_client().get(URL).get_data(as_text=True)
    assert server(app).served == 1
    page = articles_dir / "en" / "points" / "set-up-points-expiry.md"
    page.write_text(page.read_text().replace("title: Set up points expiry", "title: Points that expire"))
    assert "Set up points expiry" in app.test_client().get(URL).get_data(as_text=True)  # same build: same page
    build(app)
    fresh = app.test_client().get(URL).get_data(as_text=True)
    assert "Points that expire" in fresh and "Set up points expiry" not in fresh


def test_the_store_is_bounded_and_can_be_switched_off(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(articles_dir, tmp_path / "idx", tmp_path / "kb.sqlite3", PAGE_CACHE_PAGES=1)
    others = ["/en/articles/install-on-shopify", URL]
    for url in others * 2:
        assert app.test_client().get(url).status_code == 200
    assert len(app.extensions["kb.pages"]) == 1 and server(app).served == 0  # each evicted the other
    off = make_app(articles_dir, tmp_path / "idx", tmp_path / "off.sqlite3", PAGE_CACHE_PAGES=0)
    for _ in range(3):
        assert off.test_client().get(URL).status_code == 200
    assert len(off.extensions["kb.pages"]) == 0 and server(off).served == 0


def test_views_are_written_in_batches_once_per_visitor_and_day(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(articles_dir, tmp_path / "idx", tmp_path / "kb.sqlite3", VIEW_FLUSH_SECONDS=0.2)
    reader = Visitor(app)
    reader.get(URL)  # Flask
    reader.get(URL)  # stored page, same visitor: not counted twice
    other = app.test_client()
    other.get(URL, headers={"Referer": "http://localhost/en/search?q=x"})
    assert views(app) == []  # not yet written: the batch waits
    deadline = time.monotonic() + 10
    while len(views(app)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    rows = views(app)
    assert [(v.article_id, v.source) for v in rows] == [(ARTICLE, "outside"), (ARTICLE, "search")]
    assert rows[0].visitor == reader.id


def test_a_cookie_that_is_not_utf8_is_answered_by_flask(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(articles_dir, tmp_path / "idx", tmp_path / "kb.sqlite3")
    app.test_client().get(URL)
    environ = EnvironBuilder(path=URL).get_environ()
    environ["HTTP_COOKIE"] = "kb_visitor=\xff\xfe; session=\xe9"  # bytes as the server hands them on (Latin-1)
    statuses: list[str] = []
    b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))  # type: ignore[arg-type]
    assert statuses == ["200 OK"] and server(app).served == 0  # the stored page stepped aside for Flask


def test_rate_limit_headers_are_never_stored_and_a_default_limit_keeps_pages_in_flask(
    articles_dir: Path, tmp_path: Path
) -> None:
    assert not any(page_cache._shared(h) for h in ("X-RateLimit-Remaining", "x-ratelimit-reset", "Retry-After"))
    assert page_cache._shared("Content-Security-Policy") and page_cache._shared("Vary")
    app = make_app(articles_dir, tmp_path / "idx", tmp_path / "kb.sqlite3", RATELIMIT_DEFAULT="1000 per minute")
    for _ in range(3):
        assert app.test_client().get(URL).status_code == 200
    assert server(app).served == 0  # every article page goes through Flask-Limiter
