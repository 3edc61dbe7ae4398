"""Database tables: only what visitors did. Articles are referred to by id (``locale/slug``), never copied."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class SearchEvent(Base):
    """One search a visitor ran: on the results page, in the search box, or from the contact form."""

    __tablename__ = "search_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    visitor: Mapped[str] = mapped_column(String(64), index=True, default="")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    source: Mapped[str] = mapped_column(String(16), default="search")  # search | api | suggest | contact
    query: Mapped[str] = mapped_column(String(500))
    result_count: Mapped[int] = mapped_column(Integer, default=0)
    shown: Mapped[list[Any]] = mapped_column(JSON, default=list)  # article ids in the order shown
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)  # of the top result
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)


class SearchClick(Base):
    """A result the visitor opened, and at which position (1-based) it was shown."""

    __tablename__ = "search_clicks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    search_id: Mapped[int | None] = mapped_column(ForeignKey("search_events.id", ondelete="SET NULL"), index=True)
    visitor: Mapped[str] = mapped_column(String(64), default="")
    article_id: Mapped[str] = mapped_column(String(200), index=True)
    position: Mapped[int] = mapped_column(Integer)


class ArticleView(Base):
    """At most one view per visitor, article and day, with where the visitor came from."""

    __tablename__ = "article_views"
    __table_args__ = (UniqueConstraint("visitor", "article_id", "day", name="uq_view_visitor_article_day"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    day: Mapped[date] = mapped_column(Date)
    visitor: Mapped[str] = mapped_column(String(64))
    article_id: Mapped[str] = mapped_column(String(200), index=True)
    revision: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(16), default="outside")  # search|suggestion|category|article|outside
    query: Mapped[str] = mapped_column(Text, default="")
