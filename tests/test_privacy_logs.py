"""Finding 7 of issue 14: logs carry no personal data (a refused ticket, admin sign-in, request lines)."""

from __future__ import annotations

import logging
import re
import sqlite3
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, served
from visitors import contact_page, fill

EMAIL = "ada.private@example.com"
TEXT = "my secret order 77123 for Ada"


@pytest.fixture
def site(form_app: Any) -> Any:
    return form_app


def assert_clean(caplog: pytest.LogCaptureFixture) -> None:
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    logged += "\n" + caplog.text
    for secret in (EMAIL, "ada.private", "77123", "secret order", "Ada"):
        assert secret not in logged, f"{secret!r} in the log:\n{logged[-3000:]}"


def test_a_ticket_the_database_refused_is_logged_without_its_text_or_address(
    site: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = site.test_client()
    page = contact_page(client)
    with sqlite3.connect(tmp_path / "kb.sqlite3") as raw:
        raw.execute("DROP TABLE tickets")
        raw.execute("DROP TABLE search_events")
    values = {"name": "Ada", "email": EMAIL, "subject": TEXT, "message": f"{TEXT}, write to {EMAIL}"}
    with caplog.at_level(logging.DEBUG):
        response = client.post("/en/contact", data=fill(page, values, js="1"))
        client.get("/en/search", query_string={"q": TEXT})  # its record fails too
    assert response.status_code == 503
    assert "could not store a ticket" in caplog.text and "could not record" in caplog.text
    assert_clean(caplog)


def test_admin_sign_in_logs_no_email(site: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = site.test_client()
    html = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert token
    with caplog.at_level(logging.DEBUG):
        client.post("/admin/login", data={"csrf_token": token.group(1), "email": EMAIL, "password": "wrong-password"})
    assert "admin login failed" in caplog.text
    assert_clean(caplog)


def test_the_development_server_logs_paths_without_query_strings(site: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="werkzeug"), served(site) as base:
        url = f"{base}/en/search?q=secret+order+77123+{EMAIL}"
        with urllib.request.urlopen(url) as response:  # noqa: S310 (loopback)
            assert response.status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any('"GET /en/search HTTP/1.1" 200' in line for line in lines), lines
    assert_clean(caplog)


def test_gunicorn_access_log_has_the_path_only() -> None:
    namespace: dict[str, Any] = {"__file__": str(PROJECT / "gunicorn.conf.py")}
    exec(compile((PROJECT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)  # noqa: S102
    fmt = namespace["access_log_format"]
    assert "%(U)s" in fmt
    # The one header it may name is kb's own response header with the request id (kb.request_ids).
    fmt = fmt.replace("%({x-request-id}o)s", "")
    for leaky in ("%(r)s", "%(q)s", "%(f)s", "%(h)s", "%(a)s", "%({"):
        assert leaky not in fmt
