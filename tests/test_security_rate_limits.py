"""Issue 14, finding 6: rate limits count in the database, shared by every worker and host and kept over a
restart; keyed by the real client address behind KB_PROXY_COUNT proxies and never by a spoofed header;
/api/suggest and votes limited; a per-account back-off that lets the right password in once it is over;
one address's votes counted once however often it drops the cookie. On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from security_sites import BACKENDS, make_site
from sqlalchemy import select, update
from test_admin import EMAIL, PASSWORD, add_user

from kb.db import engine_of, session_scope
from kb.models import RateLimit, Vote
from kb.security import lockout, rate_store

ARTICLE = "en/set-up-points-expiry"


@pytest.fixture(params=BACKENDS)
def backend(request: Any) -> Any:
    return request


def site_on(backend: Any, articles: Path, tmp_path: Path, **extra: Any) -> Any:
    return make_site(backend, articles, tmp_path, WTF_CSRF_ENABLED=False, **extra)


def same_database(app: Any, **extra: Any) -> Any:
    """A second worker (or a restarted one): another app on the same database."""
    from conftest import MODELS

    from kb import create_app

    config = {k: app.config[k] for k in ("TESTING", "SECRET_KEY", "ARTICLES_DIR", "SEARCH_INDEX_DIR", "DATABASE_URL")}
    return create_app({**config, "INDEX_RELOAD_SECONDS": 0.0, **extra}, models=MODELS)


def suggest(app: Any, address: str = "203.0.113.7", **headers: str) -> int:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return int(client.get("/api/suggest?q=points", headers=headers).status_code)


def test_two_workers_and_a_restart_share_one_count(backend: Any, articles_dir: Path, tmp_path: Path) -> None:
    limit = {"SUGGEST_RATE_LIMIT": "4 per minute"}
    first = site_on(backend, articles_dir, tmp_path, **limit)
    second = same_database(first, **limit)
    assert [suggest(first), suggest(second), suggest(first)] == [200, 200, 200]
    restarted = same_database(first, **limit)
    assert suggest(restarted) == 200
    assert suggest(second) == 429 and suggest(first) == 429
    assert suggest(first, "203.0.113.8") == 200  # another address has its own count


def test_concurrent_hits_are_all_counted(backend: Any, articles_dir: Path, tmp_path: Path) -> None:
    app = site_on(backend, articles_dir, tmp_path)
    errors: list[BaseException] = []

    def hit() -> None:
        try:
            with app.app_context():
                for _ in range(10):
                    rate_store.add_shared("test/concurrent", 60.0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hit) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(app) as session:
        assert session.get(RateLimit, "test/concurrent").count == 50  # type: ignore[union-attr]


def test_a_window_starts_again_when_it_ends(backend: Any, articles_dir: Path, tmp_path: Path) -> None:
    app = site_on(backend, articles_dir, tmp_path)
    with app.app_context(), engine_of(app).begin() as conn:
        now = time.time()
        assert rate_store.add(conn, "k", 60, now=now) == 1
        assert rate_store.add(conn, "k", 60, now=now + 1) == 2
        assert rate_store.add(conn, "k", 60, now=now + 61) == 1
    with app.test_request_context():
        storage = rate_store.DatabaseStorage("kbdb://")
        assert storage.get("k") in (0, 1) and storage.check()
        assert rate_store.row_key("x" * 300).startswith("sha256:")


def test_the_real_address_behind_a_trusted_proxy(articles_dir: Path, tmp_path: Path) -> None:
    class Sqlite:
        param = "sqlite"

    limit = {"SUGGEST_RATE_LIMIT": "2 per minute"}
    direct = site_on(Sqlite, articles_dir, tmp_path, **limit)
    # No proxy trusted: a client cannot escape its limit by inventing X-Forwarded-For.
    spoofed = [suggest(direct, "198.51.100.1", **{"X-Forwarded-For": f"10.0.0.{i}"}) for i in range(3)]
    assert spoofed == [200, 200, 429]
    behind = same_database(direct, PROXY_COUNT=1, SUGGEST_RATE_LIMIT="2 per minute")
    # One proxy: every visitor arrives from the proxy's address; each is counted by its own.
    visitors = [suggest(behind, "127.0.0.1", **{"X-Forwarded-For": f"192.0.2.{i}"}) for i in range(1, 6)]
    assert visitors == [200] * 5
    assert suggest(behind, "127.0.0.1", **{"X-Forwarded-For": "192.0.2.1"}) == 200
    assert suggest(behind, "127.0.0.1", **{"X-Forwarded-For": "192.0.2.1"}) == 429
    # The client's own X-Forwarded-For is prepended to by the proxy: only the last (the proxy's view) counts.
    forged = suggest(behind, "127.0.0.1", **{"X-Forwarded-For": "192.0.2.99, 192.0.2.1"})
    assert forged == 429


def test_votes_and_answers_opened_are_limited(backend: Any, articles_dir: Path, tmp_path: Path) -> None:
    limits = {"FEEDBACK_RATE_LIMIT": "3 per minute", "SUGGEST_RATE_LIMIT": "3 per minute"}
    app = site_on(backend, articles_dir, tmp_path, **limits)
    client = app.test_client()
    body = {"article_id": ARTICLE, "helpful": False}
    votes = [client.post("/contact/vote", json=body).status_code for _ in range(4)]
    assert votes == [200, 200, 200, 429]
    assert client.post("/contact/vote", json=body).get_json()["status"] == 429
    opened = [client.post("/contact/opened", json={"article_id": ARTICLE}).status_code for _ in range(4)]
    assert opened == [200, 200, 200, 429]


def test_dropping_the_cookie_does_not_count_a_vote_twice(backend: Any, articles_dir: Path, tmp_path: Path) -> None:
    app = site_on(backend, articles_dir, tmp_path, FEEDBACK_RATE_LIMIT="1000 per minute")
    for _ in range(30):  # a fresh client each time: no cookie, a new visitor id
        response = app.test_client().post("/contact/vote", json={"article_id": ARTICLE, "helpful": False})
        assert response.status_code == 200
    for _ in range(3):
        app.test_client().post("/feedback", data={"article_id": ARTICLE, "step": "vote", "helpful": "no"})
    with session_scope(app) as session:
        votes = list(session.scalars(select(Vote)))
    assert len(votes) == 1
    assert votes[0].voter and len(votes[0].voter) == 64 and "127.0.0.1" not in votes[0].voter
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.50"
    other.post("/contact/vote", json={"article_id": ARTICLE, "helpful": True})
    with session_scope(app) as session:
        assert len(list(session.scalars(select(Vote)))) == 2  # another address is another voter


# -- sign-in: per account, with a back-off that ends ---------------------------------------------------------


def attempt(app: Any, address: str, password: str, client: Any = None) -> int:
    client = client or app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    response = client.post("/admin/login", data={"email": EMAIL, "password": password})
    return int(response.status_code)


def waits(app: Any, prefix: str) -> list[float]:
    with session_scope(app) as session:
        return [r.expires_at for r in session.scalars(select(RateLimit).where(RateLimit.key.like(f"{prefix}%")))]


def end_the_waits(app: Any) -> None:
    with session_scope(app) as session:
        waiting = RateLimit.key.like("login-%")
        session.execute(update(RateLimit).where(waiting).values(expires_at=time.time() - 1))


@pytest.fixture
def login_site(backend: Any, articles_dir: Path, tmp_path: Path) -> Any:
    app = site_on(backend, articles_dir, tmp_path, LOGIN_RATE_LIMIT="1000 per minute")
    assert add_user(app).exit_code == 0
    return app


def test_an_address_that_keeps_failing_waits_but_the_right_password_gets_in_elsewhere(login_site: Any) -> None:
    app = login_site
    assert [attempt(app, "203.0.113.1", "wrong password!") for _ in range(5)] == [401] * 5
    assert attempt(app, "203.0.113.1", PASSWORD) == 429  # that address waits, even with the right password
    assert attempt(app, "198.51.100.20", PASSWORD) == 303  # the real admin from a new address: in at once
    with session_scope(app) as session:
        assert all(EMAIL not in r.key and "203.0.113.1" not in r.key for r in session.scalars(select(RateLimit)))


def test_an_account_under_wide_attack_waits_and_the_wait_ends(login_site: Any) -> None:
    app = login_site
    known = app.test_client()
    assert attempt(app, "198.51.100.9", PASSWORD, known) == 303  # the admin signed in with this browser before
    failures = [attempt(app, f"203.0.113.{i}", "wrong password!") for i in range(1, 21)]
    assert failures == [401] * 20  # twenty addresses, once each: the per-address counts never saw them
    assert attempt(app, "198.51.100.20", PASSWORD) == 429  # the account waits, even for the right password
    [until] = waits(app, "login-account:")
    for i in range(10):  # tries during the wait are refused unchecked and do not lengthen it
        assert attempt(app, f"203.0.113.{50 + i}", "wrong password!") == 429
    assert waits(app, "login-account:") == [until]
    assert attempt(app, "198.51.100.30", PASSWORD, known) == 303  # a browser the admin used gets through
    end_the_waits(app)
    failures = [attempt(app, f"203.0.113.{i}", "wrong password!") for i in range(100, 120)]
    end_the_waits(app)
    assert attempt(app, "198.51.100.21", PASSWORD) == 303  # once the wait is over, a new address: in
    assert waits(app, "login-account:") == []  # and the account's failures are forgotten


def test_the_back_off_doubles_and_is_capped(backend: Any, articles_dir: Path, tmp_path: Path) -> None:
    app = site_on(backend, articles_dir, tmp_path)
    with app.test_request_context():
        settings = app.extensions["kb.settings"]
        waits = [lockout.backoff(settings, n) for n in range(1, 12)]
        assert waits[:4] == [0, 0, 0, 0] and waits[4:7] == [30, 60, 120]
        assert max(waits) == settings.login_lockout_max_seconds == 900
        assert lockout.backoff(settings, 10_000) == 900
        now = time.time()
        for _ in range(40):
            wait = lockout.note_failure("x@example.com", "192.0.2.1", now=now)
        assert wait == 900 and 899 <= lockout.wait_seconds("x@example.com", "192.0.2.1", now=now) <= 900
        assert 899 <= lockout.wait_seconds("x@example.com", "192.0.2.2", now=now) <= 900  # the account: 40 > 20
        assert lockout.wait_seconds("x@example.com", "192.0.2.2", known=True, now=now) == 0
        lockout.clear("x@example.com", "192.0.2.1")
        assert lockout.wait_seconds("x@example.com", "192.0.2.1") == 0
        assert not lockout.is_known_browser("x@example.com")
