"""Request ids and structured logs: every log line written while a request runs names that request.

Each request takes its id from an ``X-Request-ID`` header when one is well-formed (a proxy or load balancer
that set it can then find kb's lines for its own), else a new random one; the id is echoed in the response's
``X-Request-ID``. A log record factory stamps ``request_id`` on every record (``-`` outside a request), so
the id reaches every handler, gunicorn's and pytest's included. ``KB_LOG_FORMAT`` picks the line format:
``text`` (key=value tail) or ``json`` (one object a line, for a log collector).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from typing import Any

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
NO_REQUEST = "-"
# What a trusted id may look like: short, no spaces or control characters, nothing a log line could be split by.
WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s request_id=%(request_id)s"

_previous_factory = logging.getLogRecordFactory()


def new_id() -> str:
    """Return a fresh request id (32 hex digits)."""
    return secrets.token_hex(16)


def accepted(raw: str | None) -> str | None:
    """Return ``raw`` when it is a well-formed id to keep, else None (missing, too long, odd characters)."""
    if raw is None or len(raw) > 128 or not WELL_FORMED.fullmatch(raw):
        return None
    return raw


def current_id() -> str:
    """Return the running request's id (chosen on first use), or ``-`` outside a request."""
    if not has_request_context():
        return NO_REQUEST
    value = g.get("request_id")
    if not isinstance(value, str):
        value = g.request_id = accepted(request.headers.get(HEADER)) or new_id()
    return value


def _record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _previous_factory(*args, **kwargs)
    record.request_id = current_id()
    return record


class RequestIdFilter(logging.Filter):
    """Give a record made before the factory was installed (or by a foreign factory) a ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_id()
        return True


class JsonFormatter(logging.Formatter):
    """Write each record as one JSON object: time, level, logger, request id, message (and the traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", NO_REQUEST),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def formatter(log_format: str) -> logging.Formatter:
    """Return the formatter ``KB_LOG_FORMAT`` names (``text`` or ``json``)."""
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: str) -> None:
    """Stamp request ids on every record and write kb's log lines to stderr in the chosen format."""
    if logging.getLogRecordFactory() is not _record_factory:
        logging.setLogRecordFactory(_record_factory)
    root = logging.getLogger()
    ours: list[logging.Handler] = [h for h in root.handlers if getattr(h, "kb_handler", False)]
    if not root.handlers:  # as logging.basicConfig: leave a host's own logging set-up alone
        stream = logging.StreamHandler()
        stream.kb_handler = True  # type: ignore[attr-defined]
        root.addHandler(stream)
        root.setLevel(level)
        ours = [stream]
    for handler in ours:
        handler.setFormatter(formatter(log_format))
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


def init_app(app: Flask) -> None:
    """Give each request an id before anything logs, and echo it in the response."""

    @app.before_request
    def assign_request_id() -> None:
        current_id()

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        response.headers[HEADER] = current_id()
        return response
