"""What the outbox carries for a ticket: mail or JSON for the support team, the merchant's acknowledgement.

Composed inside the request that stores the ticket (titles and links of the articles it mentions are
resolved then), committed with it, and sent later by ``kb.outbox``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from email.utils import formataddr, make_msgid
from typing import Any

from flask import render_template

from kb.config import Settings
from kb.models import OutboxMessage, Ticket
from kb.search import Hit
from kb.security.urls import external_url
from kb.site_state import library

log = logging.getLogger(__name__)


def acknowledges(settings: Settings) -> bool:
    """Whether the merchant gets an acknowledgement mail: TICKET_ACK on and an SMTP server configured."""
    return settings.ticket_ack and bool(settings.smtp_host)


def outbox_messages(ticket: Ticket, settings: Settings, answers: list[Hit]) -> list[OutboxMessage]:
    """The messages to send for a new ticket, by TICKET_DELIVERY (checked at start), plus the acknowledgement."""
    messages = []
    if settings.ticket_delivery == "smtp":
        messages.append(_message("ticket", "smtp", support_mail(ticket, settings)))
    elif settings.ticket_delivery == "webhook":
        messages.append(_message("ticket", "webhook", ticket_json(ticket)))
    if acknowledges(settings) and ticket.email:
        messages.append(_message("ack", "smtp", acknowledgement(ticket, settings, answers)))
    return messages


def _message(kind: str, channel: str, payload: dict[str, Any]) -> OutboxMessage:
    if channel == "webhook":  # sent as the Idempotency-Key header, the same on every try
        payload = {**payload, "idempotency_key": f"kb-{kind}-{uuid.uuid4().hex}"}
    return OutboxMessage(kind=kind, channel=channel, payload=payload, status="pending", attempts=0)


def _msgid(ticket: Ticket, kind: str, settings: Settings) -> str:
    domain = settings.mail_from.rpartition("@")[2].strip("> ") or "localhost"  # a From without a domain
    return make_msgid(idstring=f"{ticket.reference}.{kind}", domain=domain)


def _article_url(article_id: str, anchor: str = "") -> str:
    locale, _, slug = article_id.partition("/")
    url = external_url("site.article", locale=locale, slug=slug)  # KB_BASE_URL, never the request's Host
    return url + (f"#{anchor}" if anchor else "")


def mentioned_articles(context: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Title and link of every article the ticket's context names, for people reading it."""
    ids: list[str] = list(context.get("suggested", []))
    for key in ("opened", "read", "clicked", "votes"):
        ids += [item["article_id"] for item in context.get(key, [])]
    lib = library()
    found = {}
    for article_id in dict.fromkeys(ids):
        article = lib.by_id(article_id)
        title = article.title if article else article_id
        found[article_id] = {"title": title, "url": _article_url(article_id)}
    return found


def _topic_title(ticket: Ticket) -> str:
    category = library().category(ticket.locale, ticket.topic) if ticket.topic else None
    return category.title if category else ticket.topic


def support_mail(ticket: Ticket, settings: Settings) -> dict[str, Any]:
    """The plain-text mail to SUPPORT_EMAIL: the question, how to answer, and what the merchant did first."""
    body = render_template(
        "contact/mail/ticket.txt",
        ticket=ticket,
        topic=_topic_title(ticket),
        history=ticket.context,
        articles=mentioned_articles(ticket.context),
    )
    return {
        "to": [settings.support_email],
        "subject": f"[{ticket.reference}] {ticket.subject}",
        "reply_to": formataddr((" ".join(ticket.name.split()), ticket.email)),
        "body": body,
        "message_id": _msgid(ticket, "ticket", settings),
    }


def ticket_json(ticket: Ticket) -> dict[str, Any]:
    """The webhook body: the ticket, its context, and the articles the context names."""
    return {
        "event": "ticket.created",
        "reference": ticket.reference,
        "id": ticket.id,
        "created_at": ticket.created_at.replace(microsecond=0).isoformat() + "Z",
        "locale": ticket.locale,
        "name": ticket.name,
        "email": ticket.email,
        "subject": ticket.subject,
        "message": ticket.message,
        "topic": {"slug": ticket.topic, "title": _topic_title(ticket)},
        "store_url": ticket.store_url,
        "came_from": ticket.came_from,
        "user_agent": ticket.user_agent,
        "context": ticket.context,
        "articles": mentioned_articles(ticket.context),
    }


def acknowledgement(ticket: Ticket, settings: Settings, answers: list[Hit]) -> dict[str, Any]:
    """The merchant's copy: the reference, what happens next, and the best answers we have."""
    links = [{"title": h.article.title, "section": h.heading, "url": _article_url(h.id, h.anchor)} for h in answers]
    body = render_template("contact/mail/ack.txt", ticket=ticket, answers=links, site_name=settings.site_name)
    return {
        "to": [ticket.email],
        "subject": f"[{ticket.reference}] We received your message: {ticket.subject}",
        "reply_to": settings.support_email,
        "body": body,
        "message_id": _msgid(ticket, "ack", settings),
    }
