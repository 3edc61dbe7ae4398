"""The first step of the deflection funnel: a visitor opening the contact form, once per visitor and day.

Recorded after the contact form page is served (``init_app`` hooks it to the ``contact.form`` endpoint),
so the contact view itself stays as it is.
"""

from __future__ import annotations

from flask import Flask, Response, request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kb.db import get_session
from kb.models import ContactOpened, utcnow
from kb.tracking import events
from kb.tracking.visitor import current_visitor

CONTACT_ENDPOINT = "contact.form"


def record_contact_opened(session: Session, visitor: str, locale: str) -> bool:
    """Count the contact form as opened by ``visitor`` today; return whether it was the first time today."""
    now = utcnow()
    try:
        with session.begin_nested():
            session.add(ContactOpened(created_at=now, day=now.date(), visitor=visitor, locale=locale[:16]))
        session.commit()
        return True
    except IntegrityError:
        session.rollback()
        return False


def init_app(app: Flask) -> None:
    app.after_request(_after_request)


def _after_request(response: Response) -> Response:
    if request.endpoint == CONTACT_ENDPOINT and request.method == "GET" and response.status_code == 200:
        locale = (request.view_args or {}).get("locale") or request.args.get("locale") or ""
        if not locale:
            from kb.i18n.ui import select_locale

            locale = select_locale()
        events.safely(record_contact_opened, get_session(), current_visitor(), str(locale))
    return response
