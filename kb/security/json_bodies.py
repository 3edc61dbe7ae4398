"""JSON bodies that cannot crash a worker: nesting deep enough to exhaust the parser is a bad request.

``json.loads`` raises RecursionError on ``[[[[...`` a few thousand levels deep; Werkzeug's ``get_json``
only turns ValueError into "no JSON" (``silent=True``) or a 400, so this provider reports it as one.
The body's size is bounded before that by MAX_CONTENT_LENGTH.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with a body nested too deeply read as invalid JSON rather than a server error."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def init_app(app: Flask) -> None:
    app.json = BoundedJSONProvider(app)
