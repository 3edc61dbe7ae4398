"""UI strings in the visitor's language (Flask-Babel): the locale comes from the URL, then the visitor."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask import Flask, current_app, request, url_for
from flask_babel import Babel, format_date

from kb.i18n import locales
from kb.security.urls import external_url

TRANSLATIONS = Path(__file__).parent / "translations"


def select_locale() -> str:
    """The locale of the page being served: the URL's, else the visitor's preference."""
    from kb.site_state import library

    view_locale = (request.view_args or {}).get("locale") if request else None
    available = library().locales
    if view_locale in available:
        return str(view_locale)
    asked = request.args.get("locale", "")
    if asked in available:
        return asked
    return locales.preferred_locale(available, current_app.config["DEFAULT_LOCALE"])


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_translation_directories=str(TRANSLATIONS))
    app.jinja_env.globals.update(text_direction=locales.direction, locale_name=locales.name)
    app.jinja_env.filters["date"] = _date
    app.context_processor(_language_links)


def _language_links() -> dict[str, object]:
    """This page in every language: for the switcher and the hreflang alternates."""
    from kb.site_state import library

    args = dict(request.view_args or {})
    if request.endpoint is None or "locale" not in args:
        return {"language_links": []}
    links = []
    for locale in library().locales:
        args["locale"] = locale
        links.append(
            {
                "locale": locale,
                "name": locales.name(locale),
                "url": url_for(request.endpoint, **args),
                "absolute": external_url(request.endpoint, **args),  # KB_BASE_URL, never the Host header
            }
        )
    return {"language_links": links}


def _date(value: datetime | None) -> str:
    return format_date(value, "long") if value else ""
