"""Issue 14, finding 5: admin sessions are kept server-side. Logout ends them everywhere (a copied cookie no
longer opens /admin/tickets), they have an absolute lifetime and an idle timeout, and `kb users remove` ends
a removed admin's sessions; on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from security_sites import BACKENDS, make_site
from sqlalchemy import select
from test_admin import EMAIL, PASSWORD, add_user, sign_in

from kb.db import session_scope
from kb.models import AdminSession, User

SETTINGS = {"WTF_CSRF_ENABLED": True, "LOGIN_RATE_LIMIT": "1000 per minute"}


@pytest.fixture(params=BACKENDS)
def site(request: Any, articles_dir: Path, tmp_path: Path) -> Any:
    app = make_site(request, articles_dir, tmp_path, **SETTINGS)
    assert add_user(app).exit_code == 0
    return app


def copy_of(app: Any, client: Any) -> Any:
    """Another browser holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def log_out(client: Any) -> None:
    page = client.get("/admin/").get_data(as_text=True)
    from visitors import token_in

    assert client.post("/admin/logout", data={"csrf_token": token_in(page)}).status_code == 303


def sessions(app: Any) -> list[AdminSession]:
    with session_scope(app) as session:
        return list(session.scalars(select(AdminSession).order_by(AdminSession.id)))


def test_a_copied_cookie_opens_nothing_after_logout(site: Any) -> None:
    admin, response = sign_in(site)
    assert response.status_code == 303
    thief = copy_of(site, admin)
    assert thief.get("/admin/tickets").status_code == 200  # the copy works while the session is open
    log_out(admin)
    assert thief.get("/admin/tickets").status_code == 302
    assert admin.get("/admin/tickets").status_code == 302


def test_logout_ends_every_session_of_that_admin(site: Any) -> None:
    laptop, _ = sign_in(site)
    phone, _ = sign_in(site)
    assert phone.get("/admin/").status_code == 200
    log_out(laptop)
    assert phone.get("/admin/").status_code == 302
    assert all(s.revoked_at is not None for s in sessions(site))


def test_the_cookie_carries_a_token_the_database_keeps_only_hashed(site: Any) -> None:
    admin, _ = sign_in(site)
    with admin.session_transaction() as state:
        token = state["kb_admin_token"]
    [row] = sessions(site)
    assert token not in row.token_hash and len(row.token_hash) == 64


def test_a_session_ends_at_its_absolute_lifetime(site: Any) -> None:
    site.config["ADMIN_SESSION_MAX_SECONDS"] = 3600
    admin, _ = sign_in(site)
    assert admin.get("/admin/").status_code == 200
    with session_scope(site) as session:  # signed in 61 minutes ago, active all along
        for row in session.scalars(select(AdminSession)):
            row.created_at -= timedelta(minutes=61)
    assert admin.get("/admin/").status_code == 302


def test_a_session_idle_on_the_server_ends_even_with_a_fresh_cookie(site: Any) -> None:
    site.config["PERMANENT_SESSION_LIFETIME"] = 600
    admin, _ = sign_in(site)
    with session_scope(site) as session:
        for row in session.scalars(select(AdminSession)):
            row.last_seen -= timedelta(minutes=11)
    assert admin.get("/admin/").status_code == 302


def test_users_remove_ends_their_sessions(site: Any) -> None:
    admin, _ = sign_in(site)
    assert admin.get("/admin/").status_code == 200
    result = site.test_cli_runner().invoke(args=["users", "remove", EMAIL.upper()])
    assert result.exit_code == 0, result.output
    assert admin.get("/admin/").status_code == 302
    with session_scope(site) as session:
        assert session.scalars(select(User)).all() == []
    _, again = sign_in(site, EMAIL, PASSWORD)
    assert again.status_code == 401
    missing = site.test_cli_runner().invoke(args=["users", "remove", "nobody@example.com"])
    assert missing.exit_code != 0 and "no admin user" in missing.output
