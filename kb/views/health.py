"""``/healthz``: whether this process can serve, for a load balancer or an orchestrator to read.

200 when the database answers, a search index build is open and its models are loaded; 503 (with the
same JSON) until then. The first call in a fresh process starts opening the index in the background
instead of holding the caller for the models' load.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from kb.db import engine_of
from kb.tracking.store import describe

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)
_opening = threading.Lock()


def _database(app: Flask) -> dict[str, Any]:
    try:
        with engine_of(app).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return {"ok": False, "error": describe(exc)}
    return {"ok": True}


def _open_in_background(app: Flask) -> None:
    """Open the site's snapshot (articles, index, models) once, off the request."""
    if not _opening.acquire(blocking=False):
        return

    def run() -> None:
        try:
            with app.app_context():
                app.extensions["kb.state"].current()
        except Exception:
            log.exception("could not open the site for /healthz")
        finally:
            _opening.release()

    threading.Thread(target=run, name="kb-warm-up", daemon=True).start()


def _search(app: Flask) -> dict[str, Any]:
    snap = getattr(app.extensions["kb.state"], "_snapshot", None)  # read without opening (models load slowly)
    if snap is None:
        _open_in_background(app)
        return {"ok": False, "build": None, "models": {}, "semantic": False, "error": "loading"}
    searcher = snap.searcher
    if searcher is None:
        return {"ok": False, "build": snap.build_id or None, "models": {}, "semantic": False, "error": "no index"}
    return {
        "ok": True,
        "build": snap.build_id,
        "models": {key: embedder.name for key, embedder in searcher.embedders.items()},
        "semantic": searcher.semantic_available,
    }


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Report the database, the index build and the models; 503 until all are ready."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    database, search = _database(app), _search(app)
    ready = database["ok"] and search["ok"]
    body = {"ready": ready, "database": database, "index": search}
    return jsonify(body), 200 if ready else 503, {"Cache-Control": "no-store"}
