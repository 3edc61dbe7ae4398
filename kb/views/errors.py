"""Error pages that help: a 404 with a search box, JSON for API clients, and a calm 500."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from kb.db import get_session

log = logging.getLogger(__name__)


def wants_json() -> bool:
    """Whether this client reads JSON: an API path, or JSON as the best type it accepts (feedback.js)."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        code = exc.code or 500
        if wants_json():
            return jsonify(error=exc.name, message=exc.description, status=code), code
        locale = _locale_guess()
        if exc.code == 404:
            from kb.tracking.search_log import guesses_for_path

            return render_template(
                "errors/404.html", error=exc, locale=locale, suggestions=guesses_for_path(request.path, locale)
            ), 404
        return render_template("errors/error.html", error=exc, locale=locale), code

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


def _locale_guess() -> str:
    first = request.path.strip("/").split("/")[0]
    from kb.site_state import library

    try:
        return first if first in library().locales else "en"
    except Exception:
        return "en"
