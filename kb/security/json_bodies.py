"""JSON bodies that cannot crash a worker: nesting deep enough to exhaust the parser is a bad request.

``json.loads`` raises RecursionError on ``[[[[...`` a few thousand levels deep; Werkzeug's ``get_json``
only turns ValueError into "no JSON" (``silent=True``) or a 400, so this provider reports it as one.
The body's size is bounded before that by MAX_CONTENT_LENGTH.

JSON may also spell half of a character (``"\\ud800"``): Python reads it as a lone surrogate, which no
database and no log can encode (a 500 where the text is stored). Such halves are read as U+FFFD, as a
browser reads a broken character.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

_SURROGATE = re.compile("[\ud800-\udfff]")


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with a body nested too deeply read as invalid JSON rather than a server error, and
    no lone surrogate in any string."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        return whole_characters(value)  # escaped (``\\ud800``) or sent raw, in any encoding JSON allows


def whole_characters(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys included) replaced by U+FFFD; iterative, as
    the value may be nested as deep as the parser allows."""
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        holder, key = stack.pop()
        item = holder[key]
        if isinstance(item, str):
            holder[key] = _SURROGATE.sub("\ufffd", item)
        elif isinstance(item, list):
            stack.extend((item, i) for i in range(len(item)))
        elif isinstance(item, dict):
            fixed = {_SURROGATE.sub("\ufffd", k): v for k, v in item.items()}
            holder[key] = fixed
            stack.extend((fixed, k) for k in fixed)
    return root[0]


def init_app(app: Flask) -> None:
    app.json = BoundedJSONProvider(app)
