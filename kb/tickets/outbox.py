"""The outbox: messages committed with a ticket, sent afterwards, retried with backoff, never sent twice.

The request that stores a ticket only starts a background thread (``deliver_later``), so a slow mail
server never holds the visitor; whatever that try leaves is sent by ``kb deliver``. The claim commits
"sending" before anything is sent, and a send whose outcome is unknown (a timeout after the mail or body
went out) is retried with the same Message-ID or Idempotency-Key, so the receiver can drop the repeat.

A worker claims a message with one conditional UPDATE (pending and due -> sending, with its own claim
token and a lease); only the worker whose UPDATE changed a row sends it. A worker that dies mid-send
leaves a lease that expires, and the message becomes claimable again. Plain SQL: SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from kb.config import Settings
from kb.models import OutboxMessage, utcnow
from kb.tickets import senders

log = logging.getLogger(__name__)

BACKOFF_CAP = timedelta(hours=6)
Sender = Callable[[OutboxMessage, Settings], None]


@dataclass(frozen=True)
class Policy:
    """How often and how long to retry; the defaults are the settings' defaults."""

    max_attempts: int = Settings.outbox_max_attempts
    backoff: timedelta = timedelta(seconds=Settings.outbox_backoff_seconds)
    lease: timedelta = timedelta(seconds=Settings.outbox_lease_seconds)

    @classmethod
    def from_config(cls, settings: Settings) -> Policy:
        return cls(
            settings.outbox_max_attempts,
            timedelta(seconds=settings.outbox_backoff_seconds),
            timedelta(seconds=settings.outbox_lease_seconds),
        )


def backoff(attempts: int, policy: Policy) -> timedelta:
    """How long to wait after the ``attempts``-th failed try: doubling from the base, at most 6 hours."""
    return min(policy.backoff * (2 ** max(0, attempts - 1)), BACKOFF_CAP)


def _claimable(now: datetime) -> Any:
    return or_(
        and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now),
    )


def due(session: Session, now: datetime, limit: int = 100) -> list[int]:
    """Ids of the messages a worker may claim at ``now``, oldest first."""
    ids = session.scalars(
        select(OutboxMessage.id)
        .where(_claimable(now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    ).all()
    session.commit()  # end the read before claiming, so SQLite never has to upgrade a stale snapshot
    return list(ids)


def claim(session: Session, message_id: int, now: datetime, policy: Policy) -> str | None:
    """Take ``message_id`` for this worker; return its claim token, or None if another worker has it."""
    token = secrets.token_hex(16)
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, _claimable(now))
        .values(
            status="sending",
            last_attempt_at=now,
            claim_token=token,
            lease_until=now + policy.lease,
            attempts=OutboxMessage.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return token if result.rowcount == 1 else None  # type: ignore[attr-defined]


def finish(
    session: Session, message: OutboxMessage, token: str, error: str | None, now: datetime, policy: Policy
) -> str:
    """Record how a claimed send went: sent, pending again after a backoff, or failed after the last try."""
    if error is None:
        values: dict[str, Any] = {"status": "sent", "sent_at": now, "last_error": None}
    elif message.attempts >= policy.max_attempts:
        values = {"status": "failed", "last_error": error[:2000]}
    else:
        values = {
            "status": "pending",
            "last_error": error[:2000],
            "next_attempt_at": now + backoff(message.attempts, policy),
        }
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.claim_token == token)
        .values(claim_token=None, lease_until=None, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        log.warning("outbox message %s: the lease ran out before the send finished", message.id)
    return str(values["status"])


def deliver_one(
    sessions: sessionmaker[Session],
    message_id: int,
    settings: Settings,
    now: datetime | None = None,
    send: Sender = senders.send,
) -> str:
    """Claim and send one message: "sent", "retry", "failed", or "skipped" when not claimable by us."""
    now = now or utcnow()
    policy = Policy.from_config(settings)
    with sessions() as session:
        token = claim(session, message_id, now, policy)
        if token is None:
            return "skipped"
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        session.expunge(message)
        session.commit()
        error = None
        try:
            send(message, settings)
        except Exception as exc:  # whatever went wrong is kept for the admin, and retried
            error = f"{type(exc).__name__}: {exc}"
            log.warning(
                "outbox message %s (%s by %s), attempt %d: %s",
                message.id,
                message.kind,
                message.channel,
                message.attempts,
                error,
            )
        status = finish(session, message, token, error, now, policy)
    return "retry" if status == "pending" else status


def deliver_due(
    sessions: sessionmaker[Session],
    settings: Settings,
    now: datetime | None = None,
    limit: int = 100,
    send: Sender = senders.send,
) -> Counter[str]:
    """Send every message due at ``now`` (``kb deliver``); count the outcomes."""
    now = now or utcnow()
    with sessions() as session:
        ids = due(session, now, limit)
    return Counter(deliver_one(sessions, i, settings, now, send) for i in ids)


def deliver_messages(sessions: sessionmaker[Session], ids: Iterable[int], settings: Settings) -> None:
    """Try each message once right after its commit; whatever fails waits for ``kb deliver``. Never raises."""
    for message_id in ids:
        try:
            deliver_one(sessions, message_id, settings)
        except Exception:
            log.exception("outbox message %s: could not try it now; `kb deliver` will", message_id)


def deliver_later(sessions: sessionmaker[Session], ids: Iterable[int], settings: Settings) -> threading.Thread:
    """Try each message once in a background thread, so the visitor's request never waits on SMTP."""
    thread = threading.Thread(
        target=deliver_messages, args=(sessions, list(ids), settings), name="kb-deliver", daemon=True
    )
    thread.start()
    return thread


def statuses(session: Session, ticket_id: int) -> dict[str, str]:
    """The status of each message of a ticket, by kind ("ticket", "ack"): what the sent page can promise."""
    rows = session.execute(
        select(OutboxMessage.kind, OutboxMessage.status).where(OutboxMessage.ticket_id == ticket_id)
    ).all()
    return {str(kind): str(status) for kind, status in rows}


def counts(session: Session) -> dict[str, int]:
    """How many messages are in each status (for the admin and `kb deliver`)."""
    rows = session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    return {status: int(n) for status, n in rows}
