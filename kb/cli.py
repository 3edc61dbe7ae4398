"""The ``kb`` command: thin wrappers over plain functions, each command's docstring is its help."""

from __future__ import annotations

import atexit
import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from kb import create_app
from kb.config import current_settings

if TYPE_CHECKING:
    from kb.analytics.gaps import Encode
    from kb.config import Settings
    from kb.content import Library
    from kb.search import Searcher
    from kb.search.indexer import BuildReport
    from kb.search.semantic import Embedder, Models


BUILD_ONLY = {"index"}  # commands that need the settings and the models, never the database or the views


def _create_app() -> Flask:
    command = click.get_current_context(silent=True)
    return create_app(serving=command is None or command.info_name not in BUILD_ONLY)


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True, add_version_option=False)
def cli() -> None:
    """kb: a help center that answers questions before they become tickets."""


_QUICK_EXIT: list[bool] = []  # set by a command whose process may end without tearing the interpreter down


def main() -> None:
    """The `kb` command. After `kb index` the process ends as soon as the build is written and the exit
    handlers have run (logs flushed): tearing down the interpreter's objects (10,000 articles, two models)
    took ~0.9 s more, which every deploy waits for before the site serves its edit."""
    try:
        cli.main()
    except SystemExit as done:
        if _QUICK_EXIT and done.code in (0, None):
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        raise


def _settings() -> dict:
    return dict(current_app.config)


def _build(quiet: bool = False, build_id: str | None = None) -> tuple[BuildReport, Library]:
    """Build or update the search index from the articles; return the report and the library."""
    from kb.content import load_library
    from kb.content.render_cache import kept_in
    from kb.search.indexer import build_index
    from kb.site_state import models_of

    settings = current_settings()
    # The models load (mostly outside the interpreter's lock) while the articles are read: an edit's
    # `kb index` is waited for by every writer, and the running site serves the edit only after it.
    with ThreadPoolExecutor(1, thread_name_prefix="kb-models") as loading:
        models = loading.submit(_warm_models, models_of(current_app), settings)
        library = load_library(settings.articles_dir, rendered=kept_in(settings.search_index_dir))
        embedders = models.result()
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

    if build_id is not None and (settings.search_index_dir / "builds" / build_id).exists():
        raise click.UsageError(f"a build named {build_id} exists already in {settings.search_index_dir}")
    report = build_index(library, settings.search_index_dir, embedders, progress, build_id=build_id)
    return report, library


def _warm_models(models: Models, settings: Settings) -> dict[str, Embedder]:
    embedders = models.embedders(settings)
    for embedder in embedders.values():
        embedder.warm()
    return embedders


BUILD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a folder name under search_index/builds/


def _build_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Accept only a build id that is a plain folder name."""
    if value is not None and not BUILD_ID.fullmatch(value):
        raise click.BadParameter("1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return value


@cli.command("index")
@click.option(
    "--build-id",
    default=None,
    callback=_build_id,
    help="Name the build (e.g. the release's git commit): every host that builds the same release serves the "
    "same id. Default: a new time-based id.",
)
@with_appcontext
def index_command(build_id: str | None) -> None:
    """Build search_index/ from the articles, re-embedding only articles that changed."""
    report, library = _build(build_id=build_id)
    for problem in library.errors:
        click.echo(f"skipped: {problem}", err=True)
    for label, ids in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        for article_id in ids:
            click.echo(f"  {label}: {article_id}")
    click.echo(f"Index {report.build_id}: {report.summary()}")
    _QUICK_EXIT.append(True)


@cli.command("check")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--no-search", is_flag=True, help="Skip the writers' search tests (faster: no model, no index).")
@with_appcontext
def check_command(strict: bool, no_search: bool) -> None:
    """Check every article, the synonyms and the search tests; print path:line for each problem."""
    from kb.checks import check

    config = _settings()
    result = check(Path(config["ARTICLES_DIR"]), config["DEFAULT_LOCALE"], None if no_search else _fresh_searcher)
    for line in result.lines():
        click.echo(line)
    if result.failed(strict):
        raise SystemExit(1)


def _fresh_searcher(library: Library) -> Searcher:
    """A searcher over an index that matches the articles, updating the index first if needed."""
    from kb.search import open_searcher
    from kb.search.indexer import current_build, read_manifest
    from kb.site_state import models_of

    settings = current_settings()
    manifest = read_manifest(current_build(settings.search_index_dir))
    if manifest.get("articles") != {a.id: a.content_hash for a in library}:
        click.echo("The search index is out of date: updating it first.", err=True)
        _build(quiet=True)
    searcher: Searcher = open_searcher(settings.search_index_dir, library, settings, models_of(current_app))
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

    library = load_library(current_settings().articles_dir)
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

    db.upgrade(current_settings().database_url, revision)
    click.echo(f"Database at {revision}.")


@cli.command("deliver")
@click.option("--limit", default=100, type=int, help="Send at most this many messages in one run.")
@with_appcontext
def deliver_command(limit: int) -> None:
    """Send the tickets and acknowledgements waiting in the outbox; safe from cron, even two at once."""
    from kb.tickets import outbox

    sessions = current_app.extensions["kb.db"]
    outcomes = outbox.deliver_due(sessions, current_settings(), limit=limit)
    with sessions() as session:
        waiting = outbox.counts(session)
    click.echo(
        f"{outcomes['sent']} sent, {outcomes['retry']} to retry later, {outcomes['failed']} failed now; "
        f"outbox: {waiting.get('pending', 0)} pending, {waiting.get('failed', 0)} failed"
    )


@cli.command("purge")
@click.option("--older-than", "older_than", default=None, help="How old: 180d, 26w, 6m (default: KB_RETENTION_DAYS).")
@with_appcontext
def purge_command(older_than: str | None) -> None:
    """Anonymise what visitors typed and who they were in records older than the retention; run it daily."""
    from datetime import timedelta

    from kb.analytics.period import parse_span
    from kb.db import session_scope
    from kb.models import utcnow
    from kb.tracking.purge import purge

    try:
        span = parse_span(older_than) if older_than else timedelta(days=current_settings().retention_days)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from exc
    cutoff = utcnow() - span
    with session_scope(current_app) as session:
        purged = purge(session, cutoff)
    click.echo(f"Purged records older than {cutoff:%Y-%m-%d %H:%M} UTC ({span.days} days):")
    for line in purged.lines():
        click.echo(f"  {line}")


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


@cli.group("models")
def models_group() -> None:
    """Embedding model commands."""


@models_group.command("export")
@with_appcontext
def models_export() -> None:
    """Export the sentence model to ONNX in instance/models, so search embeds queries without torch."""
    from kb.search.onnx_embedder import ModelNotExportable, export_model, onnx_path, quantize_for_queries, queries_path
    from kb.search.semantic import model_source
    from kb.site_state import models_of

    source, label = model_source(current_settings().embedding_model)
    target = onnx_path(models_of(current_app).models_dir, label)
    try:
        wrote = export_model(Path(source), target)
    except ModelNotExportable as exc:  # not an error: PyTorch serves such a model
        click.echo(f"not exported, PyTorch will serve it: {exc}", err=True)
        return
    click.echo(f"{'Exported' if wrote else 'Up to date'}: {target}")
    if not current_settings().quantized_queries:
        return
    try:
        wrote = quantize_for_queries(target, Path(source))
    except ModelNotExportable as exc:
        click.echo(f"no int8 copy: {exc}", err=True)
        return
    click.echo(f"{'Quantized' if wrote else 'Up to date'}: {queries_path(target)}")


@cli.command("serve")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--workers", default=2, type=int)
@click.option("--threads", default=4, type=int)
@click.option("--dev", is_flag=True, help="Allow the development secret key (no KB_SECRET_KEY): local use only.")
def serve_command(host: str, port: int, workers: int, threads: int, dev: bool) -> None:
    """Serve the site with gunicorn (the production server), set up by gunicorn.conf.py: the articles,
    index and models are loaded once in the master and shared by the workers. Refuses to start without
    KB_SECRET_KEY unless KB_DEBUG=1 or --dev."""
    import os
    import tempfile

    from kb.config import PROJECT_ROOT

    control = PROJECT_ROOT / "instance" / f"gunicorn-{port}.ctl"  # one per instance, not gunicorn's per user
    if len(str(control)) > 100:  # a Unix socket path holds 107 bytes at most
        control = Path(tempfile.gettempdir()) / f"kb-gunicorn-{port}.ctl"
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(PROJECT_ROOT / "gunicorn.conf.py"),
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--control-socket",
            str(control),
            *(["--env", "KB_SERVE_DEV=1"] if dev else []),  # read by gunicorn.conf.py: the development key is allowed
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


@users_group.command("remove")
@click.argument("email")
@with_appcontext
def users_remove(email: str) -> None:
    """Remove the admin user EMAIL and end their sessions everywhere at once."""
    from kb.db import session_scope
    from kb.security.admin_sessions import remove_admin

    with session_scope(current_app) as session:
        if not remove_admin(session, email):
            raise click.ClickException(f"no admin user {email!r}")
    click.echo(f"Removed {email}: their sessions have ended")


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
    encode = _report_encoder() if gaps else None
    with session_scope(current_app) as session:
        if fmt == "json":
            data = analytics.report(session, period, settings, encode, now, limit)
            click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
            return
        library = load_library(_settings()["ARTICLES_DIR"])
        # a terminal reads weeks better than 30 rows of days
        printed = analytics.report_tables(session, period, library, settings, encode, now, limit, fmt == "table")
    if fmt == "csv":
        for _title, table in printed.tables:
            click.echo(table.name)
            click.echo(table.csv(), nl=False)
            click.echo("")
        return
    for block in printed.text_blocks(limit):
        click.echo(block)


def _report_encoder() -> Encode | None:
    """The sentence model alone, to group questions by meaning (no search index, no multilingual model)."""
    from kb.site_state import models_of

    embedder = models_of(current_app).embedder(current_settings().embedding_model)
    return embedder.encode if embedder is not None else None
