"""gunicorn.conf.py's hooks, called as gunicorn calls them: what each process may do after the fork."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask

from kb.search import spare_core as module
from kb.search.spare_core import SpareCore

PROJECT = Path(__file__).resolve().parent.parent


def _hooks() -> dict[str, Any]:
    return runpy.run_path(str(PROJECT / "gunicorn.conf.py"))


def _server(workers: int) -> SimpleNamespace:
    """What the hooks read of gunicorn's arbiter: its settings and the app it loaded (a bare Flask app: no database)."""
    app = Flask("hooks")
    return SimpleNamespace(cfg=SimpleNamespace(workers=workers), app=SimpleNamespace(wsgi=lambda: app))


@pytest.mark.parametrize(("workers", "takes_a_spare_core"), [(1, True), (2, True), (3, False), (4, False)])
def test_a_worker_takes_a_spare_core_only_while_workers_are_no_more_than_cores(
    monkeypatch: pytest.MonkeyPatch, workers: int, takes_a_spare_core: bool
) -> None:
    spare = SpareCore(cores=2, busy=lambda: 0.0)
    monkeypatch.setattr(module, "spare_core", spare)
    _hooks()["post_fork"](_server(workers), SimpleNamespace())
    assert spare() is takes_a_spare_core
