"""Markdown to safe HTML: what writers may use, what never reaches a page, links, anchors, sections."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import MINI_ARTICLES, make_app, write_tree

from kb.content.render import Section, render, split_sections

HOSTILE = """\
---
title: Hostile
summary: Tries to script the page.
---

Intro.

<script>alert("owned-by-script")</script>

<p onclick="stealCookies()">Click me</p>

<img src="x.png" onerror="stealCookies()" alt="pic">

[markdown link](javascript:alert(1))

<a href="javascript:alert(2)">html link</a>

<iframe src="https://evil.example.com"></iframe>

<style>body { display: none }</style>

## Safe part

Plain **bold** text.
"""


@pytest.fixture
def hostile_client(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = write_tree(tmp_path / "articles", {**MINI_ARTICLES, "en/points/hostile.md": HOSTILE})
    return make_app(root, tmp_path / "index", tmp_path / "kb.sqlite3").test_client()


@pytest.mark.parametrize(
    "forbidden",
    [
        "<script>alert",
        "owned-by-script",
        "onclick",
        "onerror",
        "stealCookies",
        "javascript:",
        "<iframe",
        "evil.example.com",
        "<style>",
        "display: none",
    ],
)
def test_hostile_html_never_reaches_the_article_page(hostile_client, forbidden: str) -> None:  # type: ignore[no-untyped-def]
    response = hostile_client.get("/en/articles/hostile")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert forbidden not in page
    assert "<strong>bold</strong>" in page and "Click me" in page


@pytest.mark.parametrize(
    "forbidden",
    ["<script", "owned-by-script", "onclick", "onerror", "stealCookies", "javascript:", "<iframe", "<style"],
)
def test_hostile_html_never_reaches_the_api(hostile_client, forbidden: str) -> None:  # type: ignore[no-untyped-def]
    response = hostile_client.get("/api/articles/en/hostile")
    assert response.status_code == 200
    data = response.get_json()
    assert forbidden not in data["html"]
    assert all(forbidden not in s["text"] and forbidden not in s["heading"] for s in data["sections"])


def test_raw_html_that_only_formats_is_kept() -> None:
    html = render("<kbd>Ctrl</kbd> + <kbd>K</kbd>\n\n<details><summary>More</summary>Hidden</details>\n").html
    assert "<kbd>Ctrl</kbd>" in html
    assert "<details><summary>More</summary>Hidden</details>" in html


def test_links_get_rel_noopener() -> None:
    html = render("[site](https://example.com)").html
    assert '<a href="https://example.com" rel="noopener noreferrer">site</a>' in html


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        (
            "| Plan | Price |\n| --- | ---: |\n| Pro | $49 |\n",
            ["<table>", "<th>Plan</th>", '<td align="right">$49</td>'],
        ),
        (
            "```python\nprint('hi')\n```\n",
            ["<pre><code class=\"language-python\">print('hi')\n</code></pre>"],
        ),
        ("~~~\nplain fence\n~~~\n", ["<pre><code>plain fence\n</code></pre>"]),
        (
            '!!! warning "Careful"\n    Points cannot be restored.\n',
            [
                '<div class="admonition warning">',
                '<p class="admonition-title">Careful</p>',
                "<p>Points cannot be restored.</p>",
            ],
        ),
        (
            "!!! note\n    A note.\n",
            ['<div class="admonition note">', '<p class="admonition-title">Note</p>'],
        ),
        ("Term\n:   Its definition.\n", ["<dl>", "<dt>Term</dt>", "<dd>Its definition.</dd>"]),
        ("Go to **Settings** and *save*.", ["<strong>Settings</strong>", "<em>save</em>"]),
        ("Use the `PK-4011` code.", ["<code>PK-4011</code>"]),
        ("![Launcher](launcher.png)", ['<img alt="Launcher" src="launcher.png">']),
    ],
)
def test_writer_markdown_renders(markdown: str, expected: list[str]) -> None:
    html = render(markdown).html
    for fragment in expected:
        assert fragment in html, html


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("## Install the app", "install-the-app"),
        ("## Step 2: Connect your store!", "step-2-connect-your-store"),
        ("### What's a VIP tier?", "whats-a-vip-tier"),
        ("## 포인트 설정", "포인트-설정"),
        ("## Réglages avancés", "réglages-avancés"),
        ("## Custom anchor {#my-anchor}", "my-anchor"),
    ],
)
def test_headings_get_anchors(heading: str, anchor: str) -> None:
    html = render(heading + "\n\nText.\n").html
    assert f'id="{anchor}"' in html, html


def test_repeated_headings_get_distinct_anchors() -> None:
    sections = render("## Setup\n\nA\n\n## Setup\n\nB\n").sections
    assert len({s.anchor for s in sections}) == 2


def test_resolver_rewrites_links_it_knows_and_keeps_the_rest() -> None:
    known = {"other.md#go": "/en/articles/other#go"}
    html = render("[a](other.md#go) and [b](https://example.com/x)", known.get).html
    assert 'href="/en/articles/other#go"' in html
    assert 'href="https://example.com/x"' in html


@pytest.mark.parametrize(
    ("link", "url"),
    [
        ("launch-your-program.md", "/en/articles/launch-your-program"),
        ("launch-your-program.md#go-live", "/en/articles/launch-your-program#go-live"),
        ("./launch-your-program.md#before-you-launch", "/en/articles/launch-your-program#before-you-launch"),
        (
            "../points/set-up-points-expiry.md#turn-on-expiry",
            "/en/articles/set-up-points-expiry#turn-on-expiry",
        ),
        ("../billing/cancel-your-subscription.md", "/en/articles/cancel-your-subscription"),
    ],
)
def test_relative_md_links_become_article_urls_on_the_page(tmp_path: Path, link: str, url: str) -> None:
    text = f"---\ntitle: Linker\nsummary: S\n---\n\nSee [the other article]({link}).\n"
    root = write_tree(tmp_path / "articles", {**MINI_ARTICLES, "en/getting-started/linker.md": text})
    client = make_app(root, tmp_path / "index", tmp_path / "kb.sqlite3").test_client()
    page = client.get("/en/articles/linker").get_data(as_text=True)
    assert f'<a href="{url}" rel="noopener noreferrer">the other article</a>' in page
    assert ".md" not in page.split('class="article-body"')[1]


def test_sections_split_at_h2_and_h3_with_intro_first() -> None:
    body = textwrap.dedent("""\
        Points reward shoppers.

        ## Turn on expiry

        Choose **12 months** and save.

        - First item
        - Second item

        ### Exceptions

        VIP members keep points.

        #### Fine print

        Detail under the h3.

        ## Warn customers

        | When | What |
        | --- | --- |
        | 30 days | Email |
        """)
    assert render(body).sections == [
        Section("", "", 1, "Points reward shoppers."),
        Section("Turn on expiry", "turn-on-expiry", 2, "Choose 12 months and save.\nFirst item\nSecond item"),
        Section("Exceptions", "exceptions", 3, "VIP members keep points.\nFine print\nDetail under the h3."),
        Section("Warn customers", "warn-customers", 2, "When\nWhat\n30 days\nEmail"),
    ]


def test_article_without_intro_starts_with_its_first_heading() -> None:
    sections = render("## Only\n\nText &amp; more.\n").sections
    assert sections == [Section("Only", "only", 2, "Text & more.")]


def test_heading_with_attributes_is_its_own_section() -> None:
    sections = render("Intro.\n\n## Refunds {: .note }\n\nMoney back.\n").sections
    assert sections == [Section("", "", 1, "Intro."), Section("Refunds", "refunds", 2, "Money back.")]


def test_split_sections_of_empty_html_is_empty() -> None:
    assert split_sections("") == []


def test_toc_lists_h2_and_h3() -> None:
    toc = render("## One\n\n### One A\n\n## Two\n\n#### Too deep\n").toc
    assert [(t["id"], [c["id"] for c in t["children"]]) for t in toc] == [("one", ["one-a"]), ("two", [])]


def toc_page(tmp_path: Path, headings: int) -> str:
    body = "".join(f"## Heading {n}\n\nText {n}.\n\n" for n in range(1, headings + 1))
    text = f"---\ntitle: Headings\nsummary: S\n---\n\nIntro.\n\n{body}"
    root = write_tree(tmp_path / "articles", {**MINI_ARTICLES, "en/points/headings.md": text})
    client = make_app(root, tmp_path / "index", tmp_path / "kb.sqlite3").test_client()
    return client.get("/en/articles/headings").get_data(as_text=True)


@pytest.mark.parametrize("headings", [3, 5])
def test_article_page_shows_toc_with_three_or_more_headings(tmp_path: Path, headings: int) -> None:
    page = toc_page(tmp_path, headings)
    assert 'class="toc"' in page
    toc = page.split('class="toc"')[1].split("</nav>")[0]
    for n in range(1, headings + 1):
        assert f'<a href="#heading-{n}">Heading {n}</a>' in toc


@pytest.mark.parametrize("headings", [0, 2])
def test_article_page_has_no_toc_with_fewer_than_three_headings(tmp_path: Path, headings: int) -> None:
    assert 'class="toc"' not in toc_page(tmp_path, headings)
