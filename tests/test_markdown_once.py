"""What the one Markdown pass collects: the links written (none from code), every id, and where each link is."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import MINI_ARTICLES, write_tree

from kb.content import load_library
from kb.content.render import render


def test_links_are_collected_in_order_without_code() -> None:
    body = (
        "See [one](one.md) and `[two](two.md)`.\n\n"
        "    [three](three.md)\n\n"
        "```\n[four](four.md)\n```\n\n"
        "![pic](pic.png) and [five][5].\n\n"
        "[5]: five.md\n"
    )
    assert render(body).links == ["one.md", "pic.png", "five.md"]


def test_anchors_are_every_id_of_the_page() -> None:
    body = '## Steps\n\n#### Fine print\n\nA note.\n{: #note }\n\n<div id="raw-box">Raw.</div>\n'
    assert render(body).anchors == {"steps", "fine-print", "note", "raw-box"}


def test_heading_inside_an_admonition_cuts_a_section() -> None:
    body = "Intro.\n\n!!! note\n    Before.\n\n    ## Inside\n\n    After.\n"
    sections = render(body).sections
    assert [(s.heading, s.anchor, s.text) for s in sections] == [
        ("", "", "Intro.\nNote\nBefore."),
        ("Inside", "inside", "After."),
    ]


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (["    [old](gone.md)", "", "Now [new](gone.md)."], [8]),  # the same href shown as code first
        (["```", "[old](gone.md)", "```", "", "Now [new](gone.md)."], [10]),
        (["1. Step", "", "    See [it](gone.md).", "", "Again [it](gone.md)."], [8, 10]),  # a list item's paragraph
        (["Fine [a](launch-your-program.md).", "", "Broken [b](gone.md)."], [8]),
    ],
)
def test_broken_link_is_reported_on_its_own_line(tmp_path: Path, body: list[str], found: list[int]) -> None:
    text = "\n".join(["---", "title: Lines", "summary: S", "---", "", *body]) + "\n"
    root = write_tree(tmp_path / "articles", {**MINI_ARTICLES, "en/getting-started/lines.md": text})
    errors = load_library(root).errors
    assert [(p.path, p.line) for p in errors] == [("en/getting-started/lines.md", n) for n in found], [
        str(p) for p in errors
    ]


def test_link_target_is_normalised(tmp_path: Path) -> None:
    text = "---\ntitle: Norm\nsummary: S\n---\n\nSee [it](./../getting-started/./launch-your-program.md#go-live).\n"
    root = write_tree(tmp_path / "articles", {**MINI_ARTICLES, "en/points/norm.md": text})
    library = load_library(root)
    article = library.get("en", "norm")
    assert library.errors == [] and article is not None
    assert 'href="/en/articles/launch-your-program#go-live"' in article.html
