"""Markdown to safe HTML in one pass: the extensions writers may use, links between articles, sanitising,
and what the pass collects on the way (every link written, every id, the sections).

A writer's raw HTML may format but never script: everything goes through nh3 after Markdown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from xml.etree.ElementTree import Element

import markdown
import nh3
from markdown.extensions import Extension
from markdown.extensions.toc import slugify_unicode
from markdown.treeprocessors import Treeprocessor

from kb.content.sections import Part, Section, cut_parts, to_sections

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

# After every other treeprocessor, the unescaping one (0) included: ids are set and hrefs are as written.
_COLLECT_PRIORITY = -1


@dataclass(frozen=True)
class Rendered:
    html: str
    toc: list[dict[str, Any]]
    sections: list[Section]
    links: list[str]  # every href and image src written in Markdown, in document order; none from code
    anchors: frozenset[str]  # every id a link may point at, h4 headings and raw HTML included


class _Collector(Treeprocessor):
    """Collect links, ids and the section cut from the finished tree, and rewrite article links."""

    def __init__(self, md: markdown.Markdown, resolve: LinkResolver | None) -> None:
        super().__init__(md)
        self.resolve = resolve
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.parts: list[Part] = []

    def run(self, root: Element) -> None:
        for element in root.iter():
            if element.get("id") and element.tag in ALLOWED_TAGS:
                self.ids.add(element.get("id", ""))
            attribute = {"a": "href", "img": "src"}.get(str(element.tag))
            href = element.get(attribute) if attribute else None
            if not href:
                continue
            self.links.append(href)
            url = self.resolve(href) if self.resolve is not None and element.tag == "a" else None
            if url is not None:
                element.set("href", url)
        self.parts = cut_parts(root)


class _CollectExtension(Extension):
    def __init__(self, resolve: LinkResolver | None) -> None:
        super().__init__()
        self.resolve = resolve
        self.collector: _Collector | None = None

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 (Markdown's API)
        self.collector = _Collector(md, self.resolve)
        md.treeprocessors.register(self.collector, "kb_collect", _COLLECT_PRIORITY)


class _IdParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.update(value for name, value in attrs if name == "id" and value)


def slugify(value: str, separator: str = "-") -> str:
    """Make a heading anchor the way the toc extension does, keeping non-Latin letters."""
    return str(slugify_unicode(value, separator))


def sanitise(html: str) -> str:
    """Keep the tags and attributes that format; drop scripts, handlers and unsafe URLs."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def render(body: str, resolve: LinkResolver | None = None) -> Rendered:
    """Render an article body to sanitised HTML with its table of contents, sections, links and anchors."""
    collect = _CollectExtension(resolve)
    md = markdown.Markdown(
        extensions=[*EXTENSIONS, collect],
        # align= rather than style=: the sanitiser keeps align on th/td and drops every style attribute
        extension_configs={
            "toc": {"slugify": slugify, "toc_depth": "2-3"},
            "tables": {"use_align_attribute": True},
        },
        output_format="html",
    )
    safe = sanitise(md.convert(body))
    found = collect.collector
    assert found is not None  # set when Markdown loaded the extension
    sections = to_sections(found.parts, lambda elements: sanitise(_serialise(md, elements)))
    toc = list(getattr(md, "toc_tokens", []))
    anchors = frozenset(found.ids | _raw_html_ids(md))
    return Rendered(html=safe, toc=toc, sections=sections, links=found.links, anchors=anchors)


def split_sections(body: str) -> list[Section]:
    """Cut a Markdown body at each h2/h3; the text before the first heading is the intro (no anchor)."""
    return render(body).sections


def _serialise(md: markdown.Markdown, elements: list[Element]) -> str:
    """Write some elements of the finished tree as ``convert`` writes the whole: serialiser, then postprocessors."""
    wrapper = Element(md.doc_tag)
    wrapper.extend(elements)
    output = md.serializer(wrapper)
    start, end = output.find(f"<{md.doc_tag}>"), output.rfind(f"</{md.doc_tag}>")
    output = output[start + len(md.doc_tag) + 2 : end] if start >= 0 and end >= 0 else ""
    for postprocessor in md.postprocessors:
        output = postprocessor.run(output)
    return output.strip()


def _raw_html_ids(md: markdown.Markdown) -> set[str]:
    """Ids in the writer's raw HTML, which Markdown keeps aside unparsed, as the sanitiser leaves them."""
    parser = _IdParser()
    for block in md.htmlStash.rawHtmlBlocks:
        if isinstance(block, str):
            parser.feed(sanitise(block))
    parser.close()
    return parser.ids
