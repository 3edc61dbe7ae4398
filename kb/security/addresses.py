"""The client address as a keyed hash: enough to count one address once, never the address itself.

HMAC-SHA256 with the app's secret key, over a purpose, the address (the real client's, after ProxyFix)
and the day, so the value cannot be reversed by trying every address, differs between purposes, and
links one address's actions within a day only.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

from flask import current_app, request

from kb.models import utcnow


def address_key(purpose: str, day: date | None = None) -> str:
    """A 64-hex-digit keyed hash of this request's client address, ``purpose`` and ``day`` (today by default)."""
    day = day or utcnow().date()
    secret = str(current_app.config["SECRET_KEY"]).encode()
    message = f"{purpose}|{request.remote_addr or ''}|{day.isoformat()}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()
