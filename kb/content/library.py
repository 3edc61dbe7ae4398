"""The Library: every servable article, indexed by locale and slug, with its categories, aliases,
translations and the problems found while loading it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kb.content.article import Article, Category, Problem
from kb.content.git_dates import repo_path


class Library:
    """Every servable article, by locale and slug, with categories, aliases and the problems found."""

    def __init__(
        self, root: Path, articles: list[Article], categories: dict[tuple[str, str], Category], problems: list[Problem]
    ) -> None:
        self.root = root
        self.repo_folder = repo_path(root) if root.exists() else root.name  # for "edit this article" links
        self.problems = problems
        self.categories = categories
        self._by_key = {(a.locale, a.slug): a for a in articles}
        self._sorted = sorted(self._by_key.values(), key=_sort_key)
        self._aliases = {(a.locale, alias): a.slug for a in articles for alias in a.aliases}
        self._by_slug: dict[str, list[Article]] = {}
        for a in self._sorted:
            self._by_slug.setdefault(a.slug, []).append(a)
        self._translations: dict[str, dict[str, Article]] = {}
        for a in articles:
            self._translations.setdefault(a.translation_key, {})[a.locale] = a
        self.locales = sorted({a.locale for a in articles} | {c[0] for c in categories})

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Article]:
        return iter(self._sorted)

    def get(self, locale: str, slug: str) -> Article | None:
        return self._by_key.get((locale, slug))

    def by_id(self, article_id: str) -> Article | None:
        locale, _, slug = article_id.partition("/")
        return self.get(locale, slug)

    def alias_target(self, locale: str, slug: str) -> str | None:
        return self._aliases.get((locale, slug))

    def in_locale(self, locale: str, category: str | None = None) -> list[Article]:
        return [a for a in self if a.locale == locale and (category is None or a.category == category)]

    def categories_in(self, locale: str) -> list[Category]:
        found = [c for (loc, _), c in self.categories.items() if loc == locale]
        return sorted(found, key=lambda c: (c.order, c.title.lower()))

    def category(self, locale: str, slug: str, prefer: str = "en") -> Category | None:
        """The category in ``locale``, or its original when only another language has it yet."""
        return self.categories.get((locale, slug)) or self.categories.get((prefer, slug))

    def translations(self, article: Article) -> dict[str, Article]:
        """Return the article in every locale that has it, its own included."""
        return dict(self._translations.get(article.translation_key, {}))

    def original(self, locale: str, slug: str, prefer: str = "en") -> Article | None:
        """The article a visitor of ``locale`` gets when it has no translation: ``prefer``'s, else any."""
        found = [a for a in self._by_slug.get(slug, []) if a.locale != locale]
        return next((a for a in found if a.locale == prefer), found[0] if found else None)

    def with_originals(self, locale: str, category: str | None = None, prefer: str = "en") -> list[Article]:
        """The locale's articles, plus the original of every article not translated into it yet."""
        own = self.in_locale(locale, category)
        have = {a.translation_key for a in own}
        if prefer == locale:
            return own
        extra = [a for a in self.in_locale(prefer, category) if a.translation_key not in have]
        return sorted(own + extra, key=lambda a: (a.order, a.title.lower()))

    def translation_locales(self, article: Article) -> set[str]:
        return set(self._translations.get(article.translation_key, {}))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def _sort_key(a: Article) -> tuple[str, str, int, str]:
    return (a.locale, a.category, a.order, a.title.lower())
