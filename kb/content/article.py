"""What the content room holds: an article in one language, a category, and a problem found in the tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from kb.content.sections import Section


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the articles tree, located for the writer."""

    path: str
    line: int
    message: str
    severity: str = "error"  # "error" leaves the article out; "warning" only reports

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Category:
    locale: str
    slug: str
    title: str
    description: str = ""
    order: int = 1000


@dataclass
class Article:
    """One help article in one language."""

    locale: str
    slug: str
    category: str
    path: str  # relative to the articles folder, posix style: en/points/set-up-expiry.md
    title: str
    body: str
    summary: str = ""
    tags: list[str] = field(default_factory=list)
    order: int = 1000
    aliases: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)  # host page path patterns (`/settings/billing*`) for the widget
    draft: bool = False
    translation_of: str = ""
    html: str = ""
    toc: list[dict[str, Any]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    links: list[str] = field(default_factory=list, repr=False)  # as written, in order; none from code
    anchors: frozenset[str] = frozenset()  # every id a link may point at: all headings (h4 included) and more
    updated: datetime | None = None
    commit: str = ""
    content_hash: str = ""
    body_line: int = 1  # line of the file on which the Markdown body starts
    meta_lines: dict[str, int] = field(default_factory=dict, repr=False)  # front matter key -> line

    @property
    def id(self) -> str:
        return f"{self.locale}/{self.slug}"

    @property
    def url(self) -> str:
        return f"/{self.locale}/articles/{self.slug}"

    @cached_property
    def translation_key(self) -> str:
        """What joins the translations of one article: its path below the locale folder."""
        if self.translation_of:
            return self.translation_of
        locale, _, below = self.path.partition("/")
        if locale != self.locale or not below:
            raise ValueError(f"{self.path!r} is not in the {self.locale!r} folder")
        return below

    @property
    def revision(self) -> str:
        """The version a vote or a view is about: the last commit, or the content hash outside git."""
        return self.commit or self.content_hash[:12]

    @property
    def description(self) -> str:
        if self.summary:
            return self.summary
        first = next((s.text for s in self.sections if s.text), "")
        return first.split("\n")[0][:200]
