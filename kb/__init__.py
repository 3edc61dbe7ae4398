"""kb: a self-hosted help center that answers questions before they become tickets."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Flask

from kb import request_ids
from kb.config import DEFAULTS, PROJECT_ROOT, secret_key, settings_of
from kb.config import init_app as init_settings

if TYPE_CHECKING:
    from kb.search.semantic import Models


def create_app(config: dict[str, Any] | None = None, models: Models | None = None, serving: bool = True) -> Flask:
    """Build the app: settings, extensions, blueprints and error pages, in that order.

    ``models`` shares already loaded embedding models between apps of one process (the tests do);
    without it the app loads its own, once, on first use. ``serving`` False: settings, models and logging
    only, for a command that builds the index and never serves a page or opens the database (the site's
    extensions and views were 0.35 s of every `kb index`, which a deploy waits for).
    """
    from kb.search.semantic import Models

    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.from_mapping(DEFAULTS)
    app.config["RATELIMIT_SWALLOW_ERRORS"] = True  # a database that refuses the counters must not take pages down
    app.config.from_prefixed_env("KB")
    if config:
        app.config.update(config)
    loaded = init_settings(app)
    if not app.config.get("SECRET_KEY"):  # a development key: `kb serve` refuses it unless KB_DEBUG
        app.config["SECRET_KEY"] = secret_key(app.instance_path)
        app.extensions["kb.dev_secret_key"] = True
    app.extensions["kb.models"] = models if models is not None else Models()
    request_ids.configure_logging(loaded.log_level, loaded.log_format)  # KB_LOG_FORMAT; a request id on each line
    if not serving:
        return app
    _quiet_query_strings()
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def _quiet_query_strings() -> None:
    """The development server logs each request line: without its query string (what visitors typed)."""
    from kb.tracking.redact import QueryStringFilter

    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, QueryStringFilter) for f in werkzeug.filters):
        werkzeug.addFilter(QueryStringFilter())


def register_extensions(app: Flask) -> None:
    from kb import db, site_state
    from kb.i18n import ui
    from kb.tracking import view_buffer, visitor
    from kb.views import page_cache

    request_ids.init_app(app)  # first: whatever runs later in a request logs under its id
    db.init_app(app)
    ui.init_app(app)
    site_state.init_app(app)
    visitor.init_app(app)
    settings = settings_of(app)
    view_buffer.init_app(app, settings.view_flush_seconds)
    page_cache.init_app(app, settings.page_cache_pages)
    from kb import security
    from kb.extensions import csrf, limiter, login_manager

    security.init_app(app)  # before the limiter: it registers the kbdb:// rate-limit storage
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app, add_context_processor=False)  # only /admin has users: it sets g.admin


def register_blueprints(app: Flask) -> None:
    from kb.views import api, search, site

    app.register_blueprint(site.bp)
    app.register_blueprint(search.bp)
    app.register_blueprint(api.bp)
    from kb.views import contact

    app.register_blueprint(contact.bp)
    from kb.views import admin, feedback

    app.register_blueprint(feedback.bp)
    app.register_blueprint(admin.bp)
    from kb.views import health

    app.register_blueprint(health.bp)
    from kb.views import widget

    app.register_blueprint(widget.bp)
    app.jinja_env.globals["url_endpoints"] = {rule.endpoint for rule in app.url_map.iter_rules()}


def register_errorhandlers(app: Flask) -> None:
    from kb.views import errors

    errors.register(app)


def register_commands(app: Flask) -> None:
    """Add kb's own commands to ``app.cli``, so ``app.test_cli_runner()`` and ``flask --app kb`` see them."""
    from kb.cli import cli

    for name, command in cli.commands.items():
        if command.callback is not None and command.callback.__module__ == "kb.cli":
            app.cli.add_command(command, name)
