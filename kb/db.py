"""The database: one engine per app, one session per request, SQLite or PostgreSQL by URL; the schema
made and changed only by Alembic migration (``kb db upgrade``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from kb.config import settings_of

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL and a busy timeout so several workers can share the file."""
    kwargs: dict[str, Any] = {"future": True, "hide_parameters": True}  # errors never log what visitors typed
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 15, "check_same_thread": False}
    else:
        kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=10)
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def _fit(value: Any, length: int | None) -> Any:
    """Text PostgreSQL will take: no NUL characters (SQLite stores them, PostgreSQL refuses them) and
    no more characters than the column holds (SQLite ignores the length, PostgreSQL does not)."""
    if isinstance(value, str):
        value = value.replace("\x00", "")
        return value[:length] if length else value
    if isinstance(value, list):
        return [_fit(v, None) for v in value]
    if isinstance(value, dict):
        return {_fit(k, None): _fit(v, None) for k, v in value.items()}
    return value


@event.listens_for(Session, "before_flush")
def _fit_text(session: Session, _context: Any, _instances: Any) -> None:
    """Whatever a visitor typed is stored the same way on SQLite and on PostgreSQL, never refused."""
    for obj in list(session.new) + list(session.dirty):
        for column in obj.__table__.columns:
            value = getattr(obj, column.key, None)
            if isinstance(value, str | list | dict):
                fitted_value = _fit(value, getattr(column.type, "length", None))
                if fitted_value != value:
                    setattr(obj, column.key, fitted_value)


def fitted(table: Any, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` for a Core insert into ``table``, fitted as the session hook fits ORM rows."""
    return {key: _fit(value, getattr(table.c[key].type, "length", None)) for key, value in values.items()}


def init_app(app: Flask) -> None:
    """Bind an engine and session factory to the app and close the request's session at teardown."""
    engine = make_engine(settings_of(app).database_url)
    app.extensions["kb.db"] = sessionmaker(bind=engine, expire_on_commit=False)
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    """Return this request's session, opening it on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["kb.db"]()
    session: Session = g.db_session
    return session


def engine_of(app: Flask) -> Engine:
    factory: sessionmaker[Session] = app.extensions["kb.db"]
    bind = factory.kw["bind"]
    assert isinstance(bind, Engine)
    return bind


@contextmanager
def session_scope(app: Flask) -> Iterator[Session]:
    """A session outside a request (CLI, background delivery): commit on success, roll back on error."""
    session: Session = app.extensions["kb.db"]()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def alembic_config(url: str) -> Config:
    """Alembic is imported here, not with the module: 0.5 s of the start of every process that does not
    migrate (``kb index``, the server)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision``."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def revision(url: str, message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    from alembic import command

    command.revision(alembic_config(url), message=message, autogenerate=True)
