"""Senders: one outbox message out by SMTP (stdlib smtplib) or by a signed webhook POST (stdlib urllib).

Each raises on failure, with a message the admin can act on; the outbox keeps it and retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from kb.config import Settings
from kb.errors import KbError
from kb.models import OutboxMessage

SIGNATURE_HEADER = "X-Kb-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"  # the same on every try of one message: a receiver drops repeats
UNKNOWN = "outcome unknown (timed out waiting for the answer); the retry carries the same"


class DeliveryFailed(KbError):
    """A message could not be handed over; the outbox will try again later."""


def send(message: OutboxMessage, settings: Settings) -> None:
    """Hand ``message`` to the mail server or the helpdesk its channel names."""
    if message.channel == "smtp":
        send_mail(message.payload, settings)
    elif message.channel == "webhook":
        post_webhook(message.payload, settings, idempotency_key(message))
    else:
        raise DeliveryFailed(f"unknown channel {message.channel!r}")


def idempotency_key(message: OutboxMessage) -> str:
    """The key a webhook receiver de-duplicates on: composed with the message at commit, else its outbox id."""
    return str(message.payload.get("idempotency_key") or f"kb-outbox-{message.id}")


def _header(value: str) -> str:
    """One line: a header never carries what a visitor typed on a second line."""
    return " ".join(str(value).split())


def build_mail(payload: Mapping[str, Any], settings: Settings) -> EmailMessage:
    """The plain-text mail for ``payload`` (to, subject, body, reply_to, message_id)."""
    mail = EmailMessage()
    mail["From"] = _header(settings.mail_from)
    mail["To"] = ", ".join(_header(a) for a in payload["to"])
    if payload.get("reply_to"):
        mail["Reply-To"] = _header(payload["reply_to"])
    mail["Subject"] = _header(payload["subject"])
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    if payload.get("message_id"):
        mail["Message-ID"] = payload["message_id"]  # the same on every retry, so a receiver can drop repeats
    mail.set_content(payload["body"])
    return mail


def send_mail(payload: Mapping[str, Any], settings: Settings) -> None:
    """Send one plain-text mail through SMTP_HOST:SMTP_PORT with SMTP_TLS and the optional login."""
    host, port, tls = settings.smtp_host, settings.smtp_port, settings.smtp_tls
    if not host:
        raise DeliveryFailed("SMTP_HOST is not set")
    if not payload.get("to") or not all(payload["to"]):
        raise DeliveryFailed("the mail has no recipient (is SUPPORT_EMAIL set?)")
    mail = build_mail(payload, settings)
    timeout = settings.delivery_timeout_seconds
    try:
        if tls == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        with server:
            if tls == "starttls":
                server.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                server.login(settings.smtp_user, settings.smtp_password)
            try:
                server.send_message(mail)
            except (TimeoutError, smtplib.SMTPServerDisconnected) as exc:  # the server may have the mail
                raise DeliveryFailed(f"SMTP {host}:{port}: {UNKNOWN} Message-ID ({exc})") from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"SMTP {host}:{port}: {exc}") from exc


def signature(body: bytes, secret: str) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of the exact body bytes with the shared secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook_body(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def post_webhook(payload: Mapping[str, Any], settings: Settings, key: str = "") -> None:
    """POST ``payload`` as JSON to TICKET_WEBHOOK_URL, signed with TICKET_WEBHOOK_SECRET; 2xx is success.

    ``key`` goes in the Idempotency-Key header, the same on every try: a receiver must de-duplicate on it,
    because a try that timed out may have arrived.
    """
    url = settings.ticket_webhook_url
    if not url.startswith(("http://", "https://")):
        raise DeliveryFailed("TICKET_WEBHOOK_URL is not set to an http(s) address")
    body = webhook_body(payload)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "kb-help-center",
        "X-Kb-Event": str(payload.get("event", "ticket.created")),
    }
    if key:
        headers[IDEMPOTENCY_HEADER] = key
    secret = settings.ticket_webhook_secret
    if secret:
        headers[SIGNATURE_HEADER] = signature(body, secret)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=settings.delivery_timeout_seconds) as response:  # noqa: S310 (http/https only)
            status = response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"webhook {url} answered HTTP {exc.code}") from exc
    except TimeoutError as exc:
        raise DeliveryFailed(f"webhook {url}: {UNKNOWN} {IDEMPOTENCY_HEADER}") from exc
    except (OSError, ValueError) as exc:
        raise DeliveryFailed(f"webhook {url}: {exc}") from exc
    if not 200 <= status < 300:
        raise DeliveryFailed(f"webhook {url} answered HTTP {status}")
