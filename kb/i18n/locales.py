"""Which language a visitor gets, and how each language is written (name, direction)."""

from __future__ import annotations

from babel import Locale, UnknownLocaleError
from flask import request

COOKIE = "kb_locale"


def _babel(locale: str) -> Locale | None:
    try:
        return Locale.parse(locale.replace("_", "-"), sep="-")
    except (ValueError, UnknownLocaleError):
        return None


def direction(locale: str) -> str:
    """``rtl`` or ``ltr``, from Babel's data on how the language is written (Arabic, Hebrew, Persian...)."""
    found = _babel(locale)
    return "rtl" if found is not None and found.text_direction == "rtl" else "ltr"


def name(locale: str) -> str:
    """The language's name in itself, as a language menu shows it ("Français", "한국어"); the code if unknown."""
    found = _babel(locale)
    own = found.get_display_name(found) if found is not None else None
    return own[:1].upper() + own[1:] if own else locale


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
