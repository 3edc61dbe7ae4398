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

TESTS_FILE = "articles/_search_tests.yml"
SYNONYMS_FILE = "articles/_synonyms.yml"
QUESTION_MAX = 300  # what the searcher reads of a question


@dataclass(frozen=True)
class Choice:
    """An article a writer can name as the answer: its slug, and a label with its title and language."""

    slug: str
    label: str


def clean(text: str, limit: int = QUESTION_MAX) -> str:
    """One line of text, as a test or a synonym holds it."""
    return " ".join(str(text or "").split())[:limit]


def search_test_line(question: str, slug: str | None, locale: str = "en") -> str:
    """The ``_search_tests.yml`` entry: ``question`` must find ``slug`` in the top 3 (None: no suggestion)."""
    question = clean(question)
    if not question:
        raise ValueError("a search test needs a question")
    lines = [f"- q: {json.dumps(question, ensure_ascii=False)}", f"  expect: {slug if slug else 'null'}"]
    if locale and locale != "en":
        lines.append(f"  locale: {locale}")
    return "\n".join(lines)  # JSON's double-quoted string is YAML's: it reads back as typed


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
    except yaml.YAMLError:
        pass
    return f"- {json.dumps(group, ensure_ascii=False)}"


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
