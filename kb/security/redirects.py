"""One gate for every ``next=``: only a path on this site goes through, anything else to a default page.

Browsers read redirect targets leniently: ``//evil``, ``/\\evil`` and ``/<tab>/evil`` all leave the site
(tabs and newlines are dropped, backslashes read as slashes), and ``javascript:`` or ``data:`` run code.
Rather than list the bad forms, a target passes only when it is a plain path: it starts with a single
``/``, holds no backslash, control or whitespace character, no percent-encoded slash, backslash or control
character, no non-ASCII character (lookalikes of ``/`` and ``.``), and parses with no scheme and no host.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

NEXT_MAX = 500
# Percent-encoded characters a browser or a second decoding may turn into a way off the site.
_ENCODED_DANGER = re.compile(r"%(?:2f|5c|0[0-9a-f]|1[0-9a-f]|7f)", re.IGNORECASE)


def is_safe_path(target: str | None) -> bool:
    """Whether ``target`` is a path on this site a redirect may go to."""
    if not target or len(target) > NEXT_MAX or not target.isascii():
        return False
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if "\\" in target or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return False
    if _ENCODED_DANGER.search(target):
        return False
    try:
        parts = urlsplit(target)
    except ValueError:
        return False
    if parts.scheme or parts.netloc:
        return False
    decoded = unquote(parts.path)
    return not decoded.startswith(("//", "/\\"))


def safe_next(target: str | None, default: str, prefix: str = "/") -> str:
    """``target`` when it is a safe path on this site starting with ``prefix``, else ``default``."""
    if is_safe_path(target) and str(target).startswith(prefix):
        return str(target)
    return default
