"""The merchant's identity as the host's backend signs it: HMAC-SHA256 over the user id, the email and an
expiry, with KB_WIDGET_SECRET. A ticket trusts a name and email only when the signature holds.

The host computes ``token = f"{expires}.{hex}"`` where ``hex = HMAC_SHA256(secret, f"{user_id}\\n{email}\\n{expires}")``
with the email in lower case and ``expires`` a Unix time in seconds (README: "Help inside your product").
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

MAX_LIFETIME = 7 * 24 * 3600  # an expiry further away than this is refused: a token that never dies is a password


@dataclass(frozen=True)
class Verdict:
    verified: bool
    reason: str  # why not, or "verified by signature"


def _message(user_id: str, email: str, expires: int) -> bytes:
    return f"{user_id}\n{email.strip().lower()}\n{expires}".encode()


def sign(secret: str, user_id: str, email: str, expires: int) -> str:
    """The token the host's backend gives its page for ``identify`` (kb uses it in tests and docs)."""
    digest = hmac.new(secret.encode(), _message(user_id, email, expires), hashlib.sha256).hexdigest()
    return f"{expires}.{digest}"


def verify(secret: str, user_id: str, email: str, token: str, now: float | None = None) -> Verdict:
    """Whether ``token`` signs ``user_id`` and ``email`` with ``secret`` and has not expired."""
    if not secret:
        return Verdict(False, "no KB_WIDGET_SECRET is set")
    if not (user_id and email and token):
        return Verdict(False, "no signed identity")
    expires_text, _, digest = token.partition(".")
    if not expires_text.isdigit() or not digest:
        return Verdict(False, "malformed identity token")
    expires, now = int(expires_text), time.time() if now is None else now
    expected = sign(secret, user_id, email, expires).partition(".")[2]
    if not hmac.compare_digest(expected, digest.lower()):
        return Verdict(False, "signature does not match")
    if expires < now:
        return Verdict(False, "signature expired")
    if expires > now + MAX_LIFETIME:
        return Verdict(False, "expiry too far in the future")
    return Verdict(True, "verified by signature")
