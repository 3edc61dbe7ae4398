"""The results page, /api/search and /api/suggest, and the click that leads to an article: what a visitor sees
and what the database records."""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import make_app
from sqlalchemy import select

from kb.models import SearchClick, SearchEvent
from kb.site_state import snapshot

NO_MODEL = {"EMBEDDING_MODEL": "/nonexistent/embedding-model", "MULTILINGUAL_MODEL": ""}
RESULT_LINK = re.compile(r'<h2[^>]*><a href="(/go\?[^"]+)">')


@pytest.fixture
def client(indexed_app: Any) -> Any:
    return indexed_app.test_client()


def links(page: str) -> list[dict[str, str]]:
    """The query strings of the result links on a results page, in order."""
    return [
        {k: v[0] for k, v in parse_qs(urlsplit(html.unescape(href)).query, keep_blank_values=True).items()}
        for href in RESULT_LINK.findall(page)
    ]


def rows(app: Any, model: type) -> list[Any]:
    with app.extensions["kb.db"]() as session:
        return list(session.scalars(select(model).order_by(model.id)))


# -- the results page --------------------------------------------------------------------------------


def test_results_link_to_the_section_through_the_click_recorder(client: Any) -> None:
    response = client.get("/en/search?q=PK-4011")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    found = links(page)
    assert found[0]["a"] == "en/install-on-shopify"
    assert found[0]["h"] == "troubleshooting"
    assert [f["p"] for f in found] == [str(i) for i in range(1, len(found) + 1)]
    assert len({f["a"] for f in found}) == len(found)
    assert "Install Perkly on Shopify" in page


def test_search_without_locale_uses_the_default(client: Any) -> None:
    response = client.get("/search?q=PK-4011")
    assert response.status_code == 200
    assert links(response.get_data(as_text=True))[0]["a"] == "en/install-on-shopify"


def test_the_query_words_are_marked_in_the_snippet(client: Any) -> None:
    page = client.get("/en/search?q=points+expiry").get_data(as_text=True)
    assert re.search(r"<mark>(points|Points)</mark>", page)
    data = client.get("/api/search?q=points+expiry&locale=en").get_json()
    assert data["results"][0]["id"] == "en/set-up-points-expiry"
    assert "<mark>" in data["results"][0]["snippet"]


XSS = "<script>alert(1)</script> launch <img src=x onerror=alert(2)>"


def test_the_page_never_echoes_markup_from_the_query(client: Any) -> None:
    page = client.get("/en/search", query_string={"q": XSS}).get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>[^<]*alert", page)


def test_api_snippets_never_carry_markup_from_the_query(client: Any) -> None:
    data = client.get("/api/search", query_string={"q": XSS, "locale": "en"}).get_json()
    assert data["results"]
    for result in data["results"]:
        assert "<script" not in result["snippet"] and "<img" not in result["snippet"]
        assert re.sub(r"</?mark>", "", result["snippet"]).count("<") == 0
    assert data["query"] == XSS  # JSON carries the text; escaping is the page's job
    suggestions = client.get("/api/suggest", query_string={"q": XSS, "locale": "en"}).get_json()["suggestions"]
    assert all("<script" not in s["snippet"] for s in suggestions)


def test_did_you_mean_offers_the_corrected_query(client: Any) -> None:
    page = client.get("/en/search?q=lanch+the+programm").get_data(as_text=True)
    assert "Did you mean" in page
    offer = re.search(r'Did you mean <a href="([^"]+)">([^<]+)</a>', page)
    assert offer, page
    assert offer.group(2) == "launch the program"
    assert parse_qs(urlsplit(html.unescape(offer.group(1))).query)["q"] == ["launch the program"]
    assert links(page)[0]["a"] == "en/launch-your-program"
    assert client.get("/api/search?q=lanch+the+programm&locale=en").get_json()["did_you_mean"] == "launch the program"


@pytest.mark.parametrize("query", ["print", "launch the program", "PK-4011"])
def test_a_real_word_gets_no_did_you_mean(client: Any, query: str) -> None:
    page = client.get("/en/search", query_string={"q": query}).get_data(as_text=True)
    assert "Did you mean" not in page


def test_category_filter(client: Any) -> None:
    page = client.get("/en/search?q=points&category=billing").get_data(as_text=True)
    assert [f["a"] for f in links(page)] == ["en/cancel-your-subscription"]
    assert '<option value="billing" selected>' in page
    everywhere = [f["a"] for f in links(client.get("/en/search?q=points").get_data(as_text=True))]
    assert len(everywhere) > 1 and "en/set-up-points-expiry" in everywhere
    data = client.get("/api/search?q=points&category=points&locale=en").get_json()
    assert {r["category"] for r in data["results"]} == {"points"}


def test_pagination(indexed_root: Path, tmp_path: Path) -> None:
    app = make_app(
        indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3", SEARCH_PAGE_SIZE=2
    )
    client = app.test_client()
    first = client.get("/en/search?q=points+program").get_data(as_text=True)
    second = client.get("/en/search?q=points+program&page=2").get_data(as_text=True)
    one, two = links(first), links(second)
    assert [f["p"] for f in one] == ["1", "2"]
    assert [f["p"] for f in two] == ["3", "4"]
    assert not {f["a"] for f in one} & {f["a"] for f in two}
    assert '<ol class="results" start="3">' in second
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert 'rel="prev"' in second and "page=1" in html.unescape(
        re.search(r'<a rel="prev" href="([^"]+)"', second).group(1)
    )
    assert "4 results" in first
    assert links(client.get("/en/search?q=points+program&page=3").get_data(as_text=True)) == []


def test_no_results_offer_the_contact_form(indexed_root: Path, tmp_path: Path) -> None:
    app = make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3", **NO_MODEL)
    assert "contact.form" in {rule.endpoint for rule in app.url_map.iter_rules()}
    page = app.test_client().get("/en/search?q=sourdough+bread").get_data(as_text=True)
    assert "No articles match" in page
    contact = re.search(r'<a class="button" href="([^"]+)">Contact support</a>', page)
    assert contact, page
    url = urlsplit(html.unescape(contact.group(1)))
    assert url.path.endswith("/contact")
    assert parse_qs(url.query)["subject"] == ["sourdough bread"]


def test_a_filter_that_leaves_nothing_offers_the_contact_form(client: Any) -> None:
    page = client.get("/en/search?q=points&category=no-such-topic").get_data(as_text=True)
    assert "No articles match" in page
    assert re.search(r'href="[^"]*/contact\?[^"]*"', page)


def test_without_the_model_results_come_from_keywords(
    indexed_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    missing = str(tmp_path / "no-model-here")
    monkeypatch.setenv("KB_EMBEDDING_MODEL", missing)
    monkeypatch.setenv("KB_MULTILINGUAL_MODEL", "")
    app = make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3")
    assert app.config["EMBEDDING_MODEL"] == missing
    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        assert client.get("/en/search?q=points").status_code == 200
    assert any(f"could not load embedding model {missing!r}" in r.getMessage() for r in caplog.records)
    with app.app_context():
        status = snapshot().searcher.status()
    assert status["semantic"] is False and "could not be loaded" in status["reason"]
    assert [f["a"] for f in links(client.get("/en/search?q=PK-4011").get_data(as_text=True))] == [
        "en/install-on-shopify"
    ]
    data = client.get("/api/suggest?q=how+do+I+cancel+my+subscription&locale=en").get_json()
    assert data["suggestions"][0]["id"] == "en/cancel-your-subscription"


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/en/search?q=" + "points+" * 3000, 200),
        ("/en/search?q=" + "x" * 20000, 200),
        ("/en/search?q=%21%3F%2E%2C%3B%3A%2D%2D", 200),
        ("/en/search?q=%00", 200),
        ("/en/search?q=points%00expiry%00", 200),
        ("/en/search?q=points&page=-5", 200),
        ("/en/search?q=points&page=abc", 200),
        ("/en/search?q=points&page=99999999999999999999", 200),
        ("/en/search?q=points&category=no-such-topic", 200),
        ("/en/search?q=points&category=%00", 200),
        ("/en/search?q=%F0%9F%92%A5%ED%A0%80", 200),
        ("/en/search?q=%ff%fe", 200),
        ("/en/search", 200),
        ("/xx/search?q=points", 404),
        ("/%00/search?q=points", 404),
        ("/api/search?q=%00&locale=en", 200),
        ("/api/search?q=points&limit=abc&locale=en", 200),
        ("/api/search?q=points&limit=-3&locale=en", 200),
        ("/api/search?q=points&locale=xx", 200),
        ("/api/suggest?q=%00%00&locale=en", 200),
        ("/api/suggest?q=" + "y" * 20000, 200),
        ("/go?s=abc&p=x&a=en/install-on-shopify&h=%00", 302),
        ("/go?s=999999&p=1&a=en/install-on-shopify", 302),
        ("/go?a=en/no-such-article", 404),
        ("/go", 404),
    ],
)
def test_bad_input_is_never_a_server_error(client: Any, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]


def test_out_of_range_pages_are_clamped(client: Any) -> None:
    for page in ("-5", "0", "abc"):
        found = links(client.get(f"/en/search?q=PK-4011&page={page}").get_data(as_text=True))
        assert found[0] == {**found[0], "a": "en/install-on-shopify", "p": "1"}


# -- what is recorded --------------------------------------------------------------------------------


def test_a_search_is_recorded(indexed_app: Any) -> None:
    client = indexed_app.test_client()
    page = client.get("/en/search?q=points+expiry").get_data(as_text=True)
    shown = [f["a"] for f in links(page)]
    [event] = rows(indexed_app, SearchEvent)
    assert (event.query, event.locale, event.source) == ("points expiry", "en", "search")
    assert event.shown == shown
    assert event.result_count == len(shown)
    assert event.latency_ms > 0
    assert 0 < event.confidence <= 1
    assert {f["s"] for f in links(page)} == {str(event.id)}


def test_an_empty_query_is_not_recorded(indexed_app: Any) -> None:
    indexed_app.test_client().get("/en/search?q=")
    assert rows(indexed_app, SearchEvent) == []


def test_the_api_records_its_searches(indexed_app: Any) -> None:
    data = indexed_app.test_client().get("/api/search?q=PK-4011&locale=en").get_json()
    [event] = rows(indexed_app, SearchEvent)
    assert data["search_id"] == event.id
    assert (event.source, event.query) == ("api", "PK-4011")
    assert event.shown == [r["id"] for r in data["results"]]


def test_a_click_is_recorded_and_leads_to_the_section(indexed_app: Any) -> None:
    client = indexed_app.test_client()
    page = client.get("/en/search?q=points+expiry").get_data(as_text=True)
    second = links(page)[1]
    response = client.get(f"/go?s={second['s']}&p=2&a={second['a']}&h={second['h']}")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    slug = second["a"].split("/")[1]
    assert target.path == f"/en/articles/{slug}"
    assert target.fragment == second["h"]
    assert parse_qs(target.query) == {"from": ["search"], "q": ["points expiry"]}
    [click] = rows(indexed_app, SearchClick)
    assert (click.search_id, click.article_id, click.position) == (int(second["s"]), second["a"], 2)


def test_a_click_with_the_anchor_of_a_section(indexed_app: Any) -> None:
    client = indexed_app.test_client()
    search_id = client.get("/api/search?q=refunds&locale=en").get_json()["search_id"]
    response = client.get(f"/go?s={search_id}&p=1&a=en/cancel-your-subscription&h=refunds")
    assert response.headers["Location"].endswith("/en/articles/cancel-your-subscription?from=search&q=refunds#refunds")
    [click] = rows(indexed_app, SearchClick)
    assert (click.search_id, click.position) == (search_id, 1)


def test_a_click_with_a_forged_anchor_or_search_goes_to_the_article_top(indexed_app: Any) -> None:
    client = indexed_app.test_client()
    response = client.get("/go?s=424242&p=3&a=en/install-on-shopify&h=%22%3E%3Cscript%3E")
    assert response.status_code == 302
    assert "#" not in response.headers["Location"]
    [click] = rows(indexed_app, SearchClick)
    assert (click.search_id, click.article_id, click.position) == (None, "en/install-on-shopify", 3)


def test_suggest_records_a_suggest_event(indexed_app: Any) -> None:
    client = indexed_app.test_client()
    data = client.get("/api/suggest?q=how+do+I+cancel+my+subscription&locale=en").get_json()
    assert 1 <= len(data["suggestions"]) <= 3
    assert data["suggestions"][0]["id"] == "en/cancel-your-subscription"
    assert data["suggestions"][0]["url"].startswith("/en/articles/cancel-your-subscription")
    [event] = rows(indexed_app, SearchEvent)
    assert data["search_id"] == event.id
    assert (event.source, event.query, event.locale) == ("suggest", "how do I cancel my subscription", "en")
    assert event.shown == [s["id"] for s in data["suggestions"]]
    assert event.result_count == len(data["suggestions"])


def test_suggest_for_an_unrelated_question_is_empty_but_recorded(indexed_app: Any) -> None:
    data = indexed_app.test_client().get("/api/suggest?q=how+do+I+bake+sourdough+bread&locale=en").get_json()
    assert data["suggestions"] == []
    [event] = rows(indexed_app, SearchEvent)
    assert (event.source, event.shown, event.result_count, event.confidence) == ("suggest", [], 0, None)
