"""Finding 1 of issue 14: a URL never reads what another visitor typed (``/go?a=&s=``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from visitors import Visitor

SECRET = "points expiry for ada@example.com order 123456"


@pytest.fixture
def site(indexed_app: Any) -> Any:
    return indexed_app


def carried(response: Any) -> str:
    """The search text a /go redirect carries on to the article ("" when none)."""
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["Location"]).query).get("q", [""])[0]


def test_another_visitor_walking_search_ids_reads_no_text(site: Any) -> None:
    owner = Visitor(site)
    owner.search("how do customers earn points")
    [(search_id, position, article_id), *_] = owner.search_page(SECRET)
    article = quote(article_id, safe="")
    stranger, no_cookie = Visitor(site), site.test_client()
    stranger.get("/en/")
    for client in (stranger.client, no_cookie):
        for walked in range(1, search_id + 3):
            assert carried(client.get(f"/go?a={article}&s={walked}&p=1")) == ""
    own = carried(owner.client.get(f"/go?a={article}&s={search_id}&p={position}"))
    assert own == "points expiry for [email] order [number]"  # the owner's own words, as stored: redacted


def test_a_click_on_someone_elses_search_is_not_tied_to_it(site: Any) -> None:
    from kb.db import session_scope
    from kb.models import SearchClick

    owner = Visitor(site)
    [(search_id, _, article_id), *_] = owner.search_page("points expiry")
    site.test_client().get(f"/go?a={quote(article_id, safe='')}&s={search_id}&p=1")
    owner.client.get(f"/go?a={quote(article_id, safe='')}&s={search_id}&p=1")
    with session_scope(site) as session:
        clicks = [c.search_id for c in session.query(SearchClick).order_by(SearchClick.id)]
    assert clicks == [None, search_id]
