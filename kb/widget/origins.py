"""Which host origins may embed the widget, and the CORS headers they (and only they) get."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from kb.config import Settings

CORS_MAX_AGE = 600  # seconds a browser may keep a preflight answer


def normalise(origin: str) -> str:
    """``scheme://host[:port]`` in lower case without a trailing slash or path ("" when not an origin)."""
    origin = origin.strip().rstrip("/")
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        return ""
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def allowed_origins(settings: Settings) -> frozenset[str]:
    """The origins KB_WIDGET_ORIGINS lists (space or comma separated), normalised."""
    listed = (normalise(o) for o in re.split(r"[\s,]+", settings.widget_origins))
    return frozenset(o for o in listed if o)


def is_allowed(origin: str | None, settings: Settings) -> bool:
    """Whether a request from ``origin`` (its Origin header) may use the widget's endpoints."""
    return bool(origin) and normalise(origin or "") in allowed_origins(settings)


def cors_headers(origin: str | None, settings: Settings) -> dict[str, str]:
    """The CORS headers for ``origin``: the full set when it is listed, none at all when it is not."""
    if not is_allowed(origin, settings):
        return {}
    return {
        "Access-Control-Allow-Origin": str(origin),
        "Access-Control-Allow-Methods": "GET, POST",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": str(CORS_MAX_AGE),
        "Vary": "Origin",
    }
