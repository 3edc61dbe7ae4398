"""Article pages rendered once per index build, and served again without Flask.

An article page is the same for every visitor who arrives without a question in the URL and has no vote
of theirs to show, except for the vote form's CSRF token: the page is stored with the token cut out and
served with the visitor's own. Rendering it cost ten times the rest of a request, and Flask's own request
handling (context, hooks, session) as much again as the page read needs, so a stored page is answered by
``PageServer``, a WSGI layer in front of Flask (behind ProxyFix). It does what Flask would do for this
one page and no more: the visitor and session cookies (only the plain cases: a new visitor, or a session
holding nothing but its CSRF token; anything else goes on to Flask), the headers Flask sent when the page
was stored (security headers included), a request id, and the view counted. A new index build brings new
articles: the pages of the old build are dropped the first time a request names the new one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from flask import Flask, current_app, request
from flask_wtf.csrf import generate_csrf
from werkzeug.http import dump_cookie, parse_cookie
from werkzeug.wsgi import get_host

from kb import request_ids
from kb.security import cookies
from kb.security.headers import https
from kb.security.urls import base_url
from kb.tracking import visitor
from kb.tracking.article_views import VIEW_SOURCES, source_from_referrer
from kb.tracking.view_buffer import buffer_of

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

TOKEN_MARK = "\x00csrf\x00"  # NULs: in no rendered page, so only the token is ever put back
FILL = "kb.page_cache.fill"  # environ key: the view's rendered page, for PageServer to store with its headers
PER_RESPONSE = {"content-length", "set-cookie", "retry-after", request_ids.HEADER.lower()}
PER_RESPONSE_PREFIXES = ("x-ratelimit-",)  # an operator's default rate limit counts per visitor
CSRF_SALT = "wtf-csrf-token"  # Flask-WTF's; a test checks that a token made here passes its validate_csrf

Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class Page:
    """A stored page: the HTML without its token, the headers every visitor gets, the article it counts."""

    html: str
    headers: tuple[tuple[str, str], ...]
    article_id: str
    revision: str


@dataclass(frozen=True)
class Fill:
    build: str
    key: Key
    html: str
    article_id: str
    revision: str


class PageCache:
    """At most ``max_pages`` pages of one build, the least recently served dropped first."""

    def __init__(self, max_pages: int) -> None:
        self.max_pages = max_pages
        self._pages: OrderedDict[Key, Page] = OrderedDict()
        self._build = ""
        self._lock = threading.Lock()

    def get(self, build: str, key: Key) -> Page | None:
        with self._lock:
            page = self._pages.get(key) if build == self._build else None
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, build: str, key: Key, page: Page) -> None:
        if self.max_pages <= 0:
            return
        with self._lock:
            if build != self._build:
                self._pages.clear()
                self._build = build
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self.max_pages:
                self._pages.popitem(last=False)

    def __len__(self) -> int:
        return len(self._pages)


def environ_key(environ: WSGIEnvironment) -> Key:
    """A page's key: what the request names (scheme, Host, mount point, path), as ProxyFix left it."""
    return (
        str(environ.get("wsgi.url_scheme", "http")),
        str(environ.get("HTTP_HOST", "")).lower(),
        str(environ.get("SCRIPT_NAME", "")),
        str(environ.get("PATH_INFO", "")),
    )


def came_from_argument(query_string: str) -> str | None:
    """The ``from`` of a query string that holds nothing else (the page is then everyone's), else None."""
    if not query_string:
        return ""
    pairs = parse_qsl(query_string, keep_blank_values=True)
    if len(pairs) == 1 and pairs[0][0] == "from" and pairs[0][1] in VIEW_SOURCES:
        return pairs[0][1]
    return None


# In Flask: the article view renders a page and leaves it here for PageServer, or serves a stored one.


def page_key(cacheable: bool) -> Key | None:
    """This request's key in the store, or None when its page is the visitor's own (``cacheable`` False: a
    vote of theirs to show; or a query string with more than ``from``)."""
    if not cacheable or came_from_argument(request.query_string.decode("latin-1")) is None:
        return None
    return environ_key(request.environ)


def stored_page(build: str, key: Key | None) -> str | None:
    """A stored page with this visitor's token, for a request PageServer passed on to Flask."""
    page = cache_of(current_app).get(build, key) if key is not None else None
    return None if page is None else page.html.replace(TOKEN_MARK, generate_csrf())


def offer_page(build: str, key: Key | None, html: str, article_id: str, revision: str) -> str:
    """Leave a just-rendered page for PageServer to store once Flask has added its headers; return it."""
    if key is not None:
        request.environ[FILL] = Fill(build, key, html.replace(generate_csrf(), TOKEN_MARK), article_id, revision)
    return html


# Outside Flask: answer a stored page, or pass the request on and store what the view offered.


class PageServer:
    """The WSGI layer that answers stored article pages and stores new ones."""

    def __init__(self, app: Flask, inner: WSGIApplication) -> None:
        self.app = app
        self.inner = inner
        self.cache = cache_of(app)
        self.csrf_field = str(app.config.get("WTF_CSRF_FIELD_NAME") or "csrf_token")
        self._signers: dict[Any, cookies.SmallCookieSerializer] = {}
        self.session_cookie = app.session_interface.get_cookie_name(app)
        self.base = base_url(app)
        # Flask-Limiter runs in Flask: with a default limit for every route, article pages must go through it.
        self.serving = not app.config.get("RATELIMIT_DEFAULT")
        self.served = 0  # pages answered here, not by Flask (a figure for tests and benchmarks)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.serving and self.cache.max_pages > 0 and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            try:
                answered = self._answer(environ, start_response)
            except Exception as exc:  # whatever a request holds, Flask answers it as it would without the cache
                log.warning("stored page not served (%s); Flask answers", type(exc).__name__)
                answered = None
            if answered is not None:
                return answered
        return self._pass_on(environ, start_response)

    def csrf_signer(self) -> cookies.SmallCookieSerializer:
        """Flask-WTF's token signer, with the key it would read now (WTF_CSRF_SECRET_KEY, else SECRET_KEY)."""
        secret = self.app.config.get("WTF_CSRF_SECRET_KEY", self.app.secret_key)
        signer = self._signers.get(secret)
        if signer is None:
            signer = cookies.SmallCookieSerializer(secret, salt=CSRF_SALT)  # type: ignore[arg-type]  # None: raises
            self._signers = {secret: signer}
        return signer

    def _answer(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes] | None:
        if not self.cache:
            return None
        build = self.app.extensions["kb.state"].current().build_id
        page = self.cache.get(build, environ_key(environ))  # most requests stop here: not a stored page
        source = came_from_argument(str(environ.get("QUERY_STRING", ""))) if page is not None else None
        if page is None or source is None:
            return None
        jar = parse_cookie(environ)
        secure = https(str(environ.get("wsgi.url_scheme", "")), self.base)
        set_cookies: list[str] = []
        raw = jar.get(self.session_cookie)
        if raw:
            session = cookies.open_session_cookie(self.app, raw)
            if session is None or set(session) != {self.csrf_field}:
                return None  # a session with more in it (a vote to show, an admin): Flask's
            token_seed = str(session[self.csrf_field])
        else:
            token_seed = hashlib.sha1(os.urandom(64)).hexdigest()  # as Flask-WTF makes it
            set_cookies.append(cookies.new_session_cookie(self.app, {self.csrf_field: token_seed}, secure))
        visitor_id = jar.get(visitor.COOKIE, "")
        if not visitor.well_formed(visitor_id):
            visitor_id = visitor.new_id()
            set_cookies.append(dump_cookie(visitor.COOKIE, visitor_id, **visitor.cookie_options(secure)))
        if not source:
            source = source_from_referrer(environ.get("HTTP_REFERER"), get_host(environ))  # as request.host
        token = self.csrf_signer().dumps(token_seed)
        buffer_of(self.app).add(visitor_id, page.article_id, page.revision, source, "")
        body = page.html.replace(TOKEN_MARK, token).encode()
        request_id = request_ids.accepted(environ.get("HTTP_X_REQUEST_ID")) or request_ids.new_id()
        headers = [
            *page.headers,
            ("Content-Length", str(len(body))),
            (request_ids.HEADER, request_id),
            *(("Set-Cookie", c) for c in set_cookies),
        ]
        start_response("200 OK", headers)
        self.served += 1
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def _pass_on(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            fill = environ.pop(FILL, None)
            if (
                isinstance(fill, Fill)
                and status.startswith("200")
                and fill.build == self.app.extensions["kb.state"].current().build_id  # not a build just replaced
            ):
                shared = tuple((k, v) for k, v in headers if _shared(k))
                self.cache.put(fill.build, fill.key, Page(fill.html, shared, fill.article_id, fill.revision))
            return start_response(status, headers, exc_info)

        return self.inner(environ, keep)


def _shared(header: str) -> bool:
    """Whether a header Flask sent with a stored page is the same for every visitor."""
    name = header.lower()
    return name not in PER_RESPONSE and not name.startswith(PER_RESPONSE_PREFIXES)


def cache_of(app: Flask) -> PageCache:
    cache: PageCache = app.extensions["kb.pages"]
    return cache


def init_app(app: Flask, max_pages: int) -> None:
    """Keep pages for ``app`` and answer them in front of it (install before ProxyFix wraps the app)."""
    app.extensions["kb.pages"] = PageCache(max_pages)
    server = app.extensions["kb.page_server"] = PageServer(app, app.wsgi_app)
    app.wsgi_app = server  # type: ignore[method-assign]
