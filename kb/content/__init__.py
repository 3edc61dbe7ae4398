"""The help center's content: articles read from Markdown files, validated (``path:line``), rendered
once, and gathered into a Library by locale, slug and category."""

from kb.content.article import Article, Category, Problem
from kb.content.library import Library
from kb.content.loader import load_library

__all__ = ["Article", "Category", "Library", "Problem", "load_library"]
