"""The panel's token: kb signs the host origin and a random visitor id for a few minutes; every call of the
panel carries it and is refused when the token is forged, expired or used from another origin."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from kb.errors import KbError

SALT = "kb.widget.token"
RENEW_SECONDS = 24 * 3600  # an expired token still names its visitor for a renewal this long


class TokenInvalid(KbError):
    """The widget token is missing, forged, expired or not for this origin."""


@dataclass(frozen=True)
class Grant:
    origin: str
    visitor: str


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def issue(secret: str, origin: str, visitor: str | None = None) -> tuple[str, str]:
    """A token for the panel on ``origin`` and its visitor id (a new one unless given)."""
    visitor = visitor or secrets.token_hex(16)
    return _serializer(secret).dumps({"o": origin, "v": visitor}), visitor


def check(secret: str, token: str, origin: str, max_age: int) -> Grant:
    """The grant in ``token`` if it is kb's, younger than ``max_age`` seconds and for ``origin``."""
    try:
        data = _serializer(secret).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise TokenInvalid("expired") from exc
    except BadSignature as exc:
        raise TokenInvalid("not signed by kb") from exc
    if not isinstance(data, dict) or data.get("o") != origin or not isinstance(data.get("v"), str):
        raise TokenInvalid("issued to another origin")
    return Grant(origin=origin, visitor=data["v"])


def visitor_of(secret: str, token: str, origin: str) -> str | None:
    """The visitor id of a token (even expired, up to a day) for the same origin, to keep it on renewal."""
    try:
        return check(secret, token, origin, RENEW_SECONDS).visitor
    except TokenInvalid:
        return None
