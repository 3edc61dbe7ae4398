"""The time span and locale a report covers, and the few time expressions every report needs.

Everything here compiles to portable SQL: day buckets use ``DATE(x)`` (SQLite, PostgreSQL and MySQL all
have it) and the 24-hour windows compare seconds since the epoch, spelled per dialect by SQLAlchemy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Float, and_, func, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from kb.models import utcnow

WINDOW_HOURS = 24  # how long after reading an answer a ticket still counts against it (issue 5)
_SPAN = re.compile(r"^\s*(\d+)\s*([hdwm]?)\s*$")
_UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7, "m": 24 * 30, "": 24}


@dataclass(frozen=True)
class Period:
    """From ``start`` (inclusive) to ``end`` (exclusive), naive UTC as stored, in one locale or all."""

    start: datetime
    end: datetime
    locale: str | None = None

    @classmethod
    def last(cls, days: float, now: datetime | None = None, locale: str | None = None) -> Period:
        """The ``days`` up to ``now``."""
        end = now or utcnow()
        return cls(end - timedelta(days=days), end, locale or None)

    @classmethod
    def between(cls, first: date, last: date, locale: str | None = None) -> Period:
        """Whole days from ``first`` to ``last``, both included."""
        return cls(
            datetime.combine(first, datetime.min.time()),
            datetime.combine(last + timedelta(days=1), datetime.min.time()),
            locale or None,
        )

    def with_locale(self, locale: str | None) -> Period:
        return replace(self, locale=locale or None)

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).date()

    def days(self) -> list[date]:
        """Every day the period touches, oldest first."""
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(max(0, count))]

    def covers(self, column: Any) -> ColumnElement[bool]:
        """``column`` falls inside the period."""
        return and_(column >= self.start, column < self.end)

    def reaches_back(self, column: Any, hours: float = WINDOW_HOURS) -> ColumnElement[bool]:
        """``column`` is late enough to be in a window of ``hours`` that ends inside the period.

        Redundant with the window itself, but a constant bound the database can use in an index.
        """
        return column >= self.start - timedelta(hours=hours)

    def reaches_forward(self, column: Any, hours: float = WINDOW_HOURS) -> ColumnElement[bool]:
        """``column`` is early enough to be in a window of ``hours`` that starts inside the period."""
        return column < self.end + timedelta(hours=hours)

    def in_locale(self, column: Any, is_article_id: bool = False) -> ColumnElement[bool]:
        """``column`` is in the period's locale (an article id ``locale/slug`` when ``is_article_id``)."""
        if not self.locale:
            return true()
        return column.like(f"{self.locale}/%") if is_article_id else column == self.locale


def parse_span(text: str) -> timedelta:
    """Read ``30d``, ``12h``, ``2w``, ``3m`` (30-day months) or a bare number of days."""
    match = _SPAN.match(text or "")
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a span such as 30d, 12h, 2w or 3m")
    return timedelta(hours=int(match.group(1)) * _UNIT_HOURS[match.group(2)])


class epoch_seconds(FunctionElement[float]):
    """Seconds since 1970 of a naive UTC timestamp column, for windows such as "within 24 hours"."""

    type = Float()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds)
def _epoch_default(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"  # PostgreSQL and the standard


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch_seconds, "mysql")
def _epoch_mysql(element: epoch_seconds, compiler: Any, **kw: Any) -> str:
    return f"UNIX_TIMESTAMP({compiler.process(element.clauses, **kw)})"


def within_hours(later: Any, earlier: Any, hours: float = WINDOW_HOURS) -> ColumnElement[bool]:
    """``later`` happened at or after ``earlier`` and at most ``hours`` after it.

    The plain comparison comes first so an index on the later column narrows the rows before the
    arithmetic runs.
    """
    return and_(later >= earlier, epoch_seconds(later) <= epoch_seconds(earlier) + hours * 3600.0)


def day_of(column: Any) -> Any:
    """The UTC day of a timestamp column, as a date (``DATE(x)``)."""
    return func.date(column, type_=Date)


def as_date(value: Any) -> date:
    """A day from a ``DATE(x)`` result: drivers give a date or an ISO string."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def week_of(day: date) -> date:
    """The Monday that starts ``day``'s week."""
    return day - timedelta(days=day.weekday())
