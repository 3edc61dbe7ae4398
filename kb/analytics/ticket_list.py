"""Tickets as the support team's admin sees them: what the visitor did first, and where delivery stands."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb.analytics import deflection
from kb.analytics.period import Period
from kb.models import OutboxMessage, Ticket

DELIVERY_STATES = ("pending", "sending", "sent", "failed")


@dataclass
class Delivery:
    kind: str  # ticket | ack
    channel: str
    status: str
    attempts: int
    last_error: str
    sent_at: datetime | None
    next_attempt_at: datetime | None


@dataclass
class TicketRow:
    id: int
    reference: str
    created_at: datetime
    locale: str
    name: str
    email: str
    subject: str
    message: str
    topic: str
    came_from: str
    failed_deflection: bool
    context: dict[str, Any]
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def delivery(self) -> str:
        """The ticket's own delivery state; "not sent" when delivery is switched off."""
        own = [d.status for d in self.deliveries if d.kind == "ticket"]
        return own[0] if own else "not sent"

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "locale": self.locale,
            "name": self.name,
            "email": self.email,
            "subject": self.subject,
            "topic": self.topic,
            "came_from": self.came_from,
            "failed_deflection": self.failed_deflection,
            "delivery": self.delivery,
            "last_error": next((d.last_error for d in self.deliveries if d.kind == "ticket"), ""),
        }


def ticket_rows(
    session: Session, period: Period, delivery: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[TicketRow], int]:
    """A page of the period's tickets, newest first, and how many there are; ``delivery`` filters by state."""
    where: list[Any] = [period.covers(Ticket.created_at), period.in_locale(Ticket.locale)]
    if delivery == "not sent":
        where.append(
            ~Ticket.id.in_(
                select(OutboxMessage.ticket_id).where(
                    OutboxMessage.kind == "ticket", OutboxMessage.ticket_id.is_not(None)
                )
            )
        )
    elif delivery:
        where.append(
            Ticket.id.in_(
                select(OutboxMessage.ticket_id).where(OutboxMessage.kind == "ticket", OutboxMessage.status == delivery)
            )
        )
    total = int(session.scalar(select(func.count(Ticket.id)).where(*where)) or 0)
    failed_ids = deflection.failed_tickets(period).subquery()
    failed = Ticket.id.in_(select(failed_ids.c.id))
    rows = session.execute(
        select(Ticket, failed)
        .where(*where)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    out = [
        TicketRow(
            t.id,
            t.reference,
            t.created_at,
            t.locale,
            t.name,
            t.email,
            t.subject,
            t.message,
            t.topic,
            t.came_from,
            bool(is_failed),
            dict(t.context or {}),
        )
        for t, is_failed in rows
    ]
    by_id = {row.id: row for row in out}
    if by_id:
        for m in session.scalars(
            select(OutboxMessage).where(OutboxMessage.ticket_id.in_(list(by_id))).order_by(OutboxMessage.id)
        ).all():
            if m.ticket_id is None:
                continue
            by_id[m.ticket_id].deliveries.append(
                Delivery(
                    m.kind,
                    m.channel,
                    m.status,
                    m.attempts,
                    m.last_error or "",
                    m.sent_at,
                    m.next_attempt_at,
                )
            )
    return out, total


def delivery_counts(session: Session) -> dict[str, int]:
    """Outbox messages by state, over all time: failed deliveries stay visible until someone acts."""
    rows = session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    return {str(status): int(n) for status, n in rows}
