"""Finding 9 of issue 14, delivery: idempotent across a timeout, never inside the visitor's request, and a
sent page that says what really happened. Real servers on loopback (aiosmtpd, a threaded HTTP server)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from conftest import free_port, make_app
from delivery import smtp_settings as plain_smtp_settings
from sqlalchemy import select
from visitors import UNANSWERED, contact_page, fill

from kb.config import settings_of
from kb.db import session_scope
from kb.models import OutboxMessage, utcnow
from kb.tickets import outbox


class SlowInbox:
    """An SMTP server that keeps every mail, answering the first DATA only after ``first_delay`` seconds."""

    def __init__(self, first_delay: float) -> None:
        self.delays = [first_delay]
        self.mails: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        delay = self.delays.pop(0) if self.delays else 0.0
        self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        await asyncio.sleep(delay)  # the mail is here; the answer comes after the client gave up
        return "250 OK"


def app_with(indexed_root: Path, tmp_path: Path, **settings: Any) -> Any:
    return make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3", **settings)


def messages(app: Any) -> list[OutboxMessage]:
    with session_scope(app) as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()
        return rows


def wait_for(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def send_form(app: Any) -> tuple[Any, Any, float]:
    client = app.test_client()
    data = fill(contact_page(client), UNANSWERED, js="1")
    started = time.monotonic()
    response = client.post("/en/contact", data=data)
    return client, response, time.monotonic() - started


def test_a_mail_answered_after_the_timeout_is_retried_with_the_same_message_id(
    indexed_root: Path, tmp_path: Path
) -> None:
    port = free_port()
    inbox = SlowInbox(first_delay=3.0)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app = app_with(indexed_root, tmp_path, **smtp_settings(port, TICKET_ACK=False, DELIVER_AFTER_COMMIT=False))
        _, response, _ = send_form(app)
        assert response.status_code == 303
        [queued] = messages(app)
        assert (queued.status, queued.attempts) == ("pending", 0)  # nothing sent inside the request
        now = utcnow()
        outcome: list[Any] = []
        worker = threading.Thread(
            target=lambda: outcome.append(outbox.deliver_due(app.extensions["kb.db"], settings_of(app), now=now))
        )
        worker.start()
        wait_for(lambda: len(inbox.mails) == 1)  # the server has the mail and has not answered yet
        [in_flight] = messages(app)
        assert (in_flight.status, in_flight.last_attempt_at) == ("sending", now)  # recorded before the send
        worker.join(timeout=30)
        assert outcome == [{"retry": 1}]
        [unknown] = messages(app)
        assert unknown.status == "pending" and "outcome unknown" in (unknown.last_error or "")
        later = now + timedelta(hours=1)
        assert outbox.deliver_due(app.extensions["kb.db"], settings_of(app), now=later) == {"sent": 1}
    finally:
        controller.stop()
    first, second = inbox.mails
    assert first["Message-ID"] and first["Message-ID"] == second["Message-ID"]  # the receiver can drop the repeat
    [done] = messages(app)
    assert (done.status, done.attempts) == ("sent", 2)


class Helpdesk(BaseHTTPRequestHandler):
    """A webhook receiver that answers its first request only after the client's timeout."""

    seen: list[tuple[str | None, dict[str, Any]]] = []
    slow_first = True

    def do_POST(self) -> None:  # noqa: N802 (http.server hook)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Helpdesk.seen.append((self.headers.get("Idempotency-Key"), body))
        if Helpdesk.slow_first:
            Helpdesk.slow_first = False
            time.sleep(2.5)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def smtp_settings(port: int, **extra: Any) -> dict[str, Any]:
    return plain_smtp_settings(port, **{"DELIVERY_TIMEOUT_SECONDS": 1.0, "WTF_CSRF_ENABLED": True, **extra})


@pytest.fixture
def helpdesk() -> Iterator[str]:
    Helpdesk.seen, Helpdesk.slow_first = [], True
    server = ThreadingHTTPServer(("127.0.0.1", 0), Helpdesk)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/kb"
    server.shutdown()


def test_a_webhook_answered_after_the_timeout_is_retried_with_the_same_idempotency_key(
    indexed_root: Path, tmp_path: Path, helpdesk: str
) -> None:
    app = app_with(
        indexed_root,
        tmp_path,
        TICKET_DELIVERY="webhook",
        TICKET_WEBHOOK_URL=helpdesk,
        DELIVERY_TIMEOUT_SECONDS=1.0,
        DELIVER_AFTER_COMMIT=False,
        WTF_CSRF_ENABLED=True,
    )
    assert send_form(app)[1].status_code == 303
    now = utcnow()
    assert outbox.deliver_due(app.extensions["kb.db"], settings_of(app), now=now) == {"retry": 1}
    assert "outcome unknown" in (messages(app)[0].last_error or "")
    assert outbox.deliver_due(app.extensions["kb.db"], settings_of(app), now=now + timedelta(hours=1)) == {"sent": 1}
    (first_key, first), (second_key, second) = Helpdesk.seen
    assert first_key and first_key == second_key == first["idempotency_key"]
    assert first == second and first["reference"] == "KB-000001"


def test_the_visitor_never_waits_on_a_mail_server_that_hangs(indexed_root: Path, tmp_path: Path) -> None:
    with socket.socket() as hanging:  # accepts connections (the backlog) and never says a word
        hanging.bind(("127.0.0.1", 0))
        hanging.listen(8)
        port = hanging.getsockname()[1]
        app = app_with(indexed_root, tmp_path, **smtp_settings(port, DELIVERY_TIMEOUT_SECONDS=2.0))
        client, response, waited = send_form(app)
        assert response.status_code == 303
        assert waited < 1.5, f"the visitor waited {waited:.1f} s on SMTP"
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "KB-000001" in page and "We have your message" in page
        assert "will be passed on to our support team" in page and "will follow there" in page
        assert "has been sent" not in page and "on its way" not in page
        wait_for(lambda: all(m.attempts == 1 and m.status == "pending" for m in messages(app)))


def test_the_sent_page_says_sent_once_it_was(indexed_root: Path, tmp_path: Path) -> None:
    port = free_port()
    inbox = SlowInbox(first_delay=0.0)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app = app_with(indexed_root, tmp_path, **smtp_settings(port))
        client, response, _ = send_form(app)
        wait_for(lambda: len(messages(app)) == 2 and all(m.status == "sent" for m in messages(app)))
        page = client.get(response.headers["Location"]).get_data(as_text=True)
    finally:
        controller.stop()
    assert "Your message has been sent" in page and "A confirmation with your reference has been sent there" in page
    assert len(inbox.mails) == 2
