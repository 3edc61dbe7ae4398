"""The visitor: a first-party cookie with a random id, so a person is recognised without their IP."""

from __future__ import annotations

import secrets

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


def _load() -> None:
    value = request.cookies.get(COOKIE, "")
    g.visitor_is_new = not (16 <= len(value) <= 64 and value.isalnum())
    g.visitor = secrets.token_hex(16) if g.visitor_is_new else value


def _store(response: Response) -> Response:
    if g.get("visitor_is_new") and request.endpoint != "static":
        response.set_cookie(COOKIE, g.visitor, max_age=MAX_AGE, httponly=True, samesite="Lax", secure=cookies.secure())
    return response
