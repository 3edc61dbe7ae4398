"""Admin sessions kept server-side: a random token in the signed cookie, its hash in ``admin_sessions``.

The cookie alone no longer proves a sign-in: Flask-Login's user loader asks ``is_active`` for the token
the session carries, so a session revoked (logout ends every session of that admin, everywhere;
`kb users remove` too), past its absolute lifetime (KB_ADMIN_SESSION_MAX_SECONDS) or idle for longer than
KB_PERMANENT_SESSION_LIFETIME opens nothing, even from a copied cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from kb.models import AdminSession, User, utcnow

TOUCH_EVERY = timedelta(seconds=30)  # last_seen is written at most this often, not on every request


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(db: Session, user_id: int, now: datetime | None = None) -> str:
    """Open a session for ``user_id``; return its token (for the signed session cookie only)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    db.add(AdminSession(token_hash=_hash(token), user_id=user_id, created_at=now, last_seen=now))
    db.commit()
    return token


def is_active(
    db: Session, token: str | None, user_id: int, max_age: float, idle: float, now: datetime | None = None
) -> bool:
    """Whether ``token`` is a live session of ``user_id``: not revoked, not too old, not idle; note the visit."""
    if not token or len(token) > 100:
        return False
    now = now or utcnow()
    row = db.scalars(select(AdminSession).where(AdminSession.token_hash == _hash(token))).first()
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        return False
    if now - row.created_at > timedelta(seconds=max_age) or now - row.last_seen > timedelta(seconds=idle):
        row.revoked_at = now
        db.commit()
        return False
    if now - row.last_seen >= TOUCH_EVERY:
        row.last_seen = now
        db.commit()
    return True


def revoke(db: Session, token: str | None) -> None:
    """End the session ``token`` names."""
    if token:
        db.execute(
            update(AdminSession)
            .where(AdminSession.token_hash == _hash(token), AdminSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        db.commit()


def revoke_all(db: Session, user_id: int) -> int:
    """End every session of ``user_id`` (logout everywhere, a removed admin); return how many were open."""
    result = db.execute(
        update(AdminSession)
        .where(AdminSession.user_id == user_id, AdminSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def remove_admin(db: Session, email: str) -> bool:
    """End every session of the admin ``email`` and delete the account; return whether there was one."""
    user = db.scalars(select(User).where(func.lower(User.email) == email.strip().lower())).first()
    if user is None:
        return False
    revoke_all(db, user.id)
    db.execute(delete(AdminSession).where(AdminSession.user_id == user.id))
    db.delete(user)
    db.commit()
    return True
