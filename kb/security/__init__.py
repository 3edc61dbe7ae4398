"""Defences against what an attacker sends: Host and redirects, headers and cookies, sessions, limits.

``init_app`` wires them into the app in ``create_app``: the proxy's headers trusted only as far as
KB_PROXY_COUNT says, unknown Hosts refused when KB_BASE_URL is set, security headers on every response,
session cookies Secure over https, and rate-limit counters kept in the database.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from kb.config import settings_of
from kb.security import cookies, headers, json_bodies, rate_store, urls
from kb.security.query_strings import AsciiQueryStrings


def init_app(app: Flask) -> None:
    """Install the proxy fix, the Host check, the headers and the cookie rules on ``app``."""
    settings = settings_of(app)
    if settings.proxy_count:
        n = settings.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    app.wsgi_app = AsciiQueryStrings(app.wsgi_app)  # type: ignore[method-assign]
    rate_store.register()
    urls.init_app(app)
    headers.init_app(app)
    cookies.init_app(app)
    json_bodies.init_app(app)
