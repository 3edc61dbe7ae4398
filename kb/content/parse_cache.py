"""Parsed articles kept between loads of the articles tree, by path and content.

Reading 10,000 articles' front matter and bodies took about 4 s of every load: a `kb index` after one
edit, and each worker when a build lands. A file whose bytes did not change parses the same, so its
article (before rendering) and its problems are kept; only its git revision is looked up again.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from pathlib import Path

from kb.content.article import Article, Problem
from kb.content.kept_file import read_kept, worth_writing, write_kept

FORMAT = 3  # bump when parsing changes: older files are then ignored

Parsed = tuple[Article | None, list[Problem]]


def parsed_in(index_dir: Path) -> Path:
    """The file of kept parses of the site whose search index lives in ``index_dir``."""
    return index_dir / "parsed-articles.pickle"


class ParseCache:
    """Parses read from ``path`` (none when None); ``save`` keeps this load's."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._old: dict[tuple[str, str], bytes] = read_kept(path, FORMAT) if path is not None else {}
        self._new: dict[tuple[str, str], bytes] = {}
        self.reused = 0

    def parse(self, rel: str, raw: bytes, parse: Callable[[], Parsed]) -> Parsed:
        """``parse()``'s result for file ``rel`` holding ``raw``, from an earlier load when its bytes are the same.

        Kept pickled, so the caller gets its own article to render and date.
        """
        key = (rel, hashlib.sha256(raw).hexdigest())
        kept = self._old.get(key)
        if kept is None:
            kept = pickle.dumps(parse(), protocol=pickle.HIGHEST_PROTOCOL)
        else:
            self.reused += 1
        self._new[key] = kept
        found: Parsed = pickle.loads(kept)
        return found

    def save(self) -> None:
        """Write this load's parses (files gone are dropped) once enough changed (``worth_writing``)."""
        if self.path is None:
            return
        made = len(self._new.keys() - self._old.keys())
        if worth_writing(len(self._old), made, len(self._old.keys() - self._new.keys())):
            write_kept(self.path, FORMAT, self._new)
