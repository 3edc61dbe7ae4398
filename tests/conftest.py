"""Fixtures and helpers every test module shares: a small real articles tree, a real index built with the real
model, a real SQLite file, a free port, the app served on it, one headless browser and one PostgreSQL server."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine
from sqlalchemy import text as sql
from werkzeug.serving import make_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Article views are written within each request here, so a test reads them at once; the batched writing a
# served site does (every KB_VIEW_FLUSH_SECONDS) is tested on its own in test_page_cache.py.
os.environ.setdefault("KB_VIEW_FLUSH_SECONDS", "0")

from kb import create_app, db  # noqa: E402
from kb.content import load_library  # noqa: E402
from kb.search.chunks import Chunk, chunk_article, read_passages, text_digests  # noqa: E402
from kb.search.semantic import Models  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent

MINI_ARTICLES = {
    "en/getting-started/_category.yml": "title: Getting started\ndescription: Install and launch.\norder: 1\n",
    "en/getting-started/install-on-shopify.md": """\
        ---
        title: Install Perkly on Shopify
        summary: Add the app from the Shopify App Store and connect your store.
        tags: [install, shopify]
        order: 1
        aliases: [shopify-install]
        related: [launch-your-program]
        ---

        Perkly installs from the Shopify App Store in a few minutes.

        ## Install the app

        1. Open the Shopify App Store and search for Perkly.
        2. Click **Add app** and approve the permissions.

        ## Troubleshooting

        If you see `PK-4011: Store connection expired`, reconnect the store from
        [the launch guide](launch-your-program.md#before-you-launch).
        """,
    "en/getting-started/launch-your-program.md": """\
        ---
        title: Launch your loyalty program
        summary: Check your settings and switch the program live for shoppers.
        tags: [launch]
        order: 2
        ---

        When everything is set up, launch the program so shoppers see the launcher.

        ## Before you launch

        Check your earning rules and rewards, and preview the launcher on your storefront.

        ## Go live

        Go to **Perkly admin > Program > Status** and click **Launch**.
        """,
    "en/points/set-up-points-expiry.md": """\
        ---
        title: Set up points expiry
        summary: Make unused points expire after a period of inactivity.
        tags: [points, expiry]
        ---

        Points can expire when a customer has not earned or spent any for a while.

        ## Turn on expiry

        Go to **Perkly admin > Program > Points expiry**, choose 6, 12 or 24 months of inactivity and save.

        ## Warn customers before points expire

        Perkly emails a reminder 30 days before the points expire.
        """,
    "en/billing/cancel-your-subscription.md": """\
        ---
        title: Cancel your subscription
        summary: Stop paying for Perkly and what happens to your program and your data.
        tags: [billing, cancel]
        ---

        You can cancel any time; you keep your paid plan until the end of the billing period.

        ## Cancel your plan

        Go to **Perkly admin > Settings > Billing** and click **Cancel subscription**.

        ## Refunds

        We do not refund partial months.
        """,
    "en/points/draft-tiktok-points.md": """\
        ---
        title: Points for TikTok follows
        draft: true
        ---

        Coming soon.
        """,
}


def build_passages(articles: Path, build: Path) -> list[Chunk]:
    """A build's passages with their texts (it keeps only their digests): the articles cut again, checked
    against the articles, anchors, headings and digests the build holds."""
    chunks = [c for article in load_library(articles) for c in chunk_article(article)]
    saved = read_passages(build / "chunks.json")
    assert [c.article_id for c in chunks] == saved.ids and [c.anchor for c in chunks] == saved.anchors
    assert [c.heading for c in chunks] == saved.headings
    assert text_digests(c.text for c in chunks).tolist() == saved.digests.tolist()
    return chunks


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text, dedented) under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


MODELS = Models()  # every test app shares the loaded models: each is loaded once per test run


def make_app(articles: Path, index: Path, database: Path, **extra: object):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{database}"
    db.upgrade(url)
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "ARTICLES_DIR": str(articles),
        "SEARCH_INDEX_DIR": str(index),
        "DATABASE_URL": url,
        "INDEX_RELOAD_SECONDS": 0.0,
    }
    config.update(extra)
    return create_app(config, models=MODELS)


def build(app: Flask) -> None:
    """Build the index for ``app``'s articles with the real model, as `kb index` does."""
    result = app.test_cli_runner().invoke(args=["index"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def articles_dir(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "articles", MINI_ARTICLES)


@pytest.fixture
def app(articles_dir: Path, tmp_path: Path) -> Flask:
    """An app over the mini tree with a migrated SQLite file and no index yet."""
    return make_app(articles_dir, tmp_path / "search_index", tmp_path / "kb.sqlite3")


@pytest.fixture(scope="session")
def indexed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini tree with its index, built once per test session (the model is slow to run)."""
    root = tmp_path_factory.mktemp("indexed")
    write_tree(root / "articles", MINI_ARTICLES)
    build(make_app(root / "articles", root / "search_index", root / "build.sqlite3"))
    return root


@pytest.fixture
def indexed_app(indexed_root: Path, tmp_path: Path) -> Flask:
    """An app over the indexed mini tree, with its own fresh database."""
    return make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3")


@pytest.fixture
def form_app(indexed_root: Path, tmp_path: Path) -> Flask:
    """The same, with CSRF tokens checked as in production and room for many contact posts."""
    return make_app(
        indexed_root / "articles",
        indexed_root / "search_index",
        tmp_path / "kb.sqlite3",
        WTF_CSRF_ENABLED=True,
        CONTACT_RATE_LIMIT="1000 per minute",
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    full = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Writer",
        "GIT_AUTHOR_EMAIL": "w@example.com",
        "GIT_COMMITTER_NAME": "Writer",
        "GIT_COMMITTER_EMAIL": "w@example.com",
        **(env or {}),
    }
    return subprocess.run(["git", *args], cwd=cwd, env=full, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def demo_app(tmp_path: Path) -> Iterator[Flask]:
    """The shipped demo help center and the index `make test` built for it."""
    app = make_app(PROJECT / "articles", PROJECT / "search_index", tmp_path / "kb.sqlite3")
    yield app


def free_port() -> int:
    """A loopback port nothing listens on right now (for a server to start on, or to find closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """Serve ``app`` with werkzeug on a free loopback port; yield its base URL."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


# -- the browser: Debian's headless Chromium, launched once per session --------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: apt-get install chromium (`make browser`)"
)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser); tests open their own pages."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# -- PostgreSQL: a throwaway server in a temporary folder, started once per session ---------------------


def pg_binary(name: str) -> str | None:
    """``name`` from PATH, else from the newest /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    return next((str(Path(d) / name) for d in versions if (Path(d) / name).exists()), None)


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1; yields a ``postgresql+psycopg://`` URL without database."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")
    initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin")
    owner: dict[str, Any] = {}
    root = Path(tempfile.mkdtemp(prefix="kb-postgres-"))
    if os.geteuid() == 0:  # initdb refuses to run as root: run the server as the postgres user
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        owner = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        os.chown(root, user.pw_uid, user.pw_gid)
    data, sockets, port = root / "data", root / "sockets", free_port()

    def run(*args: str) -> None:
        done = subprocess.run(args, capture_output=True, text=True, cwd=root, **owner)
        assert done.returncode == 0, done.stdout + done.stderr

    run("mkdir", str(sockets))
    run(initdb, "-D", str(data), "-U", "kb", "--auth=trust", "-E", "UTF8", "--locale=C")
    run(
        pg_ctl,
        "-D",
        str(data),
        "-l",
        str(root / "server.log"),
        "-w",
        "-t",
        "60",
        "start",
        "-o",
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off",
    )
    try:
        yield f"postgresql+psycopg://kb@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, cwd=root, **owner
        )
        shutil.rmtree(root, ignore_errors=True)


_databases = itertools.count(1)


@pytest.fixture
def database(postgres: str) -> Iterator[str]:
    """A fresh, empty database on the session's server; its URL."""
    name = f"kb_test_{next(_databases)}"
    admin = create_engine(f"{postgres}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sql(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
