"""Where a record came from: rows stored while the widget serves a request say "widget" and the host page's
path, so the admin compares widget, contact page and site without every recorder knowing about the widget."""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from kb.models import SearchEvent, Ticket, Vote

STAMPED = (SearchEvent, Vote, Ticket)
CHANNEL = "widget"


def mark_request(page_path: str) -> None:
    """Say that the records this request stores come from the widget open on ``page_path``."""
    g.kb_widget_page = page_path


def _stamp(session: Session, _context: Any, _instances: Any) -> None:
    if not has_request_context() or g.get("kb_widget_page") is None:
        return
    for row in [*session.new, *session.dirty]:
        if isinstance(row, STAMPED):
            row.channel = CHANNEL
            row.page_path = g.kb_widget_page


def init() -> None:
    """Stamp widget records on every session's flush (once per process)."""
    if not event.contains(Session, "before_flush", _stamp):
        event.listen(Session, "before_flush", _stamp)
