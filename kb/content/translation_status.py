"""Which articles each language lacks, and which translations went stale (the original changed in git
after the translation's last commit), for `kb check`."""

from __future__ import annotations

from dataclasses import dataclass, field

from kb.content.article import Article, Problem
from kb.content.library import Library


@dataclass
class LocaleStatus:
    locale: str
    translated: int = 0
    missing: list[Article] = field(default_factory=list)  # originals with no version in this locale
    stale: list[tuple[Article, Article]] = field(default_factory=list)  # (translation, original)


def translation_status(library: Library, source: str = "en") -> list[LocaleStatus]:
    """Per locale other than ``source``: counts, missing originals and stale translations."""
    originals = library.in_locale(source)
    statuses = []
    for locale in library.locales:
        if locale == source:
            continue
        status = LocaleStatus(locale)
        for original in originals:
            translation = library.translations(original).get(locale)
            if translation is None:
                status.missing.append(original)
                continue
            status.translated += 1
            if (
                original.commit
                and translation.commit
                and original.updated
                and translation.updated
                and original.updated > translation.updated
            ):
                status.stale.append((translation, original))
        statuses.append(status)
    return statuses


def stale_problems(statuses: list[LocaleStatus]) -> list[Problem]:
    return [
        Problem(
            t.path,
            1,
            f"stale translation: {o.path} changed in git on {o.updated:%Y-%m-%d}, after this "
            f"translation's last commit on {t.updated:%Y-%m-%d}",
            "warning",
        )
        for s in statuses
        for t, o in s.stale
        if t.updated and o.updated
    ]


def summary_lines(statuses: list[LocaleStatus], total: int) -> list[str]:
    lines = []
    for s in statuses:
        missing = ", ".join(a.slug for a in s.missing[:5]) + (" …" if len(s.missing) > 5 else "")
        lines.append(
            f"{s.locale}: {s.translated} of {total} articles translated, {len(s.missing)} missing"
            + (f" ({missing})" if s.missing else "")
            + f", {len(s.stale)} stale"
        )
    return lines
