"""The people who may read /admin: created from the command line, passwords stored as werkzeug hashes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from flask_login import UserMixin
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from kb.errors import KbError
from kb.models import User, utcnow

PASSWORD_MIN = 10


@cache
def unknown_email_hash() -> str:
    """A hash to check a password against when no account has the email, so that answering takes as long as
    for one that has; made when first needed (scrypt: 0.15 s of every process start)."""
    return generate_password_hash("not a password of anyone")


@dataclass(frozen=True, eq=False)
class Admin(UserMixin):
    """A signed-in user as Flask-Login keeps them: the id it stores in the session and the email shown."""

    id: int
    email: str


class PasswordWeak(KbError):
    """The password is too short to protect the admin pages."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def set_user(session: Session, email: str, password: str) -> tuple[User, bool]:
    """Create the user ``email`` or give them a new password; return the user and whether it is new."""
    if len(password) < PASSWORD_MIN:
        raise PasswordWeak(f"use at least {PASSWORD_MIN} characters")
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise KbError(f"{email!r} is not an email address")
    user = session.scalars(select(User).where(func.lower(User.email) == email)).first()
    created = user is None
    if user is None:
        user = User(email=email, created_at=utcnow())
        session.add(user)
    user.password_hash = generate_password_hash(password)
    session.commit()
    return user, created


def authenticate(session: Session, email: str, password: str) -> User | None:
    """Return the user whose email and password these are, or None (in about the same time either way)."""
    user = session.scalars(select(User).where(func.lower(User.email) == normalise_email(email))).first()
    if user is None:
        check_password_hash(unknown_email_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    user.last_login_at = utcnow()
    session.commit()
    return user


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_admin(session: Session, user_id: str) -> Admin | None:
    """The user whose id Flask-Login kept in the session, or None when there is no such user any more."""
    user = get_user(session, int(user_id)) if user_id.isdigit() else None
    return Admin(user.id, user.email) if user is not None else None
