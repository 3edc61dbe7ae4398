"""The writers' loop: from a question no article answered to the line that makes `kb check` hold the fix.

A writer who fixed a failed search (a new article, a better summary, a synonym) adds the question to
``articles/_search_tests.yml`` with the article that must answer it, or ``expect: null`` when none should;
or adds the visitor's word to ``articles/_synonyms.yml``. These functions write those lines, in YAML that
reads back as exactly what was asked (kb.search.evaluate and kb.search.synonyms read them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

from kb.content import Library
from kb.content.yaml_values import BUILD_ERRORS, NOT_PRINTABLE

TESTS_FILE = "articles/_search_tests.yml"
SYNONYMS_FILE = "articles/_synonyms.yml"
QUESTION_MAX = 300  # what the searcher reads of a question


@dataclass(frozen=True)
class Choice:
    """An article a writer can name as the answer: its slug, and a label with its title and language."""

    slug: str
    label: str


def clean(text: str, limit: int = QUESTION_MAX) -> str:
    """One line of text, as a test or a synonym holds it, without the characters YAML refuses in a file
    (a visitor can type DEL or a C1 control; one in a pasted line would void the whole file)."""
    return " ".join(NOT_PRINTABLE.sub(" ", str(text or "")).split())[:limit]


def _quoted(text: str) -> str:
    """``text`` as a YAML double-quoted scalar: JSON's string is YAML's once ``clean`` has run."""
    return json.dumps(clean(text), ensure_ascii=False)


def search_test_line(question: str, slug: str | None, locale: str = "en") -> str:
    """The ``_search_tests.yml`` entry: ``question`` must find ``slug`` in the top 3 (None: no suggestion).

    Each value quoted: a slug or locale such as ``no``, ``on`` or ``null`` would otherwise read as a boolean
    or as "no suggestion"."""
    question = clean(question)
    if not question:
        raise ValueError("a search test needs a question")
    lines = [f"- q: {_quoted(question)}", f"  expect: {_quoted(slug) if slug else 'null'}"]
    if locale and locale != "en":
        lines.append(f"  locale: {_quoted(locale)}")
    return "\n".join(lines)


def synonym_line(article_words: str, visitor_words: str) -> str:
    """The ``_synonyms.yml`` entry that makes the visitor's words find the articles' words."""
    words = [clean(w, 100).lower() for w in (article_words, visitor_words)]
    words = [w.replace("=", " ").strip() for w in words]
    if not all(words) or words[0] == words[1]:
        raise ValueError("a synonym needs two different words or phrases")
    group = " = ".join(words)
    text = f"- {group}"
    try:
        if yaml.safe_load(text) == [group]:
            return text
    except BUILD_ERRORS:  # "!!int x = y" is a tag the plain line would apply
        pass
    return f"- {_quoted(group)}"


def article_choices(library: Library, locale: str) -> list[Choice]:
    """The articles a test for a question in ``locale`` can expect: that language's, then the originals
    it has no translation of (a slug names the article in every language)."""
    seen: dict[str, Choice] = {}
    for article in sorted(library.in_locale(locale), key=lambda a: a.title.lower()):
        seen.setdefault(article.slug, Choice(article.slug, f"{article.title} ({article.slug})"))
    for article in sorted(library, key=lambda a: a.title.lower()):
        if article.slug not in seen:
            seen[article.slug] = Choice(article.slug, f"{article.title} ({article.locale}/{article.slug})")
    return list(seen.values())
