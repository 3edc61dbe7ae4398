"""Finding 9 of issue 14, readiness: ``/healthz`` reports the database, the index build and the models, 503
until ready; ``kb serve`` refuses the development secret key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import PROJECT, free_port, make_app

from kb import create_app

KB = Path(sys.executable).parent / "kb"


def health(app: Any) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/healthz")
    return response.status_code, response.get_json()


def test_healthz_is_503_until_the_index_and_models_are_open_then_200(indexed_root: Path, tmp_path: Path) -> None:
    app = make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3")
    code, body = health(app)  # a fresh process: the index opens in the background, the caller is not held
    deadline = time.monotonic() + 60
    while code != 200 and time.monotonic() < deadline:
        assert code == 503 and body["ready"] is False and body["index"]["error"] == "loading"
        time.sleep(0.1)
        code, body = health(app)
    assert code == 200, body
    build = (indexed_root / "search_index" / "CURRENT").read_text().strip()
    assert body["ready"] is True and body["database"] == {"ok": True}
    assert body["index"]["build"] == build and body["index"]["models"].get("minilm")
    assert body["index"]["semantic"] is True


def test_healthz_without_an_index_is_503(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(articles_dir, tmp_path / "search_index", tmp_path / "kb.sqlite3")
    app.extensions["kb.state"].current()
    code, body = health(app)
    assert code == 503 and body["database"]["ok"] and body["index"]["error"] == "no index"


def test_healthz_with_the_database_unreachable_is_503(indexed_root: Path, tmp_path: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "ARTICLES_DIR": str(indexed_root / "articles"),
            "SEARCH_INDEX_DIR": str(indexed_root / "search_index"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'missing-folder' / 'kb.sqlite3'}",
        }
    )
    app.extensions["kb.state"].current()
    code, body = health(app)
    assert code == 503 and body["database"]["ok"] is False and "OperationalError" in body["database"]["error"]
    assert body["index"]["ok"] is True


def test_kb_serve_refuses_the_development_secret_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("KB_SECRET_KEY", "KB_DEBUG")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", KB_DATABASE_URL=f"sqlite:///{tmp_path / 'kb.sqlite3'}")
    port = free_port()
    done = subprocess.run(
        [str(KB), "serve", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "KB_SECRET_KEY is not set" in done.stderr, done.stderr[-2000:]
