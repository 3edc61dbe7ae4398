"""Fixtures: a small real articles tree, a real index built with the real model, a real SQLite file."""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from kb import create_app, db  # noqa: E402

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


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> text, dedented) under ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


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
    return create_app(config)


def build(app) -> None:  # type: ignore[no-untyped-def]
    """Build the index for ``app``'s articles with the real model, as `kb index` does."""
    result = app.test_cli_runner().invoke(args=["index"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def articles_dir(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "articles", MINI_ARTICLES)


@pytest.fixture
def app(articles_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
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
def indexed_app(indexed_root: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An app over the indexed mini tree, with its own fresh database."""
    return make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3")


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
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
def demo_app(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """The shipped demo help center and the index `make test` built for it."""
    app = make_app(PROJECT / "articles", PROJECT / "search_index", tmp_path / "kb.sqlite3")
    yield app


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


@contextmanager
def served(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Serve ``app`` with werkzeug on a free loopback port; yield its base URL."""
    import socket
    import threading

    from werkzeug.serving import make_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium():  # type: ignore[no-untyped-def]
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
