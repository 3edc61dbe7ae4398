"""The root of kb's own errors, so callers can catch what kb raises and nothing else."""

from __future__ import annotations


class KbError(Exception):
    """Something kb cannot do, with a message a writer or an operator can act on."""


class IndexMissing(KbError):
    """The search index has not been built yet (run ``kb index``)."""


class TicketNotSaved(KbError):
    """The database could not take a ticket; the visitor must be able to send it again."""
