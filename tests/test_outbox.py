"""The outbox against real servers on loopback: SMTP (aiosmtpd) and a webhook (pytest-httpserver).

Time is driven by passing ``now`` to the outbox, never by sleeping.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import free_port, make_app
from delivery import smtp_settings as plain_smtp_settings
from delivery import tried
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from visitors import UNANSWERED, contact_page, fill
from werkzeug import Request, Response

from kb import create_app, db
from kb.config import Settings, settings_of
from kb.db import engine_of, session_scope
from kb.models import OutboxMessage, Ticket, utcnow
from kb.tickets import outbox
from kb.tickets.senders import build_mail, signature, webhook_body

SECRET = "s3cret-shared-with-the-helpdesk"
T0 = datetime(2030, 1, 1, 12, 0, 0)


class Inbox:
    """An aiosmtpd handler that keeps every mail it is given (optionally slowly, to widen races)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.mails: list[email.message.EmailMessage] = []
        self.envelopes: list[Any] = []
        self.delay = delay

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        self.envelopes.append(envelope)
        self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


def smtp_settings(port: int, **extra: Any) -> dict[str, Any]:
    return plain_smtp_settings(port, **{"OUTBOX_BACKOFF_SECONDS": 60, "OUTBOX_MAX_ATTEMPTS": 3, **extra})


@pytest.fixture
def smtp_port() -> int:
    return free_port()


def start_smtp(port: int, inbox: Inbox) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


@pytest.fixture
def smtp(smtp_port: int) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = start_smtp(smtp_port, inbox)
    yield inbox, smtp_port
    controller.stop()


def queue(app: Any, channel: str = "smtp", now: datetime = T0) -> int:
    """Put one ticket message in the outbox, as a committed ticket would, due at ``now``."""
    with session_scope(app) as session:
        ticket = Ticket(
            name="Ada",
            email="ada@example.com",
            subject="Points",
            message="Where are my points?",
            created_at=now,
            context={},
        )
        session.add(ticket)
        session.flush()
        payload = (
            {
                "to": ["support@perkly.example"],
                "subject": f"[{ticket.reference}] Points",
                "body": "Where are my points?\n",
                "reply_to": "ada@example.com",
                "message_id": f"<{ticket.reference}@perkly.example>",
            }
            if channel == "smtp"
            else {"event": "ticket.created", "reference": ticket.reference, "message": "Où sont mes points ? 포인트"}
        )
        message = OutboxMessage(
            ticket_id=ticket.id,
            kind="ticket",
            channel=channel,
            payload=payload,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )
        session.add(message)
        session.flush()
        return message.id


def status_of(app: Any, message_id: int) -> OutboxMessage:
    with session_scope(app) as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        session.expunge(message)
        return message


def sessions(app: Any) -> Any:
    return app.extensions["kb.db"]


@pytest.fixture
def plain_app(articles_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    def build(**settings: Any) -> Any:
        return make_app(articles_dir, tmp_path / "search_index", tmp_path / "kb.sqlite3", **settings)

    return build


def test_contact_form_mails_support_and_the_merchant_once(
    indexed_root: Path, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    app = make_app(
        indexed_root / "articles",
        indexed_root / "search_index",
        tmp_path / "kb.sqlite3",
        WTF_CSRF_ENABLED=True,
        **smtp_settings(port),
    )
    client = app.test_client()
    page = contact_page(client)
    response = client.post("/en/contact", data=fill(page, UNANSWERED, js="1"))
    assert response.status_code == 303
    tried(app)  # issue 14: tried once right after the request, in the background
    assert len(inbox.mails) == 2  # tried once: the ticket to support, the acknowledgement
    to_support, ack = sorted(inbox.mails, key=lambda m: m["To"] != "support@perkly.example")
    assert to_support["Subject"] == "[KB-000001] My dog ate my keyboard yesterday"
    assert to_support["Reply-To"] == "Ada <ada@example.com>" and to_support["From"] == "help@perkly.example"
    assert to_support.get_content_type() == "text/plain"
    assert UNANSWERED["message"] in to_support.get_content()
    assert ack["To"] == "ada@example.com" and "KB-000001" in ack.get_content()

    result = app.test_cli_runner().invoke(args=["deliver"])
    assert result.exit_code == 0, result.output
    assert "0 sent" in result.output
    assert len(inbox.mails) == 2  # delivered once, never again


def test_mail_server_down_then_up_is_delivered_after_a_retry(plain_app: Any, smtp_port: int) -> None:
    app = plain_app(**smtp_settings(smtp_port))
    message_id = queue(app)
    assert outbox.deliver_due(sessions(app), settings_of(app), now=T0) == {"retry": 1}
    waiting = status_of(app, message_id)
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert "Connection refused" in (waiting.last_error or "")
    assert waiting.next_attempt_at == T0 + timedelta(seconds=60)

    inbox = Inbox()
    controller = start_smtp(smtp_port, inbox)
    try:
        assert outbox.deliver_due(sessions(app), settings_of(app), now=T0 + timedelta(seconds=30)) == {}  # not due
        assert outbox.deliver_due(sessions(app), settings_of(app), now=T0 + timedelta(seconds=61)) == {"sent": 1}
        assert outbox.deliver_due(sessions(app), settings_of(app), now=T0 + timedelta(days=1)) == {}
    finally:
        controller.stop()
    assert len(inbox.mails) == 1 and inbox.mails[0]["Message-ID"] == "<KB-000001@perkly.example>"
    done = status_of(app, message_id)
    assert (done.status, done.attempts, done.claim_token) == ("sent", 2, None)
    assert done.sent_at == T0 + timedelta(seconds=61)


def test_after_the_last_attempt_the_message_is_marked_failed(plain_app: Any, smtp_port: int) -> None:
    app = plain_app(**smtp_settings(smtp_port, OUTBOX_MAX_ATTEMPTS=3))
    message_id = queue(app)
    now = T0
    outcomes = []
    for _ in range(4):
        outcomes.append(dict(outbox.deliver_due(sessions(app), settings_of(app), now=now)))
        now += timedelta(hours=7)  # past any backoff
    assert outcomes == [{"retry": 1}, {"retry": 1}, {"failed": 1}, {}]
    failed = status_of(app, message_id)
    assert (failed.status, failed.attempts) == ("failed", 3) and failed.last_error
    with session_scope(app) as session:
        assert outbox.counts(session) == {"failed": 1}


def test_backoff_doubles_and_is_capped() -> None:
    policy = outbox.Policy(max_attempts=10, backoff=timedelta(seconds=60))
    assert [outbox.backoff(n, policy).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert outbox.backoff(30, policy) == timedelta(hours=6)


def race(app: Any, message_id: int) -> list[str]:
    """Two threads deliver the same message at the same instant; return what each one did."""
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def worker() -> None:
        start.wait()
        outcomes.append(outbox.deliver_one(sessions(app), message_id, settings_of(app), now=T0))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


def test_two_workers_at_once_deliver_exactly_once(plain_app: Any, smtp_port: int) -> None:
    app = plain_app(**smtp_settings(smtp_port))
    inbox = Inbox(delay=0.3)  # a slow server: the second worker arrives while the first is still sending
    controller = start_smtp(smtp_port, inbox)
    try:
        for _ in range(5):
            assert sorted(race(app, queue(app))) == ["sent", "skipped"]
    finally:
        controller.stop()
    assert len(inbox.mails) == 5
    assert len({m["Message-ID"] for m in inbox.mails}) == 5


def test_a_lease_that_ran_out_lets_another_worker_take_over_once(plain_app: Any, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    app = plain_app(**smtp_settings(port, OUTBOX_LEASE_SECONDS=300))
    message_id = queue(app)
    policy = outbox.Policy.from_config(settings_of(app))
    with sessions(app)() as session:
        stale = outbox.claim(session, message_id, T0, policy)  # a worker that claimed, then died
        assert stale is not None
        assert outbox.claim(session, message_id, T0 + timedelta(seconds=10), policy) is None  # lease held
    assert outbox.deliver_due(sessions(app), settings_of(app), now=T0 + timedelta(seconds=299)) == {}
    assert outbox.deliver_due(sessions(app), settings_of(app), now=T0 + timedelta(seconds=301)) == {"sent": 1}
    with sessions(app)() as session:  # the dead worker wakes up: its token no longer counts
        message = session.get(OutboxMessage, message_id)
        late = T0 + timedelta(seconds=400)
        assert outbox.finish(session, message, stale, "timed out", late, policy) == "pending"
    assert status_of(app, message_id).status == "sent"
    assert len(inbox.mails) == 1


def verify(request: Request) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), request.get_data(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers.get("X-Kb-Signature", ""), expected)


def test_webhook_is_signed_and_delivered_once(plain_app: Any, httpserver: HTTPServer) -> None:
    received: list[tuple[bool, dict[str, Any]]] = []

    def handler(request: Request) -> Response:
        received.append((verify(request), json.loads(request.get_data())))
        return Response("ok", status=202)

    httpserver.expect_request("/hooks/kb", method="POST").respond_with_handler(handler)
    app = plain_app(
        TICKET_DELIVERY="webhook", TICKET_WEBHOOK_URL=httpserver.url_for("/hooks/kb"), TICKET_WEBHOOK_SECRET=SECRET
    )
    message_id = queue(app, "webhook")
    assert outbox.deliver_due(sessions(app), settings_of(app), now=T0) == {"sent": 1}
    assert outbox.deliver_due(sessions(app), settings_of(app), now=T0 + timedelta(days=1)) == {}
    assert received == [
        (True, {"event": "ticket.created", "reference": "KB-000001", "message": "Où sont mes points ? 포인트"})
    ]
    assert status_of(app, message_id).status == "sent"


def test_webhook_down_then_up_is_delivered_after_a_retry(plain_app: Any) -> None:
    port = free_port()
    app = plain_app(
        TICKET_DELIVERY="webhook",
        TICKET_WEBHOOK_URL=f"http://127.0.0.1:{port}/hooks/kb",
        TICKET_WEBHOOK_SECRET=SECRET,
        DELIVERY_TIMEOUT_SECONDS=2.0,
    )
    message_id = queue(app, "webhook")
    assert outbox.deliver_due(sessions(app), settings_of(app), now=T0) == {"retry": 1}
    assert "Connection refused" in (status_of(app, message_id).last_error or "")

    server = HTTPServer(host="127.0.0.1", port=port)
    server.expect_oneshot_request("/hooks/kb", method="POST").respond_with_data("busy", status=503)
    server.expect_request("/hooks/kb", method="POST").respond_with_data("ok", status=200)
    server.start()
    try:
        assert outbox.deliver_due(sessions(app), settings_of(app), now=T0 + timedelta(seconds=61)) == {"retry": 1}
        assert "HTTP 503" in (status_of(app, message_id).last_error or "")
        assert outbox.deliver_due(sessions(app), settings_of(app), now=T0 + timedelta(seconds=181)) == {"sent": 1}
        assert outbox.deliver_due(sessions(app), settings_of(app), now=T0 + timedelta(days=1)) == {}
        bodies = [r.get_data() for r, _ in server.log]
    finally:
        server.clear()
        server.stop()
    assert len(bodies) == 2 and bodies[0] == bodies[1]  # the same signed body on every try
    assert status_of(app, message_id).attempts == 3


def test_signature_is_the_hmac_of_the_exact_body() -> None:
    body = webhook_body({"b": "é", "a": 1})
    assert body == '{"a":1,"b":"é"}'.encode()
    assert signature(body, "k") == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_a_header_never_carries_a_second_line() -> None:
    mail = build_mail(
        {
            "to": ["support@perkly.example"],
            "subject": "Hi\r\nBcc: evil@example.com",
            "reply_to": "Ada <ada@example.com>",
            "body": "x",
        },
        Settings(mail_from="help@perkly.example"),
    )
    assert mail["Subject"] == "Hi Bcc: evil@example.com" and mail["Bcc"] is None


def test_kb_deliver_sends_what_is_due(plain_app: Any, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    app = plain_app(**smtp_settings(port))
    queue(app, now=utcnow() - timedelta(minutes=1))
    started = time.perf_counter()
    result = app.test_cli_runner().invoke(args=["deliver"])
    assert result.exit_code == 0, result.output
    assert "1 sent" in result.output and "0 pending" in result.output
    assert len(inbox.mails) == 1 and time.perf_counter() - started < 10
    with session_scope(app) as session:
        assert session.scalars(select(OutboxMessage.status)).all() == ["sent"]


def test_the_same_on_postgresql(articles_dir: Path, tmp_path: Path, smtp: tuple[Inbox, int], database: str) -> None:
    """The migration, a ticket from the form and the claim race on PostgreSQL (read committed)."""
    inbox, port = smtp
    db.upgrade(database)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "ARTICLES_DIR": str(articles_dir),
            "SEARCH_INDEX_DIR": str(tmp_path / "none"),
            "DATABASE_URL": database,
            "WTF_CSRF_ENABLED": True,
            **smtp_settings(port, TICKET_ACK=False),
        }
    )
    try:
        client = app.test_client()
        assert client.post("/en/contact", data=fill(contact_page(client), UNANSWERED)).status_code == 303
        tried(app)  # issue 14: after the request, in the background
        assert len(inbox.mails) == 1
        for _ in range(5):
            assert sorted(race(app, queue(app))) == ["sent", "skipped"]
        assert len(inbox.mails) == 6
    finally:
        engine_of(app).dispose()
        db.downgrade(database, "base")
