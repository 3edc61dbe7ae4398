"""Markdown to safe HTML: the extensions writers may use, links between articles, and sanitising.

A writer's raw HTML may format but never script: everything goes through nh3 after Markdown.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

import markdown
import nh3
from markdown.extensions import Extension
from markdown.extensions.toc import slugify_unicode
from markdown.treeprocessors import Treeprocessor

EXTENSIONS = ["tables", "fenced_code", "admonition", "sane_lists", "attr_list", "def_list", "toc"]

ALLOWED_TAGS = nh3.ALLOWED_TAGS | {
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "p",
    "div",
    "span",
    "pre",
    "code",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
    "hr",
    "br",
    "dl",
    "dt",
    "dd",
    "kbd",
    "details",
    "summary",
    "figure",
    "figcaption",
    "sup",
    "sub",
    "mark",
}
ALLOWED_ATTRIBUTES = {
    "*": {"id", "class", "title", "lang", "dir"},
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "th": {"align", "colspan", "rowspan"},
    "td": {"align", "colspan", "rowspan"},
}

# Resolves a link target written in an article to the URL it should have, or None to keep it.
LinkResolver = Callable[[str], "str | None"]


@dataclass(frozen=True)
class Section:
    """One heading's part of an article: what search embeds and what a hit links to."""

    heading: str
    anchor: str
    level: int
    text: str


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: list[dict[str, Any]]
    sections: list[Section]


class _LinkRewriter(Treeprocessor):
    def __init__(self, md: markdown.Markdown, resolve: LinkResolver) -> None:
        super().__init__(md)
        self.resolve = resolve

    def run(self, root: Element) -> None:
        for link in root.iter("a"):
            href = link.get("href")
            if href:
                url = self.resolve(href)
                if url is not None:
                    link.set("href", url)


class _LinkExtension(Extension):
    def __init__(self, resolve: LinkResolver) -> None:
        super().__init__()
        self.resolve = resolve

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (Markdown's API)
        md.treeprocessors.register(_LinkRewriter(md, self.resolve), "kb_links", 5)


def slugify(value: str, separator: str = "-") -> str:
    """Make a heading anchor the way the toc extension does, keeping non-Latin letters."""
    return str(slugify_unicode(value, separator))


def render(body: str, resolve: LinkResolver | None = None) -> Rendered:
    """Render an article body to sanitised HTML with its table of contents and sections."""
    extensions: list[Any] = list(EXTENSIONS)
    if resolve is not None:
        extensions.append(_LinkExtension(resolve))
    md = markdown.Markdown(
        extensions=extensions,
        # align= rather than style=: the sanitiser keeps align on th/td and drops every style attribute
        extension_configs={
            "toc": {"slugify": slugify, "toc_depth": "2-3"},
            "tables": {"use_align_attribute": True},
        },
        output_format="html",
    )
    raw = md.convert(body)
    safe = nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    toc = list(getattr(md, "toc_tokens", []))
    return Rendered(html=safe, toc=toc, sections=split_sections(safe))


_HEADING = re.compile(r'<h([23]) id="([^"]*)">(.*?)</h\1>', re.S)
_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|li|h\d|tr|td|th|pre|div|dd|dt|table|blockquote)>|<br\s*/?>")


def html_to_text(fragment: str) -> str:
    """Strip tags and collapse whitespace, keeping block boundaries as line breaks."""
    text = _BLOCK_END.sub("\n", fragment)
    text = html.unescape(_TAG.sub("", text))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def split_sections(safe_html: str) -> list[Section]:
    """Cut rendered HTML at each h2/h3; the text before the first heading is the intro (no anchor)."""
    sections: list[Section] = []
    pos, heading, anchor, level = 0, "", "", 1
    for match in _HEADING.finditer(safe_html):
        text = html_to_text(safe_html[pos : match.start()])
        if text or heading:
            sections.append(Section(heading, anchor, level, text))
        heading, anchor, level = html_to_text(match.group(3)), match.group(2), int(match.group(1))
        pos = match.end()
    text = html_to_text(safe_html[pos:])
    if text or heading:
        sections.append(Section(heading, anchor, level, text))
    return sections
