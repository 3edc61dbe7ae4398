"""The ``kb`` command: thin wrappers over plain functions, each command's docstring is its help."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from kb import create_app


def _create_app() -> Flask:
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True, add_version_option=False)
def cli() -> None:
    """kb: a help center that answers questions before they become tickets."""


def _settings() -> dict:
    return dict(current_app.config)


def _build(quiet: bool = False):  # type: ignore[no-untyped-def]
    """Build or update the search index from the articles; return the report and the library."""
    from kb.content import load_library
    from kb.search.indexer import build_index
    from kb.search.semantic import load_embedders

    config = _settings()
    library = load_library(config["ARTICLES_DIR"])
    embedders = load_embedders(config)
    bar: dict[str, object] = {}

    def progress(done: int, total: int) -> None:
        if quiet:
            return
        if "bar" not in bar:
            bar["bar"] = click.progressbar(length=total, label="Embedding passages", file=sys.stderr)
            bar["bar"].__enter__()  # type: ignore[attr-defined]
            bar["done"] = 0
        bar["bar"].update(done - bar["done"])  # type: ignore[attr-defined,operator]
        bar["done"] = done
        if done >= total:
            bar.pop("bar").__exit__(None, None, None)  # type: ignore[attr-defined]

    report = build_index(library, Path(config["SEARCH_INDEX_DIR"]), embedders, progress)
    return report, library


@cli.command("index")
@with_appcontext
def index_command() -> None:
    """Build search_index/ from the articles, re-embedding only articles that changed."""
    report, library = _build()
    for problem in library.errors:
        click.echo(f"skipped: {problem}", err=True)
    for label, ids in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        for article_id in ids:
            click.echo(f"  {label}: {article_id}")
    click.echo(f"Index {report.build_id}: {report.summary()}")


@cli.command("check")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--no-search", is_flag=True, help="Skip the writers' search tests (faster: no model, no index).")
@with_appcontext
def check_command(strict: bool, no_search: bool) -> None:
    """Check every article, the synonyms and the search tests; print path:line for each problem."""
    from kb.content import load_library
    from kb.content.translation_status import stale_problems, summary_lines, translation_status
    from kb.search.synonyms import load_synonyms

    started = time.perf_counter()
    config = _settings()
    articles_dir = Path(config["ARTICLES_DIR"])
    library = load_library(articles_dir)
    problems = list(library.problems)
    problems += load_synonyms(articles_dir)[1]
    statuses = translation_status(library, config["DEFAULT_LOCALE"])
    problems += stale_problems(statuses)
    tested = 0
    if not no_search and not library.errors:
        from kb.search import evaluate

        queries, test_problems = evaluate.read_search_tests(articles_dir)
        problems += test_problems
        if queries:
            searcher = _fresh_searcher(library)
            outcomes = evaluate.run(searcher, queries)
            problems += evaluate.failures(outcomes)
            tested = len(queries)
    for problem in sorted(problems, key=lambda p: (p.path, p.line)):
        click.echo(str(problem))
    for line in summary_lines(statuses, len(library.in_locale(config["DEFAULT_LOCALE"]))):
        click.echo(line)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    took = time.perf_counter() - started
    click.echo(
        f"{len(library)} articles, {tested} search tests: {errors} error(s), {warnings} warning(s) in {took:.2f} s"
    )
    if errors or (strict and warnings):
        raise SystemExit(1)


def _fresh_searcher(library):  # type: ignore[no-untyped-def]
    """A searcher over an index that matches the articles, updating the index first if needed."""
    from kb.search import Searcher, open_searcher
    from kb.search.indexer import current_build, read_manifest

    config = _settings()
    manifest = read_manifest(current_build(Path(config["SEARCH_INDEX_DIR"])))
    if manifest.get("articles") != {a.id: a.content_hash for a in library}:
        click.echo("The search index is out of date: updating it first.", err=True)
        _build(quiet=True)
    searcher: Searcher = open_searcher(Path(config["SEARCH_INDEX_DIR"]), library, config)
    return searcher


@cli.command("eval")
@click.argument("queries", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mode", type=click.Choice(["hybrid", "keyword", "semantic"]), default="hybrid")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--dump", type=click.Path(dir_okay=False, path_type=Path), help="Write one JSON line per query.")
@with_appcontext
def eval_command(queries: Path, mode: str, as_json: bool, dump: Path | None) -> None:
    """Measure search quality on QUERIES.jsonl ({"query", "relevant": [slugs], "locale"} per line)."""
    from kb.content import load_library
    from kb.search import evaluate

    library = load_library(_settings()["ARTICLES_DIR"])
    searcher = _fresh_searcher(library)
    labelled = evaluate.read_jsonl(queries)
    outcomes = evaluate.run(searcher, labelled, mode)
    figures = evaluate.metrics(outcomes)
    figures["mode"] = mode
    figures["semantic"] = searcher.semantic_available
    if dump is not None:
        with dump.open("w", encoding="utf-8") as out:
            for o in outcomes:
                out.write(
                    json.dumps(
                        {"query": o.query.query, "ranked": o.ranked, "suggested": o.suggested, "ms": round(o.ms, 3)},
                        ensure_ascii=False,
                    )
                    + "\n"
                )
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    for key, value in figures.items():
        click.echo(f"{key:<22}{value:.3f}" if isinstance(value, float) else f"{key:<22}{value}")


@cli.group("db")
def db_group() -> None:
    """Database schema commands."""


@db_group.command("upgrade")
@click.option("--revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply the migrations to the database (KB_DATABASE_URL, or the SQLite file in instance/)."""
    from kb import db

    db.upgrade(_settings()["DATABASE_URL"], revision)
    click.echo(f"Database at {revision}.")


@cli.command("deliver")
@click.option("--limit", default=100, type=int, help="Send at most this many messages in one run.")
@with_appcontext
def deliver_command(limit: int) -> None:
    """Send the tickets and acknowledgements waiting in the outbox; safe from cron, even two at once."""
    from kb.tickets import outbox

    sessions = current_app.extensions["kb.db"]
    outcomes = outbox.deliver_due(sessions, current_app.config, limit=limit)
    with sessions() as session:
        waiting = outbox.counts(session)
    click.echo(
        f"{outcomes['sent']} sent, {outcomes['retry']} to retry later, {outcomes['failed']} failed now; "
        f"outbox: {waiting.get('pending', 0)} pending, {waiting.get('failed', 0)} failed"
    )


@cli.group("translations")
def translations_group() -> None:
    """UI translation catalogues (Flask-Babel)."""


@translations_group.command("compile")
def translations_compile() -> None:
    """Compile every kb/i18n/translations/*/LC_MESSAGES/messages.po to .mo (built, never committed)."""
    from kb.i18n.catalogues import compile_all

    for path in compile_all():
        click.echo(f"compiled {path}")


@translations_group.command("update")
def translations_update() -> None:
    """Extract the UI strings and merge them into every catalogue; print what is left to translate."""
    from kb.i18n.catalogues import update

    for locale, missing in update().items():
        click.echo(f"{locale}: {missing} untranslated")


@translations_group.command("check")
def translations_check() -> None:
    """Fail when a UI string has no translation in some catalogue."""
    from kb.i18n.catalogues import catalogues, extract, load, message_ids, untranslated

    ids = message_ids(extract())
    failed = False
    for path in catalogues().values():
        catalog = load(path)
        gaps = sorted((ids - message_ids(catalog)) | set(untranslated(catalog)))
        for message in gaps:
            click.echo(f"{path}: untranslated: {message!r}")
        failed |= bool(gaps)
    if failed:
        raise SystemExit(1)
    click.echo("every catalogue is complete")


@cli.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--workers", default=2, type=int)
@click.option("--threads", default=4, type=int)
def serve_command(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the site with gunicorn (the production server): each worker loads the model once."""
    import os

    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--access-logfile",
            "-",
            "kb.wsgi:app",
        ],
    )


@cli.group("users")
def users_group() -> None:
    """People who may sign in to /admin."""


@users_group.command("add")
@click.argument("email")
@click.password_option(
    prompt="Password",
    confirmation_prompt="Repeat the password",
    help="Asked for twice when not given (never pass it on a shared machine).",
)
@with_appcontext
def users_add(email: str, password: str) -> None:
    """Create an admin user EMAIL, or give an existing one a new password (stored hashed)."""
    from kb import users
    from kb.db import session_scope
    from kb.errors import KbError

    try:
        with session_scope(current_app) as session:
            user, created = users.set_user(session, email, password)
            address = user.email
    except KbError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{'Created' if created else 'Changed the password of'} {address}: sign in at /admin/login")


def _report_tables(figures: dict[str, Any]) -> list[tuple[str, Any]]:
    """The report as (title, table) pairs, the needs-attention list first."""
    from kb.analytics import reports

    lib = figures["library"]
    return [
        ("Needs attention (visitors likely failed)", reports.attention_table(figures["attention"], lib)),
        ("Deflection funnel", reports.funnel_table(figures["funnel"])),
        (f"Deflection rate per {figures['bucket']}", reports.rate_table(figures["rate"])),
        ("Articles", reports.articles_table(figures["articles"], lib)),
        ("Top queries", reports.queries_table("top-queries", figures["top"])),
        ("Queries with no confident result", reports.queries_table("no-result-queries", figures["no_results"])),
        (
            "Bounced queries (results shown, nothing opened)",
            reports.queries_table("bounced-queries", figures["bounced"]),
        ),
        ("Click-through by position", reports.positions_table(figures["positions"])),
        ("Content gaps (what to write next)", reports.gaps_table(figures["gaps"], 3)),
    ]


@cli.command("report")
@click.option("--since", default="30d", show_default=True, help="How far back: 12h, 30d, 2w, 3m.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--locale", default=None, help="Only this locale (default: all).")
@click.option("--limit", default=20, show_default=True, help="Rows per table.")
@click.option(
    "--gaps/--no-gaps",
    default=True,
    show_default=True,
    help="Group unanswered questions by meaning (loads the embedding model); without, by identical wording only.",
)
@with_appcontext
def report_command(since: str, fmt: str, locale: str | None, limit: int, gaps: bool) -> None:
    """Print the feedback and deflection figures, the articles that need attention first."""
    from kb import analytics
    from kb.analytics import gaps as gap_report
    from kb.analytics import searches
    from kb.analytics.deflection import rate_over_time
    from kb.content import load_library
    from kb.db import session_scope
    from kb.models import utcnow

    try:
        span = analytics.parse_span(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    settings = analytics.Settings.from_config(_settings())
    now = utcnow()
    period = analytics.Period(now - span, now, locale or None)
    library = load_library(_settings()["ARTICLES_DIR"])
    encode = None
    if gaps:  # only the sentence model: the search index and the multilingual model are not needed
        from kb.search.semantic import load_embedder

        embedder = load_embedder(str(_settings()["EMBEDDING_MODEL"] or ""))
        encode = embedder.encode if embedder is not None else None
    with session_scope(current_app) as session:
        if fmt == "json":
            data = analytics.report(session, period, settings, encode, now, limit)
            click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
            return
        view = analytics.overview(session, period, settings, now, limit)
        weekly = view.bucket == "week" or fmt == "table"  # a terminal reads weeks better than 30 rows of days
        figures = {
            "library": library,
            "attention": view.attention,
            "funnel": view.funnel,
            "rate": rate_over_time(session, period, now, "week") if weekly else view.rate,
            "bucket": "week" if weekly else view.bucket,
            "articles": view.articles.values(),
            "top": searches.top_queries(session, period, limit),
            "no_results": searches.no_result_queries(session, period, limit, settings.confident),
            "bounced": searches.bounced_queries(session, period, limit),
            "positions": searches.click_through_by_position(session, period),
            "gaps": gap_report.content_gaps(
                session, period, encode, settings.gap_similarity, settings.gap_limit, settings.confident
            ),
        }
    tables = _report_tables(figures)
    if fmt == "csv":
        for _title, table in tables:
            click.echo(table.name)
            click.echo(table.csv(), nl=False)
            click.echo("")
        return
    from kb.analytics import reports

    where = f" in {locale}" if locale else ""
    click.echo(f"kb report{where}: {period.start:%Y-%m-%d %H:%M} to {period.end:%Y-%m-%d %H:%M} UTC\n")
    funnel = view.funnel
    helpful = reports.share(view.helpful_share)
    click.echo(
        f"{view.views:,} article views, {view.votes:,} votes ({helpful} helpful), "
        f"{view.searches.searches:,} searches, {funnel.tickets:,} tickets; deflection rate "
        f"{reports.share(funnel.rate)}\n"
    )
    if view.held_back:
        held = f"({view.held_back} article(s) with a No held back: fewer than {settings.min_votes} votes)"
        click.echo(held + "\n")
    for title, table in tables:
        whole = table.name in ("deflection-funnel", "deflection-rate")  # never cut short
        click.echo(reports.as_text(table, title, len(table.rows) if whole else limit))
