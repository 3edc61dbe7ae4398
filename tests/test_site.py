"""The pages a merchant browses: home, categories, articles, redirects, 404s, sitemap, robots.txt."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
from conftest import MINI_ARTICLES, make_app, write_tree

from kb.content import load_library

SITEMAP_NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}

PAGES = [
    "/en/",
    "/en/getting-started/",
    "/en/points/",
    "/en/articles/install-on-shopify",
    "/en/articles/set-up-points-expiry",
    "/en/articles/no-such-article",
    "/en/no-such-category/",
    "/fr/",
]


def test_root_redirects_to_the_default_locale(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/en/"


def test_root_ignores_a_language_without_articles(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert response.headers["Location"] == "/en/"


def test_home_lists_categories_in_order_with_descriptions(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/en/").get_data(as_text=True)
    titles = re.findall(r'<h3><a href="/en/([\w-]+)/">([^<]+)</a></h3>', page)
    assert titles == [("getting-started", "Getting started"), ("billing", "Billing"), ("points", "Points")]
    assert "Install and launch." in page
    assert "2 articles" in page and "1 article<" in page


def test_category_page_lists_its_articles_in_order(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/en/getting-started/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    links = re.findall(r'<li[^>]*><a href="(/en/articles/[\w-]+)">', page)
    assert links == ["/en/articles/install-on-shopify", "/en/articles/launch-your-program"]
    assert "<h1>Getting started</h1>" in page
    assert "Add the app from the Shopify App Store" in page


def test_article_page_shows_title_body_date_and_related(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/en/articles/install-on-shopify")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<h1 id="article-title">Install Perkly on Shopify</h1>' in page
    assert '<h2 id="install-the-app">Install the app</h2>' in page
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\d">', page)
    assert '<a href="/en/getting-started/">Getting started</a>' in page
    related = page.split('id="related-heading"')[1]
    assert 'href="/en/articles/launch-your-program?from=article">Launch your loyalty program</a>' in related


@pytest.mark.parametrize(
    ("old", "new"),
    [("/en/articles/shopify-install", "/en/articles/install-on-shopify")],
)
def test_alias_answers_301_to_the_new_url(client, old: str, new: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(old)
    assert response.status_code == 301
    assert response.headers["Location"] == new
    assert client.get(new).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/en/articles/no-such-article",
        "/en/no-such-category/",
        "/xx/",
        "/xx/articles/install-on-shopify",
        "/xx/getting-started/",
        "/en/articles/draft-tiktok-points",
        "/en/articles/shopify-install-typo",
    ],
)
def test_not_found_pages_offer_search_and_a_way_home(client, url: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert re.search(r'<input[^>]*\bname="q"', page), page
    assert '<a href="/en/">' in page
    assert "We could not find that page" in page


def test_draft_article_is_not_served_listed_or_in_the_sitemap(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/en/articles/draft-tiktok-points").status_code == 404
    assert "draft-tiktok-points" not in client.get("/en/points/").get_data(as_text=True)
    assert "draft-tiktok-points" not in client.get("/sitemap.xml").get_data(as_text=True)
    assert "draft-tiktok-points" not in client.get("/api/articles").get_data(as_text=True)


def test_sitemap_lists_every_article_with_lastmod(client, articles_dir: Path) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    root = ElementTree.fromstring(response.data)
    entries = {
        u.findtext("s:loc", namespaces=SITEMAP_NS): u.findtext("s:lastmod", namespaces=SITEMAP_NS)
        for u in root.findall("s:url", SITEMAP_NS)
    }
    expected = {
        f"http://localhost{a.url}": a.updated.date().isoformat()
        for a in load_library(articles_dir)
        if a.updated is not None
    }
    assert len(expected) == 4
    assert {loc: mod for loc, mod in entries.items() if "/articles/" in loc} == expected
    assert "http://localhost/en/" in entries and "http://localhost/en/getting-started/" in entries


def test_robots_points_at_the_sitemap_and_keeps_out_of_admin(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert "Sitemap: http://localhost/sitemap.xml" in lines
    assert "Disallow: /admin" in lines
    assert "User-agent: *" in lines


@pytest.mark.parametrize("url", PAGES)
def test_every_page_has_the_head_and_landmarks(client, url: str) -> None:  # type: ignore[no-untyped-def]
    page = client.get(url).get_data(as_text=True)
    assert page.startswith("<!doctype html>")
    assert '<html lang="en" dir="ltr">' in page
    assert '<meta charset="utf-8">' in page
    title = re.search(r"<title>([^<]+)</title>", page)
    assert title and title.group(1).strip()
    description = re.search(r'<meta name="description" content="([^"]*)">', page)
    assert description and description.group(1).strip()
    assert re.search(r'<link rel="canonical" href="http://localhost/[^"]*">', page)
    assert re.search(r"<main\b", page)
    box = re.search(r'<input id="([^"]+)" name="q"', page)
    assert box and f'<label for="{box.group(1)}"' in page


def test_article_page_head_describes_the_article(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/en/articles/install-on-shopify").get_data(as_text=True)
    assert "<title>Install Perkly on Shopify · Perkly Help Center</title>" in page
    assert '<meta name="description" content="Add the app from the Shopify App Store and connect your store.">' in page
    assert '<link rel="canonical" href="http://localhost/en/articles/install-on-shopify">' in page


def test_canonical_of_an_article_ignores_the_query(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/en/articles/install-on-shopify?from=search&q=shopify").get_data(as_text=True)
    assert '<link rel="canonical" href="http://localhost/en/articles/install-on-shopify">' in page


def test_article_without_summary_describes_itself_with_its_first_paragraph(tmp_path: Path) -> None:
    text = "---\ntitle: No summary\n---\n\nFirst paragraph says it all.\n\n## More\n\nMore.\n"
    root = write_tree(tmp_path / "articles", {**MINI_ARTICLES, "en/points/no-summary.md": text})
    client = make_app(root, tmp_path / "index", tmp_path / "kb.sqlite3").test_client()
    page = client.get("/en/articles/no-summary").get_data(as_text=True)
    assert '<meta name="description" content="First paragraph says it all.">' in page


def test_edit_link_is_built_from_edit_url(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(
        articles_dir,
        tmp_path / "index",
        tmp_path / "kb.sqlite3",
        EDIT_URL="https://git.example.com/edit/main/{path}",
    )
    page = app.test_client().get("/en/articles/install-on-shopify").get_data(as_text=True)
    assert (
        '<a href="https://git.example.com/edit/main/articles/en/getting-started/install-on-shopify.md"'
        ' rel="nofollow">Edit this article</a>'
    ) in page


def test_no_edit_link_without_edit_url(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/en/articles/install-on-shopify").get_data(as_text=True)
    assert "Edit this article" not in page
    assert 'class="edit-link"' not in page
