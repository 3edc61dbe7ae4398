"""The first step of the deflection funnel: a visitor opening the contact form, once per visitor and day.

The contact view records it when it serves the form (a GET), never when the form is sent.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from kb.models import ContactOpened, utcnow
from kb.tracking import store


def record_contact_opened(session: Session, visitor: str, locale: str) -> bool:
    """Count the contact form as opened by ``visitor`` today; return whether it was the first time today."""
    now = utcnow()
    return store.insert_once(session, ContactOpened(created_at=now, day=now.date(), visitor=visitor, locale=locale))
