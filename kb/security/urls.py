"""Absolute links from KB_BASE_URL, never from the request's Host, and unknown Hosts refused.

A request's ``Host`` header is whatever the client sent: building mail links, canonical links, the sitemap
or robots.txt from it lets anyone make the site publish (or mail) links to their own host. With KB_BASE_URL
set every absolute URL starts with it and a request for any other host is answered 400. Without it
(development) links follow the request, as Flask does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, has_request_context, request, url_for

from kb.config import settings_of


def base_url(app: Flask | None = None) -> str:
    """KB_BASE_URL without its trailing slash ("" when unset)."""
    return settings_of(app or current_app).base_url.strip().rstrip("/")


def allowed_host(app: Flask | None = None) -> str:
    """The ``host[:port]`` requests must name when KB_BASE_URL is set ("" when any host is accepted)."""
    base = base_url(app)
    return urlsplit(base).netloc.lower() if base else ""


def absolute_url(path: str) -> str:
    """``path`` (from the app's root) as an absolute URL: after KB_BASE_URL, or the request's root if unset."""
    base = base_url()
    if base:
        return base + path
    return request.url_root.rstrip("/") + path


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of ``endpoint``: KB_BASE_URL and the route's path, or the request's own host if unset."""
    base = base_url()
    if not base:
        return url_for(endpoint, _external=True, **values)
    if has_request_context():
        path = url_for(endpoint, **values)
        root = request.script_root
        if root and path.startswith(root):
            path = path[len(root) :]  # KB_BASE_URL already holds the prefix the app is mounted under
        return base + path
    with current_app.test_request_context("/", base_url=base):
        return base + url_for(endpoint, **values)


def _same_host(host: str, allowed: str) -> bool:
    """Whether ``host`` names the allowed host (a default port written out or left off is the same host)."""
    host = host.lower()
    if host == allowed:
        return True
    scheme = urlsplit(base_url()).scheme
    default = {"https": "443", "http": "80"}.get(scheme, "")
    return bool(default) and (host == f"{allowed}:{default}" or f"{host}:{default}" == allowed)


ANY_HOST = ("/healthz",)  # the load balancer's health check asks by address; it answers no links


def check_host() -> None:
    """Refuse with 400 a request whose Host is not KB_BASE_URL's host (when KB_BASE_URL is set)."""
    allowed = allowed_host()
    if allowed and request.path not in ANY_HOST and not _same_host(request.host, allowed):
        abort(400, description="This site does not answer for that host name.")


def init_app(app: Flask) -> None:
    """Check the Host before anything else runs, and give templates ``external_url``."""
    app.before_request_funcs.setdefault(None, []).insert(0, check_host)
    app.jinja_env.globals["external_url"] = external_url
    app.jinja_env.globals["absolute_url"] = absolute_url
