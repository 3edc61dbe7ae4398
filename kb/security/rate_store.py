"""Rate-limit counters in the database, so every worker and host counts the same hits.

A ``limits`` storage registered under the scheme ``kbdb://`` (KB_RATELIMIT_STORAGE_URI's default): the
routes keep decorating with ``kb.extensions.limiter`` as before. Its keys hold the client address, so they
are stored as a keyed hash (HMAC with the secret key), never as the address. Each counter is a fixed window, one row of
``rate_limits`` per key, changed by one UPDATE (atomic on SQLite and PostgreSQL) or, the first time, an
INSERT that retries as an UPDATE when another worker inserted the key first. The engine is the current
app's, looked up per hit, since one Limiter object serves every app of the process.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import cast

from flask import current_app
from limits.storage import Storage
from sqlalchemy import Connection, Table, case, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from kb.db import engine_of
from kb.models import RateLimit

KEY_MAX = 255
FORGET_AFTER = 2 * 24 * 3600.0  # counters ended this long ago are deleted when a new one is made
TABLE = cast(Table, RateLimit.__table__)


def row_key(key: str) -> str:
    """``key`` as stored: long keys by their hash."""
    return key if len(key) <= KEY_MAX else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def limiter_key(key: str) -> str:
    """A Flask-Limiter key (it holds the client address) as stored: keyed with the secret, never readable."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return "limit:" + hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def add(conn: Connection, key: str, expiry: float, amount: int = 1, now: float | None = None) -> int:
    """Add ``amount`` to ``key``'s window (a new window of ``expiry`` seconds when it ended); return the count."""
    now = time.time() if now is None else now
    key = row_key(key)
    ended = TABLE.c.expires_at <= now
    changed = conn.execute(
        update(TABLE)
        .where(TABLE.c.key == key)
        .values(
            count=case((ended, amount), else_=TABLE.c.count + amount),
            expires_at=case((ended, now + expiry), else_=TABLE.c.expires_at),
        )
    )
    if changed.rowcount == 0:
        conn.execute(delete(TABLE).where(TABLE.c.expires_at < now - FORGET_AFTER))
        conn.execute(insert(TABLE).values(key=key, count=amount, expires_at=now + expiry))
        return amount
    return int(conn.execute(select(TABLE.c.count).where(TABLE.c.key == key)).scalar_one())


def add_shared(key: str, expiry: float, amount: int = 1) -> int:
    """``add`` in its own transaction on the current app's database, retried once if a worker raced the insert."""
    engine = engine_of(current_app)
    for attempt in range(3):
        try:
            with engine.begin() as conn:
                return add(conn, key, expiry, amount)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


class DatabaseStorage(Storage):
    """Fixed-window counters in the ``rate_limits`` table of the app's database."""

    STORAGE_SCHEME = ["kbdb"]

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return add_shared(limiter_key(key), float(expiry), amount)

    def get(self, key: str) -> int:
        with engine_of(current_app).connect() as conn:
            count = conn.execute(
                select(TABLE.c.count).where(TABLE.c.key == limiter_key(key), TABLE.c.expires_at > time.time())
            ).scalar()
        return int(count or 0)

    def get_expiry(self, key: str) -> float:
        with engine_of(current_app).connect() as conn:
            expires = conn.execute(select(TABLE.c.expires_at).where(TABLE.c.key == limiter_key(key))).scalar()
        return float(expires) if expires is not None else time.time()

    def check(self) -> bool:
        try:
            with engine_of(current_app).connect() as conn:
                conn.execute(select(1))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with engine_of(current_app).begin() as conn:
            return int(conn.execute(delete(TABLE)).rowcount)

    def clear(self, key: str) -> None:
        with engine_of(current_app).begin() as conn:
            conn.execute(delete(TABLE).where(TABLE.c.key == limiter_key(key)))


def register() -> None:
    """Make ``kbdb://`` known to ``limits`` (defining ``DatabaseStorage`` registered it)."""
    assert DatabaseStorage.STORAGE_SCHEME == ["kbdb"]
