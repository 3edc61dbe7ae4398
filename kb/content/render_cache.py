"""Rendered article bodies kept between loads of the articles tree.

Markdown is most of reading a large help center (155 s at 10,000 articles, in every worker each time a
build lands), and an edit changes a few bodies. A body renders the same whenever its text and the URLs
its links resolve to are the same, so each rendering is kept with the links it asked about and reused
only while every one of them still resolves as it did.

The file is kb's own (written in the search index folder, which only ``kb index`` and the site write);
one of another format, or unreadable, is ignored and written again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from kb.content.kept_file import read_kept, worth_writing, write_kept
from kb.content.render import LinkResolver, Rendered, render

FORMAT = 1  # bump when rendering changes: older files are then ignored


def kept_in(index_dir: Path) -> Path:
    """The file of kept renderings of the site whose search index lives in ``index_dir``."""
    return index_dir / "rendered-articles.pickle"


@dataclass(frozen=True)
class Kept:
    rendered: Rendered
    urls: tuple[tuple[str, str | None], ...]  # each link the body asked about, and what it resolved to


class RenderCache:
    """Renderings read from ``path`` (none when None), reused while they still hold; ``save`` keeps this load's.

    ``kept``: an earlier load's renderings in this process (``kept()``), read instead of the file: a worker
    opening a new build has the bodies it served in memory (reading the file was 0.15 s at 10,000 articles).
    """

    def __init__(self, path: Path | None, kept: dict[str, Kept] | None = None) -> None:
        self.path = path
        self._old: dict[str, Kept] = kept if kept is not None else read_kept(path, FORMAT) if path is not None else {}
        self._new: dict[str, Kept] = {}
        self.reused = 0
        self.made = 0  # bodies rendered this load: the file is out of date by that many

    def render(self, body: str, resolve: LinkResolver) -> Rendered:
        key = hashlib.sha256(body.encode("utf-8")).hexdigest()
        kept = self._new.get(key) or self._old.get(key)
        if kept is not None and all(resolve(href) == url for href, url in kept.urls):
            self._new[key] = kept
            self.reused += 1
            return kept.rendered
        asked: list[tuple[str, str | None]] = []

        def recording(href: str) -> str | None:
            url = resolve(href)
            asked.append((href, url))
            return url

        rendered = render(body, recording)
        self._new[key] = Kept(rendered, tuple(asked))
        self.made += 1
        return rendered

    def kept(self) -> dict[str, Kept]:
        """This load's renderings, for the next load in this process."""
        return self._new

    def save(self) -> None:
        """Write this load's renderings (only theirs: bodies gone are dropped) once enough changed
        (``worth_writing``); until then a load renders the bodies edited since again."""
        if self.path is None:
            return
        if worth_writing(len(self._old), self.made, len(self._old.keys() - self._new.keys())):
            write_kept(self.path, FORMAT, self._new)
