"""Helpers for tests that deliver tickets through a real SMTP server on loopback."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from kb.db import session_scope
from kb.models import OutboxMessage


def smtp_settings(port: int, **extra: Any) -> dict[str, Any]:
    """Deliver tickets by SMTP, in clear, to the test server on ``port``."""
    return {
        "TICKET_DELIVERY": "smtp",
        "SUPPORT_EMAIL": "support@perkly.example",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_TLS": "none",
        "MAIL_FROM": "help@perkly.example",
        "DELIVERY_TIMEOUT_SECONDS": 2.0,
        **extra,
    }


def tried(app: Any, timeout: float = 15.0) -> None:
    """Wait for the one try of every new message, made after the request (issue 14: never inside it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(app) as session:
            rows = session.scalars(select(OutboxMessage)).all()
            if all(m.attempts >= 1 and m.status != "sending" for m in rows):
                return
        time.sleep(0.05)
    raise AssertionError("the background delivery did not try every message")
