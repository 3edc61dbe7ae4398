"""The JSON API over articles: the list, one article with its HTML and sections, and JSON 404s."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from conftest import MINI_ARTICLES, make_app, write_tree

SUMMARY_KEYS = {"id", "locale", "slug", "title", "summary", "category", "url", "updated"}


def test_articles_lists_every_served_article(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/articles")
    assert response.status_code == 200
    data = response.get_json()
    ids = sorted(a["id"] for a in data["articles"])
    assert ids == [
        "en/cancel-your-subscription",
        "en/install-on-shopify",
        "en/launch-your-program",
        "en/set-up-points-expiry",
    ]
    assert data["count"] == 4


def test_article_items_have_the_documented_fields(client) -> None:  # type: ignore[no-untyped-def]
    items = {a["id"]: a for a in client.get("/api/articles").get_json()["articles"]}
    for item in items.values():
        assert set(item) >= SUMMARY_KEYS, item
        datetime.fromisoformat(item["updated"])
    install = items["en/install-on-shopify"]
    assert {k: install[k] for k in SUMMARY_KEYS - {"updated"}} == {
        "id": "en/install-on-shopify",
        "locale": "en",
        "slug": "install-on-shopify",
        "title": "Install Perkly on Shopify",
        "summary": "Add the app from the Shopify App Store and connect your store.",
        "category": "getting-started",
        "url": "/en/articles/install-on-shopify",
    }


def test_articles_can_be_filtered_by_locale(tmp_path: Path) -> None:
    fr = "---\ntitle: Installer Perkly\nsummary: Ajoutez l'app.\n---\n\nCorps.\n"
    root = write_tree(tmp_path / "articles", {**MINI_ARTICLES, "fr/demarrer/installer.md": fr})
    client = make_app(root, tmp_path / "index", tmp_path / "kb.sqlite3").test_client()
    french = client.get("/api/articles?locale=fr").get_json()
    assert [a["id"] for a in french["articles"]] == ["fr/installer"]
    assert client.get("/api/articles?locale=en").get_json()["count"] == 4
    assert client.get("/api/articles").get_json()["count"] == 5


def test_one_article_adds_html_and_sections(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/articles/en/launch-your-program")
    assert response.status_code == 200
    data = response.get_json()
    assert set(data) >= SUMMARY_KEYS
    assert data["id"] == "en/launch-your-program"
    assert '<h2 id="before-you-launch">Before you launch</h2>' in data["html"]
    assert "<strong>Launch</strong>" in data["html"]
    assert data["sections"] == [
        {
            "heading": "",
            "anchor": "",
            "level": 1,
            "text": "When everything is set up, launch the program so shoppers see the launcher.",
        },
        {
            "heading": "Before you launch",
            "anchor": "before-you-launch",
            "level": 2,
            "text": "Check your earning rules and rewards, and preview the launcher on your storefront.",
        },
        {
            "heading": "Go live",
            "anchor": "go-live",
            "level": 2,
            "text": "Go to Perkly admin > Program > Status and click Launch.",
        },
    ]


def test_one_article_html_has_links_rewritten(client) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/api/articles/en/install-on-shopify").get_json()["html"]
    assert 'href="/en/articles/launch-your-program#before-you-launch"' in html
    assert ".md" not in html


@pytest.mark.parametrize(
    "url",
    [
        "/api/articles/en/no-such-article",
        "/api/articles/xx/install-on-shopify",
        "/api/articles/en/draft-tiktok-points",
        "/api/articles/en/shopify-install",
    ],
)
def test_unknown_article_is_a_json_404(client, url: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 404
    assert response.is_json
    data = response.get_json()
    assert data["status"] == 404
    assert data["error"] == "Not Found"
    assert data["message"]


def test_unknown_api_route_is_a_json_404(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/articles/en/install-on-shopify/extra")
    assert response.status_code == 404
    assert response.is_json
