"""The same code on PostgreSQL: a real server for the session, the migrations both ways, and a search, a
click and a suggestion recorded through the site. The server and the ``database`` fixture live in conftest.py."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select

from kb import create_app, db
from kb.models import ArticleView, Base, SearchClick, SearchEvent

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'psycopg[binary]'")


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def schema(url: str) -> set[str]:
    """Every table, ``table.column`` and ``table#index``: a migration that only adds columns changes this too."""
    engine = create_engine(url)
    try:
        found = inspect(engine)
        names = set(found.get_table_names()) - {"alembic_version"}
        columns = {f"{t}.{c['name']}" for t in names for c in found.get_columns(t)}
        return names | columns | {f"{t}#{i['name']}" for t in names for i in found.get_indexes(t)}
    finally:
        engine.dispose()


def revisions() -> list[str]:
    """Every migration, oldest first."""
    script = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_migrations_build_the_models_tables(database: str) -> None:
    db.upgrade(database)
    assert tables(database) == set(Base.metadata.tables)
    engine = create_engine(database)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert [describe(d) for d in diff] == [], "the migrations and kb/models.py disagree on PostgreSQL"


def describe(difference: Any) -> str:
    """One line of an autogenerate diff: the operation and what it is about."""
    if isinstance(difference, list):  # a column change comes as a list of modify operations
        return "; ".join(describe(d) for d in difference)
    op, *rest = difference
    names = [getattr(r, "name", None) or str(r) for r in rest if r is not None]
    return f"{op} {' '.join(str(n) for n in names)}"


def test_every_migration_goes_down_and_up_again(database: str) -> None:
    db.upgrade(database)
    full = schema(database)
    steps = revisions()
    for below in reversed([None, *steps[:-1]]):
        db.downgrade(database, below or "base")
        db.upgrade(database, "head")
        assert schema(database) == full, below
    for revision in reversed(steps):
        before = schema(database)
        db.downgrade(database, "-1")
        assert schema(database) < before, revision
    assert schema(database) == set()
    db.upgrade(database)
    assert schema(database) == full


@pytest.fixture
def pg_app(indexed_root: Path, database: str) -> Any:
    db.upgrade(database)
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "ARTICLES_DIR": str(indexed_root / "articles"),
            "SEARCH_INDEX_DIR": str(indexed_root / "search_index"),
            "DATABASE_URL": database,
            "INDEX_RELOAD_SECONDS": 0.0,
        }
    )


def rows(app: Any, model: type) -> list[Any]:
    with app.extensions["kb.db"]() as session:
        return list(session.scalars(select(model).order_by(model.id)))


def result_links(page: str) -> list[dict[str, str]]:
    hrefs = re.findall(r'<h2[^>]*><a href="(/go\?[^"]+)">', page)
    return [
        {k: v[0] for k, v in parse_qs(urlsplit(html.unescape(h)).query, keep_blank_values=True).items()} for h in hrefs
    ]


def test_search_click_and_suggest_are_recorded_in_postgres(pg_app: Any) -> None:
    client = pg_app.test_client()
    page = client.get("/en/search?q=points+expiry").get_data(as_text=True)
    shown = result_links(page)
    assert shown[0]["a"] == "en/set-up-points-expiry"
    [event] = rows(pg_app, SearchEvent)
    assert (event.query, event.locale, event.source) == ("points expiry", "en", "search")
    assert event.shown == [s["a"] for s in shown]
    assert event.result_count == len(shown) and event.latency_ms > 0

    second = shown[1]
    response = client.get(f"/go?s={event.id}&p=2&a={second['a']}&h={second['h']}")
    assert response.status_code == 302
    [click] = rows(pg_app, SearchClick)
    assert (click.search_id, click.article_id, click.position) == (event.id, second["a"], 2)

    data = client.get("/api/suggest?q=how+do+I+cancel+my+subscription&locale=en").get_json()
    assert data["suggestions"][0]["id"] == "en/cancel-your-subscription"
    suggest = rows(pg_app, SearchEvent)[-1]
    assert (suggest.id, suggest.source) == (data["search_id"], "suggest")
    assert suggest.shown == [s["id"] for s in data["suggestions"]]


def test_a_click_on_a_forgotten_search_is_kept_without_it(pg_app: Any) -> None:
    response = pg_app.test_client().get("/go?s=999999&p=4&a=en/install-on-shopify")
    assert response.status_code == 302
    [click] = rows(pg_app, SearchClick)
    assert (click.search_id, click.position) == (None, 4)


def test_a_view_is_counted_once_per_day(pg_app: Any) -> None:
    client = pg_app.test_client()
    for _ in range(3):
        assert client.get("/en/articles/launch-your-program?from=search&q=launch").status_code == 200
    [view] = rows(pg_app, ArticleView)
    assert (view.article_id, view.source, view.query) == ("en/launch-your-program", "search", "launch")


def test_a_query_with_nul_bytes_is_served_and_recorded(pg_app: Any) -> None:
    client = pg_app.test_client()
    response = client.get("/en/search", query_string={"q": "points\x00expiry\x00"})
    assert response.status_code == 200
    assert result_links(response.get_data(as_text=True))[0]["a"] == "en/set-up-points-expiry"
    assert client.get("/api/suggest", query_string={"q": "cancel\x00subscription", "locale": "en"}).status_code == 200
    assert client.get("/api/search", query_string={"q": "\x00", "locale": "en"}).status_code == 200
    events = rows(pg_app, SearchEvent)
    assert [(e.source, e.query) for e in events] == [
        ("search", "points expiry"),
        ("suggest", "cancel subscription"),
    ]


# Found by these tests: PostgreSQL refuses what SQLite stores silently (NUL characters, text longer than
# the column), so the record was lost while the page still answered 200.


def test_a_view_from_a_query_with_nul_bytes_is_counted(pg_app: Any) -> None:
    response = pg_app.test_client().get("/en/articles/launch-your-program?from=search&q=launch%00program")
    assert response.status_code == 200
    assert len(rows(pg_app, ArticleView)) == 1


@pytest.mark.parametrize("endpoint", ["/api/search", "/api/suggest"])
def test_an_api_search_with_a_strange_locale_is_still_recorded(pg_app: Any, endpoint: str) -> None:
    response = pg_app.test_client().get(endpoint, query_string={"q": "points expiry", "locale": "x" * 40})
    assert response.status_code == 200
    assert len(rows(pg_app, SearchEvent)) == 1
