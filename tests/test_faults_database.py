"""Finding 9 of issue 14, the database failing under traffic: SQLite turned read-only, PostgreSQL stopped and
started again, PostgreSQL turned read-only and back (a failover); a full disk is test_faults_disk_full.py. The
visitor gets a clear 503 with the contact form's text kept, pages that only record go on answering, and service
comes back by itself."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port, make_app, pg_binary
from sqlalchemy import create_engine, event, func, select
from sqlalchemy import text as sql
from visitors import UNANSWERED, Forms, contact_page, fill

from kb import create_app, db
from kb.db import engine_of, session_scope
from kb.models import Ticket

TYPED = {**UNANSWERED, "message": "Where are my points? I typed all of this and do not want to type it again."}


def tickets(app: Any) -> int:
    with session_scope(app) as session:
        return int(session.scalar(select(func.count()).select_from(Ticket)) or 0)


def refused_but_kept(client: Any, page: dict[str, Any]) -> dict[str, Any]:
    """Send the form while the database refuses it: a 503 page with every field as typed, ready to send."""
    response = client.post("/en/contact", data=fill(page, TYPED, js="1"))
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert "Your message was not sent" in html
    again = Forms(html).find(id="contact-form")
    for name, value in TYPED.items():
        assert again["fields"][name] == value, name
    return again


def still_answering(client: Any) -> None:
    """Pages that only record what visitors did keep answering while the database refuses writes."""
    assert client.get("/en/articles/set-up-points-expiry?from=search&q=expiry").status_code == 200
    assert client.get("/en/search?q=points+expiry").status_code == 200
    assert client.get("/api/suggest?locale=en&q=points+expiry").status_code == 200
    assert client.get("/en/contact").status_code == 200


def test_sqlite_turned_read_only_under_traffic(indexed_root: Path, tmp_path: Path) -> None:
    app = make_app(
        indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3", WTF_CSRF_ENABLED=True
    )
    engine = engine_of(app)
    read_only = {"on": False}

    @event.listens_for(engine, "connect")
    def _query_only(conn: Any, _record: Any) -> None:  # SQLite itself refuses every write on the connection
        if read_only["on"]:
            conn.execute("PRAGMA query_only=ON")

    client = app.test_client()
    page = contact_page(client)
    read_only["on"] = True
    engine.dispose()
    again = refused_but_kept(client, page)
    still_answering(client)
    assert tickets(app) == 0

    read_only["on"] = False
    engine.dispose()
    done = client.post("/en/contact", data=again["fields"])
    assert done.status_code == 303 and tickets(app) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes a file whatever its mode")
def test_sqlite_file_made_read_only_with_chmod(indexed_root: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    app = make_app(indexed_root / "articles", indexed_root / "search_index", folder / "kb.sqlite3")
    client = app.test_client()
    page = contact_page(client)
    engine_of(app).dispose()
    for path in [folder, *folder.iterdir()]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        again = refused_but_kept(client, page)
        still_answering(client)
    finally:
        for path in [folder, *folder.iterdir()]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    engine_of(app).dispose()
    assert client.post("/en/contact", data=again["fields"]).status_code == 303


@contextmanager
def own_postgres() -> Iterator[tuple[str, Any, Any]]:
    """A PostgreSQL server of this test's own (so it can be stopped); yields its URL, stop() and start()."""
    pytest.importorskip("psycopg")
    initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("no PostgreSQL server binaries")
    owner: dict[str, Any] = {}
    root = Path(tempfile.mkdtemp(prefix="kb-pg-fault-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        owner = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        os.chown(root, user.pw_uid, user.pw_gid)
    data, sockets, port = root / "data", root / "sockets", free_port()

    def run(*args: str) -> None:
        done = subprocess.run(args, capture_output=True, text=True, cwd=root, **owner)
        assert done.returncode == 0, done.stdout + done.stderr

    def start() -> None:
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60", "start", "-o", options)

    def stop() -> None:
        run(pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop")

    run("mkdir", str(sockets))
    run(initdb, "-D", str(data), "-U", "kb", "--auth=trust", "-E", "UTF8", "--locale=C")
    start()
    try:
        admin = create_engine(f"postgresql+psycopg://kb@127.0.0.1:{port}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sql('CREATE DATABASE "kb"'))
        admin.dispose()
        yield f"postgresql+psycopg://kb@127.0.0.1:{port}/kb", stop, start
    finally:
        subprocess.run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, **owner)
        shutil.rmtree(root, ignore_errors=True)


def pg_site(indexed_root: Path, url: str) -> Any:
    """The indexed mini site on the PostgreSQL database at ``url``, with CSRF checked as served."""
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "ARTICLES_DIR": str(indexed_root / "articles"),
            "SEARCH_INDEX_DIR": str(indexed_root / "search_index"),
            "DATABASE_URL": url,
            "INDEX_RELOAD_SECONDS": 0.0,
            "WTF_CSRF_ENABLED": True,
            "RATELIMIT_ENABLED": False,
        }
    )


def test_postgresql_stopped_and_started_again_under_traffic(indexed_root: Path) -> None:
    with own_postgres() as (url, stop, start):
        db.upgrade(url)
        app = pg_site(indexed_root, url)
        client = app.test_client()
        page = contact_page(client)
        still_answering(client)  # connections in the pool, then the server goes away under them
        stop()
        try:
            again = refused_but_kept(client, page)
            still_answering(client)
            assert client.get("/healthz").status_code == 503
            refused = client.post("/admin/login", data={"email": "a@example.com", "password": "x" * 12})
            assert refused.status_code in (400, 503)  # never a 500: the CSRF check or the database's 503
        finally:
            start()
        done = client.post("/en/contact", data=again["fields"])  # back by itself: no restart of kb
        assert done.status_code == 303 and tickets(app) == 1
        assert client.get("/healthz").status_code in (200, 503)
        engine_of(app).dispose()


def put_read_only(url: str, read_only: bool) -> None:
    """Make the database read-only (or writable again) for new transactions, and drop its open connections,
    as a failover to a replica (or back) does: kb's pool must notice by itself."""
    name = url.rsplit("/", 1)[1]
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if read_only else "off"}'))
        conn.execute(
            sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
    admin.dispose()


def test_postgresql_turned_read_only_under_traffic(indexed_root: Path, database: str) -> None:
    db.upgrade(database)
    app = pg_site(indexed_root, database)
    client = app.test_client()
    page = contact_page(client)
    still_answering(client)  # connections in the pool, then the database turns read-only under them
    put_read_only(database, True)
    try:
        again = refused_but_kept(client, page)
        still_answering(client)
        assert tickets(app) == 0
    finally:
        put_read_only(database, False)
    done = client.post("/en/contact", data=again["fields"])  # writable again: no restart of kb
    assert done.status_code == 303 and tickets(app) == 1
    engine_of(app).dispose()
