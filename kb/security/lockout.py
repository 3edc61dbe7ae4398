"""Sign-in back-off: an address that keeps failing on an account waits, and so, later, does the account.

The per-address limit (KB_LOGIN_RATE_LIMIT) counts every sign-in from an address. On top of it:

- **address and account**: after KB_LOGIN_LOCKOUT_AFTER failures on one account from one address, that
  address waits before it may try that account again, doubling with each further failure up to
  KB_LOGIN_LOCKOUT_MAX_SECONDS;
- **account**: after ACCOUNT_FACTOR times as many failures from any addresses (a guessing botnet), the
  account waits the same way, except in a browser the admin already signed in with (a signed cookie
  remembers it), so an attacker cannot keep the real admin out.

Attempts made while waiting are refused unchecked and not counted, so no one can lengthen a wait: the
right password gets in from a new address at once unless the account itself is under a wide attack, and
then once its wait is over. A success clears both counts; a day without failures forgets them. Accounts and
addresses are named in the table by hashes only.
"""

from __future__ import annotations

import hashlib
import time

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Connection, case, delete, select, update
from sqlalchemy.exc import IntegrityError

from kb.config import Settings, settings_of
from kb.db import engine_of
from kb.security import rate_store

FORGET_AFTER = 24 * 3600.0  # failures older than this (after the last wait ended) are forgotten
ACCOUNT_FACTOR = 4  # failures from all addresses before the account as a whole waits
KNOWN_COOKIE = "kb_admin_known"
KNOWN_MAX_AGE = 180 * 24 * 3600
TABLE = rate_store.TABLE


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def account_key(email: str) -> str:
    return "login-account:" + _digest(email.strip().lower())


def pair_key(email: str, address: str) -> str:
    return "login-address:" + _digest(f"{email.strip().lower()}|{address}")


def backoff(settings: Settings, failures: int, threshold: int | None = None) -> float:
    """Seconds to wait after ``failures`` failed sign-ins (0 before ``threshold``, KB_LOGIN_LOCKOUT_AFTER)."""
    over = failures - (threshold or settings.login_lockout_after)
    if over < 0:
        return 0.0
    return float(min(settings.login_lockout_max_seconds, settings.login_lockout_seconds * 2 ** min(over, 32)))


def _waits(keys: list[str], now: float) -> float:
    with engine_of(current_app).connect() as conn:
        ends = conn.execute(select(TABLE.c.expires_at).where(TABLE.c.key.in_(keys))).scalars().all()
    return max([0.0, *(float(end) - now for end in ends)])


def wait_seconds(email: str, address: str | None = None, known: bool = False, now: float | None = None) -> float:
    """How long a sign-in to ``email`` from ``address`` must still wait (0: check the password now)."""
    now = time.time() if now is None else now
    keys = [pair_key(email, address or "")]
    if not known:
        keys.append(account_key(email))
    return _waits(keys, now)


def _count_failure(conn: Connection, key: str, threshold: int, settings: Settings, now: float) -> float:
    stale = TABLE.c.expires_at < now - FORGET_AFTER
    changed = conn.execute(
        update(TABLE).where(TABLE.c.key == key).values(count=case((stale, 1), else_=TABLE.c.count + 1))
    )
    if changed.rowcount == 0:
        rate_store.add(conn, key, 0.0, 1, now)
    failures = int(conn.execute(select(TABLE.c.count).where(TABLE.c.key == key)).scalar() or 0)
    wait = backoff(settings, failures, threshold)
    conn.execute(update(TABLE).where(TABLE.c.key == key).values(expires_at=now + wait))
    return wait


def note_failure(email: str, address: str | None = None, now: float | None = None) -> float:
    """Count a failed sign-in of ``email`` from ``address``; return the seconds that address must now wait."""
    now = time.time() if now is None else now
    settings = settings_of(current_app)
    after = settings.login_lockout_after
    for attempt in range(3):
        try:
            with engine_of(current_app).begin() as conn:
                _count_failure(conn, account_key(email), after * ACCOUNT_FACTOR, settings, now)
                return _count_failure(conn, pair_key(email, address or ""), after, settings, now)
        except IntegrityError:  # another worker counted the first failure at the same moment
            if attempt == 2:
                raise
    return 0.0  # pragma: no cover


def clear(email: str, address: str | None = None) -> None:
    """Forget the failures on ``email`` (after a successful sign-in)."""
    keys = [account_key(email), pair_key(email, address or "")]
    with engine_of(current_app).begin() as conn:
        conn.execute(delete(TABLE).where(TABLE.c.key.in_(keys)))


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(str(current_app.config["SECRET_KEY"]), salt="kb.admin-known-browser")


def known_browser_value(email: str) -> str:
    """The signed cookie value that marks this browser as one ``email`` signed in with."""
    return _signer().dumps(_digest(email.strip().lower()))


def is_known_browser(email: str) -> bool:
    """Whether this request comes from a browser ``email`` signed in with before."""
    value = request.cookies.get(KNOWN_COOKIE, "")
    if not value or len(value) > 500:
        return False
    try:
        return bool(_signer().loads(value) == _digest(email.strip().lower()))
    except BadSignature:
        return False
