"""The one write path for what visitors did: add a row, add it once, and survive a failing database.

Text is made to fit its column in one place, the session's ``before_flush`` hook in ``kb.db``
(no NUL characters, no more characters than the column holds), so recorders pass values as they come.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from kb.models import Base

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
Row = TypeVar("Row", bound=Base)


def save(session: Session, row: Row) -> Row:
    """Store ``row`` (new, or already in the session and changed) and commit."""
    session.add(row)
    session.commit()
    return row


def insert_once(session: Session, row: Base) -> bool:
    """Insert ``row`` unless a unique constraint says it is already there; return whether it was new."""
    try:
        with session.begin_nested():
            session.add(row)
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
        return False


def describe(exc: BaseException) -> str:
    """The kind of a database fault, never its details: PostgreSQL's "Failing row contains (...)" and
    the like would put what a visitor typed into the log."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code:
        return f"{type(exc).__name__} (SQLSTATE {code})"
    first = str(orig if orig is not None else exc).splitlines()
    return f"{type(exc).__name__}: {first[0][:120] if first and type(orig).__module__ == 'sqlite3' else '-'}"


def safely(
    record: Callable[Concatenate[Session, P], R], session: Session, *args: P.args, **kwargs: P.kwargs
) -> R | None:
    """Run a recorder; when the database fails, log it, roll back and return None so the page still answers."""
    try:
        return record(session, *args, **kwargs)
    except SQLAlchemyError as exc:
        log.error("could not record %s: %s", getattr(record, "__name__", record), describe(exc))
        session.rollback()
        return None
