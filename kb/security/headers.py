"""Security headers on every response: what the browser may run, frame, sniff and send on.

The Content-Security-Policy allows scripts, styles, fonts and images from this site only, with no
'unsafe-inline' (the templates hold no inline script or style; data for scripts travels in
``<script type="application/json">`` blocks, which are not run). No page may be framed
(``frame-ancestors 'none'``): the widget draws in a Shadow DOM on the host page, never in a frame.
HSTS is sent only when the request came over https (after ProxyFix) or KB_BASE_URL is https.
The widget's script and files (/widget.js, /widget/...) are loaded by other sites, so they get no
Cross-Origin-Resource-Policy here; their CORS headers are the widget's own.
"""

from __future__ import annotations

from flask import Flask, Response, request

from kb.security.urls import base_url

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HSTS = "max-age=31536000"
SHARED_PREFIXES = ("/widget.js", "/widget/", "/static/")  # loaded by other origins: no CORP same-origin


def served_over_https() -> bool:
    """Whether this response reaches the visitor over https: the request (after ProxyFix) or KB_BASE_URL says so."""
    return https(request.scheme, base_url())


def https(scheme: str, base: str) -> bool:
    """The same rule from a WSGI environ's scheme and KB_BASE_URL (cached pages answer outside Flask)."""
    return scheme == "https" or base.startswith("https://")


def add_security_headers(response: Response) -> Response:
    """Set the security headers this response lacks (a view may have set its own)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors for browsers that predate it
    if not request.path.startswith(SHARED_PREFIXES):
        headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    if served_over_https():
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
