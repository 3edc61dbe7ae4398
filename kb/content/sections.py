"""Sections: an article cut at each h2/h3, what search embeds and what a hit links to.

The cut is made on the element tree of the one Markdown pass, so a heading is a section whatever
attributes it carries; the text of each part is read from its sanitised HTML, as a visitor sees it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

SECTION_LEVELS = {"h2": 2, "h3": 3}

_TAG = re.compile(r"<[^>]+>")
_BLOCK_END = re.compile(r"</(p|li|h\d|tr|td|th|pre|div|dd|dt|table|blockquote)>|<br\s*/?>")

# Turns elements of the rendered tree into the sanitised HTML a page would serve for them.
SafeHtml = Callable[[list[Element]], str]


@dataclass(frozen=True)
class Section:
    """One heading's part of an article: what search embeds and what a hit links to."""

    heading: str
    anchor: str
    level: int
    text: str


@dataclass
class Part:
    """A heading of the tree (None for the intro) and the elements under it, up to the next h2/h3."""

    heading: Element | None
    elements: list[Element] = field(default_factory=list)


def html_to_text(fragment: str) -> str:
    """Strip tags and collapse whitespace, keeping block boundaries as line breaks."""
    text = _BLOCK_END.sub("\n", fragment)
    text = html.unescape(_TAG.sub("", text))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def cut_parts(root: Element) -> list[Part]:
    """Cut the rendered tree at each h2/h3 in document order, headings nested in blocks included."""
    parts = [Part(None)]

    def walk(parent: Element) -> None:
        for child in parent:
            if child.tag in SECTION_LEVELS:
                parts.append(Part(child))
            elif any(inner.tag in SECTION_LEVELS for inner in child.iter()):
                if child.text and child.text.strip():
                    loose = Element("p")
                    loose.text = child.text
                    parts[-1].elements.append(loose)
                walk(child)
            else:
                parts[-1].elements.append(child)

    walk(root)
    return parts


def to_sections(parts: list[Part], safe_html: SafeHtml) -> list[Section]:
    """Read each part's heading and text; a part with neither (an empty intro) is left out."""
    sections: list[Section] = []
    for part in parts:
        text = html_to_text(safe_html(part.elements)) if part.elements else ""
        heading, anchor, level = "", "", 1
        if part.heading is not None:
            heading = html_to_text(safe_html([part.heading]))
            anchor, level = part.heading.get("id", ""), SECTION_LEVELS[str(part.heading.tag)]
        if text or heading:
            sections.append(Section(heading, anchor, level, text))
    return sections
