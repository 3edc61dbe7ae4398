"""A site for the security tests on SQLite or on the session's PostgreSQL server, by parameter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kb import create_app, db

BACKENDS = ["sqlite", "postgresql"]


def make_site(request: Any, articles: Path, tmp_path: Path, **extra: Any) -> Any:
    """An app over ``articles`` (no index) on SQLite or on a fresh PostgreSQL database (``request.param``)."""
    if request.param == "postgresql":
        pytest.importorskip("psycopg")
        url = request.getfixturevalue("database")
    else:
        url = f"sqlite:///{tmp_path / 'kb.sqlite3'}"
    db.upgrade(url)
    from conftest import MODELS

    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "ARTICLES_DIR": str(articles),
        "SEARCH_INDEX_DIR": str(tmp_path / "search_index"),
        "DATABASE_URL": url,
        "INDEX_RELOAD_SECONDS": 0.0,
        **extra,
    }
    return create_app(config, models=MODELS)
