"""Query strings with raw bytes that are not ASCII: percent-encoded before Flask reads them.

A browser percent-encodes what it sends, but a client may put raw bytes in the request line; the server
hands them on as Latin-1 characters, and Werkzeug's ``request.args`` then failed on any that are not
UTF-8, so every route reading its arguments answered 500. Percent-encoded, they are read as Werkzeug
reads ``%FF`` (invalid sequences replaced), the same answer a well-behaved client gets.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

KEEP = "&=+%;/?:@,$!*'()~"  # what a query string's own syntax uses, left as it is


class AsciiQueryStrings:
    """The WSGI layer that percent-encodes raw bytes in QUERY_STRING."""

    def __init__(self, inner: WSGIApplication) -> None:
        self.inner = inner

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if query and not query.isascii():
            environ["QUERY_STRING"] = quote(query.encode("latin-1", "replace"), safe=KEEP)
        return self.inner(environ, start_response)
