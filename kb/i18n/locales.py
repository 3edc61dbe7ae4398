"""Which language a visitor gets, and how each language is written (name, direction)."""

from __future__ import annotations

from flask import request

NAMES = {
    "en": "English",
    "fr": "Français",
    "ko": "한국어",
    "ar": "العربية",
    "de": "Deutsch",
    "es": "Español",
    "ja": "日本語",
    "zh": "中文",
    "pt": "Português",
    "it": "Italiano",
    "nl": "Nederlands",
}
RTL = {"ar", "he", "fa", "ur"}
COOKIE = "kb_locale"


def direction(locale: str) -> str:
    return "rtl" if locale.split("-")[0] in RTL else "ltr"


def name(locale: str) -> str:
    return NAMES.get(locale, locale)


def preferred_locale(available: list[str], default: str) -> str:
    """The visitor's remembered choice, else the best match for Accept-Language, else the default."""
    chosen = request.cookies.get(COOKIE, "")
    if chosen in available:
        return chosen
    if not available:
        return default
    best = request.accept_languages.best_match(available)
    if best:
        return best
    for lang, _quality in request.accept_languages:
        base = lang.split("-")[0].lower()
        if base in available:
            return base
    return default if default in available else available[0]
