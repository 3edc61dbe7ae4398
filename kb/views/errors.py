"""Error pages that help: a 404 with a search box, JSON for API clients, and a calm 500."""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import InterfaceError, InternalError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from kb.db import get_session
from kb.tracking.store import describe

log = logging.getLogger(__name__)


def wants_json() -> bool:
    """Whether this client reads JSON: an API path, or JSON as the best type it accepts (feedback.js)."""
    json_in = request.is_json  # a client that sends JSON (contact.js) reads JSON
    return request.path.startswith("/api/") or json_in or request.accept_mimetypes.best == "application/json"


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        code = exc.code or 500
        if code == 413:  # werkzeug's words name no limit: say what was refused and how much is allowed
            limit = int(current_app.config.get("MAX_CONTENT_LENGTH") or 0) // 1024
            exc.description = (
                f"What you sent is larger than this site accepts ({limit} KB). Nothing was saved: shorten it "
                "and send it again."
            )
        if wants_json():
            return jsonify(error=exc.name, message=exc.description, status=code), code
        locale = _locale_guess()
        if exc.code == 404:
            from kb.tracking.search_log import guesses_for_path

            return render_template(
                "errors/404.html", error=exc, locale=locale, suggestions=guesses_for_path(request.path, locale)
            ), 404
        return render_template("errors/error.html", error=exc, locale=locale), code

    for fault in DATABASE_FAULTS:
        app.register_error_handler(fault, database_unavailable)

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled error on %s", request.path)
        get_session().rollback()
        if wants_json():
            return jsonify(error="Internal Server Error", message="Something went wrong on our side.", status=500), 500
        try:
            return render_template("errors/error.html", error=None, locale=_locale_guess()), 500
        except Exception:  # the error page itself failed: answer in plain words rather than not at all
            log.exception("error page failed")
            return "Something went wrong on our side. Please try again in a moment.", 500


DATABASE_FAULTS = (OperationalError, InterfaceError, InternalError)  # down, unreachable, read-only, full
RETRY_AFTER = {"Retry-After": "30"}


def database_unavailable(exc: Exception) -> ResponseReturnValue:
    """The database is down, read-only or full: a 503 that says so; the next request tries again."""
    log.error("database unavailable on %s: %s", request.path, describe(exc))
    with contextlib.suppress(SQLAlchemyError):
        get_session().rollback()
    error = ServiceUnavailable("We cannot save or read this right now. Please try again in a minute.")
    if wants_json():
        return jsonify(error=error.name, message=error.description, status=503), 503, RETRY_AFTER
    try:
        return render_template("errors/error.html", error=error, locale=_locale_guess()), 503, RETRY_AFTER
    except Exception:
        log.exception("error page failed")
        return error.description, 503, RETRY_AFTER


def _locale_guess() -> str:
    first = request.path.strip("/").split("/")[0]
    from kb.site_state import library

    try:
        return first if first in library().locales else "en"
    except Exception:
        return "en"
