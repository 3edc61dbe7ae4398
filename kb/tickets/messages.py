"""What the outbox carries for a ticket: mail or JSON for the support team, the merchant's acknowledgement.

Composed inside the request that stores the ticket (titles and links of the articles it mentions are
resolved then), committed with it, and sent later by ``kb.outbox``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from email.utils import formataddr, make_msgid
from typing import Any

from flask import render_template, url_for

from kb.models import OutboxMessage, Ticket
from kb.search import Hit
from kb.site_state import library

log = logging.getLogger(__name__)

DELIVERY_MODES = ("none", "smtp", "webhook")


def acknowledges(config: Mapping[str, Any]) -> bool:
    """Whether the merchant gets an acknowledgement mail: TICKET_ACK on and an SMTP server configured."""
    return bool(config.get("TICKET_ACK")) and bool(config.get("SMTP_HOST"))


def outbox_messages(ticket: Ticket, config: Mapping[str, Any], answers: list[Hit]) -> list[OutboxMessage]:
    """The messages to send for a new ticket, by TICKET_DELIVERY, plus the acknowledgement."""
    messages = []
    mode = str(config.get("TICKET_DELIVERY") or "none").lower()
    if mode == "smtp":
        messages.append(_message("ticket", "smtp", support_mail(ticket, config)))
    elif mode == "webhook":
        messages.append(_message("ticket", "webhook", ticket_json(ticket)))
    elif mode != "none":
        log.error(
            "TICKET_DELIVERY=%r is not one of %s: ticket %s stays in the database only",
            mode,
            ", ".join(DELIVERY_MODES),
            ticket.reference,
        )
    if acknowledges(config) and ticket.email:
        messages.append(_message("ack", "smtp", acknowledgement(ticket, config, answers)))
    return messages


def _message(kind: str, channel: str, payload: dict[str, Any]) -> OutboxMessage:
    return OutboxMessage(kind=kind, channel=channel, payload=payload, status="pending", attempts=0)


def _msgid(ticket: Ticket, kind: str, config: Mapping[str, Any]) -> str:
    domain = str(config.get("MAIL_FROM") or "localhost").rpartition("@")[2].strip("> ") or "localhost"
    return make_msgid(idstring=f"{ticket.reference}.{kind}", domain=domain)


def _article_url(article_id: str, anchor: str = "") -> str:
    locale, _, slug = article_id.partition("/")
    url = url_for("site.article", locale=locale, slug=slug, _external=True)
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


def support_mail(ticket: Ticket, config: Mapping[str, Any]) -> dict[str, Any]:
    """The plain-text mail to SUPPORT_EMAIL: the question, how to answer, and what the merchant did first."""
    body = render_template(
        "contact/mail/ticket.txt",
        ticket=ticket,
        topic=_topic_title(ticket),
        history=ticket.context,
        articles=mentioned_articles(ticket.context),
    )
    return {
        "to": [str(config.get("SUPPORT_EMAIL") or "")],
        "subject": f"[{ticket.reference}] {ticket.subject}",
        "reply_to": formataddr((" ".join(ticket.name.split()), ticket.email)),
        "body": body,
        "message_id": _msgid(ticket, "ticket", config),
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


def acknowledgement(ticket: Ticket, config: Mapping[str, Any], answers: list[Hit]) -> dict[str, Any]:
    """The merchant's copy: the reference, what happens next, and the best answers we have."""
    links = [{"title": h.article.title, "section": h.heading, "url": _article_url(h.id, h.anchor)} for h in answers]
    body = render_template(
        "contact/mail/ack.txt", ticket=ticket, answers=links, site_name=config.get("SITE_NAME", "Help Center")
    )
    return {
        "to": [ticket.email],
        "subject": f"[{ticket.reference}] We received your message: {ticket.subject}",
        "reply_to": str(config.get("SUPPORT_EMAIL") or ""),
        "body": body,
        "message_id": _msgid(ticket, "ack", config),
    }
