"""The visitor: a first-party cookie with a random id, so a person is recognised without their IP."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, Response, g, request

from kb.security import cookies

COOKIE = "kb_visitor"
MAX_AGE = 365 * 24 * 3600


def init_app(app: Flask) -> None:
    app.before_request(_load)
    app.after_request(_store)


def current_visitor() -> str:
    """Return this visitor's id, making one on the first request."""
    if "visitor" not in g:
        _load()
    visitor: str = g.visitor
    return visitor


def well_formed(value: str) -> bool:
    """Whether a cookie's value can be a visitor id kb made (anything else gets a new one)."""
    return 16 <= len(value) <= 64 and value.isalnum()


def new_id() -> str:
    return secrets.token_hex(16)


def cookie_options(secure: bool) -> dict[str, Any]:
    """The visitor cookie's attributes, for ``set_cookie`` and for ``dump_cookie`` (cached pages)."""
    return {"max_age": MAX_AGE, "httponly": True, "samesite": "Lax", "secure": secure}


def _load() -> None:
    value = request.cookies.get(COOKIE, "")
    g.visitor_is_new = not well_formed(value)
    g.visitor = new_id() if g.visitor_is_new else value


def _store(response: Response) -> Response:
    if g.get("visitor_is_new") and request.endpoint != "static":
        response.set_cookie(COOKIE, g.visitor, **cookie_options(cookies.secure()))
    return response
