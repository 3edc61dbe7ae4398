"""Malformed bodies and numbers to the endpoints this round changed: a clear 4xx or a normal answer, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_app
from flask import Flask

ARTICLE = "en/cancel-your-subscription"


@pytest.fixture(params=[True, False], ids=["csrf", "no-csrf"])
def site(request: pytest.FixtureRequest, articles_dir: Path, tmp_path: Path) -> Flask:
    """With CSRF on (as served) and off (so the body reaches the form and view code behind the token check)."""
    return make_app(articles_dir, tmp_path / "search_index", tmp_path / "kb.sqlite3", WTF_CSRF_ENABLED=request.param)


@pytest.mark.parametrize("url", ["/feedback", "/admin/login", "/contact/opened", "/contact/vote", "/en/contact"])
@pytest.mark.parametrize("body", ["[1]", '"x"', "1", "null", '{"email": [1], "password": {"a": 1}}'])
def test_a_json_body_that_is_no_form_is_refused_not_a_500(site: Flask, url: str, body: str) -> None:
    response = site.test_client().post(url, data=body, content_type="application/json")
    assert 400 <= response.status_code < 500, (url, body, response.status_code)


@pytest.mark.parametrize("number", ["99999999999999999999", "-1", "1e9", "2147483648", "x"])
def test_an_id_or_position_out_of_range_is_ignored(site: Flask, number: str) -> None:
    client = site.test_client()
    response = client.get("/go", query_string={"a": ARTICLE, "s": number, "p": number})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/en/articles/cancel-your-subscription")
    opened = client.post("/contact/opened", json={"article_id": ARTICLE, "search_id": number, "position": number})
    assert opened.status_code == (400 if site.config["WTF_CSRF_ENABLED"] else 200)


def test_a_long_next_on_the_login_page_is_refused(site: Flask) -> None:
    response = site.test_client().post(
        "/admin/login", data={"email": "a@example.com", "password": "x", "next": "/admin" + "a" * 600}
    )
    assert response.status_code in (400, 401)


@pytest.mark.parametrize(
    "url", ["/en/search", "/api/suggest", "/en/articles/cancel-your-subscription", "/go", "/language/en", "/en/contact"]
)
def test_raw_bytes_in_a_query_string_are_read_not_a_500(site: Flask, url: str) -> None:
    """Bytes no browser sends unencoded (the server hands them on as Latin-1 characters)."""
    for raw in ("q=\xff\xfe", "q=caf\xe9&locale=en", "next=/\xff", "s=\x80&a=\xc3"):
        response = site.test_client().get(url, environ_overrides={"QUERY_STRING": raw})
        assert response.status_code < 500, (url, raw, response.status_code)


@pytest.mark.parametrize("referer", ["http://[x/", "http://[::1", "\xff\xfe", "//" + "a" * 5000])
def test_a_malformed_referer_is_counted_as_outside_not_a_500(site: Flask, referer: str) -> None:
    client = site.test_client()
    for _ in range(2):  # rendered, then the stored page
        response = client.get("/en/articles/cancel-your-subscription", headers={"Referer": referer})
        assert response.status_code == 200
