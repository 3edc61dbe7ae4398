"""Translation catalogues: compiled from the committed .po files at build time, and checked complete."""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from kb.i18n import TRANSLATIONS


def catalogues(root: Path = TRANSLATIONS) -> dict[str, Path]:
    """Map each locale to its messages.po."""
    return {p.parent.parent.name: p for p in sorted(root.glob("*/LC_MESSAGES/messages.po"))}


def load(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def compile_all(root: Path = TRANSLATIONS) -> list[Path]:
    """Write messages.mo beside each messages.po; return the files written."""
    written = []
    for po in catalogues(root).values():
        mo = po.with_suffix(".mo")
        with mo.open("wb") as handle:
            write_mo(handle, load(po))
        written.append(mo)
    return written
