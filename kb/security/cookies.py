"""Cookies a script cannot read and other sites do not send: HttpOnly, SameSite=Lax, Secure over https."""

from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer
from werkzeug.http import dump_cookie

from kb.security.headers import served_over_https


def secure() -> bool:
    """Whether cookies set now should be Secure (the visitor is on https)."""
    return has_request_context() and served_over_https()


def new_session_cookie(app: Flask, data: dict[str, Any], https: bool) -> str:
    """The ``Set-Cookie`` value Flask sends for a new, not permanent session holding ``data`` (cached pages
    make the session outside a request)."""
    iface = app.session_interface
    signer = iface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return dump_cookie(
        iface.get_cookie_name(app),
        signer.dumps(data),
        domain=iface.get_cookie_domain(app),
        path=iface.get_cookie_path(app),
        secure=https or bool(app.config.get("SESSION_COOKIE_SECURE")),
        httponly=iface.get_cookie_httponly(app),
        samesite=iface.get_cookie_samesite(app),
        partitioned=iface.get_cookie_partitioned(app),
    )


def open_session_cookie(app: Flask, value: str) -> dict[str, Any] | None:
    """What a session cookie holds, as Flask reads it, or None when its signature or age is wrong."""
    signer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    try:
        data = signer.loads(value, max_age=int(app.permanent_session_lifetime.total_seconds()))
    except BadSignature:
        return None
    return data if isinstance(data, dict) else None


COMPRESS_OVER = 512  # bytes of JSON: a visitor's cookie (a CSRF token) is far less


class SmallCookieSerializer(URLSafeTimedSerializer):
    """itsdangerous tries zlib on every cookie; for a few dozen bytes that set-up was a quarter of a cached
    page's time and never made the cookie shorter. Larger ones (a vote's comment) are still compressed;
    both forms load as before."""

    def dump_payload(self, obj: Any) -> bytes:
        json = Serializer.dump_payload(self, obj)
        return super().dump_payload(obj) if len(json) > COMPRESS_OVER else base64_encode(json)


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, marked Secure per request when the visitor is on https."""

    def __init__(self) -> None:
        self._signers: dict[tuple[Any, ...], URLSafeTimedSerializer] = {}

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or secure()

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's serializer, made once per set of keys instead of once per request."""
        if not app.secret_key:
            return None
        keys = (*(app.config.get("SECRET_KEY_FALLBACKS") or ()), app.secret_key)
        signer = self._signers.get(keys)
        if signer is None:
            signer = SmallCookieSerializer(
                list(keys),
                salt=self.salt,
                serializer=self.serializer,
                signer_kwargs={"key_derivation": self.key_derivation, "digest_method": self.digest_method},
            )
            self._signers = {keys: signer}
        return signer


def init_app(app: Flask) -> None:
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = SessionCookies()
