"""Cookies a script cannot read and other sites do not send: HttpOnly, SameSite=Lax, Secure over https."""

from __future__ import annotations

from flask import Flask, has_request_context
from flask.sessions import SecureCookieSessionInterface

from kb.security.headers import served_over_https


def secure() -> bool:
    """Whether cookies set now should be Secure (the visitor is on https)."""
    return has_request_context() and served_over_https()


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, marked Secure per request when the visitor is on https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or secure()


def init_app(app: Flask) -> None:
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = SessionCookies()
