"""A dictionary kept between loads of the articles tree in one pickle file of kb's own.

The file lives in the search index folder, which only ``kb index`` and the site write. One of another
format, truncated or unreadable is ignored (the work is done again); one that cannot be written is
reported and skipped: nothing is lost but time.
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from pathlib import Path
from typing import Any

from kb import collector

log = logging.getLogger(__name__)


# Entries made or dropped since the file was written, below which it is left as it is: rewriting 10,000
# articles' renderings took 0.25 s of every `kb index`, to save the next load a few milliseconds per entry.
REWRITE_AFTER = 64


def worth_writing(read: int, made: int, dropped: int) -> bool:
    """Whether a load that read ``read`` entries, made ``made`` and left ``dropped`` unused should rewrite the
    file: always when there was none; else once the work it would save (or the space) adds up (an edited
    article makes one entry and leaves one)."""
    return made > 0 if read == 0 else max(made, dropped) >= REWRITE_AFTER


def read_kept(path: Path, fmt: int) -> dict[Any, Any]:
    """The dictionary saved in ``path`` with format ``fmt``; empty when there is none or it cannot be used."""
    try:
        with path.open("rb") as found, collector.paused():
            saved_fmt, kept = pickle.load(found)
    except FileNotFoundError:
        return {}
    except Exception as exc:  # truncated, another format, another kb: do the work again
        log.warning("ignoring %s: %s", path, exc)
        return {}
    return kept if saved_fmt == fmt and isinstance(kept, dict) else {}


def write_kept(path: Path, fmt: int, kept: dict[Any, Any]) -> None:
    """Replace ``path`` atomically (a process reading it meanwhile reads the old one whole)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as out:
            pickle.dump((fmt, kept), out, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    except OSError as exc:  # a read-only folder: the next load does the work again
        log.warning("could not keep %s: %s", path, exc)
        tmp.unlink(missing_ok=True)
