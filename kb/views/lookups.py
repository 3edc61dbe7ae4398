"""What a URL or a form names, found in the site's library or answered with a 404 that says what is missing."""

from __future__ import annotations

from typing import Any

from flask import abort

from kb.content import Article, Category
from kb.i18n.ui import select_locale
from kb.site_state import library


def get_locale_or_404(locale: str | None) -> str:
    """Return ``locale`` (the visitor's language when None) if the help center has it, else 404."""
    locale = locale or select_locale()
    if locale not in library().locales:
        abort(404, description=f"There is no help center in {locale!r}.")
    return locale


def get_category(locale: str, slug: str) -> Category:
    """Return the category ``slug`` of ``locale``, else 404."""
    category = library().category(get_locale_or_404(locale), slug)
    if category is None:
        abort(404, description="This category does not exist.")
    return category


def get_article(article_id: Any) -> Article:
    """Return the article with id ``locale/slug`` (as a form or JSON sent it), else 404."""
    article = library().by_id(str(article_id or ""))
    if article is None:
        abort(404, description="No such article.")
    return article


ID_MAX = 2**31 - 1  # what an Integer column holds on SQLite and PostgreSQL alike


def get_id(value: Any) -> int | None:
    """A record id or a position as sent (``?s=``, ``"position"``): a whole number 0..2**31-1, else None."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number <= ID_MAX else None
