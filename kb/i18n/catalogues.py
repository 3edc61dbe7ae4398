"""Translation catalogues: extracted from the code and templates, compiled at build time (never
committed as binaries), and checked complete so no visitor meets an untranslated string."""

from __future__ import annotations

import copy
import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from kb.config import PROJECT_ROOT
from kb.i18n.ui import TRANSLATIONS

LOCALES = ("en", "fr", "ko", "ar")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "lazy_ngettext": (1, 2)}
METHODS = [("kb/**.py", "python"), ("templates/**.html", "jinja2")]


def catalogues(root: Path = TRANSLATIONS) -> dict[str, Path]:
    """Map each locale to its messages.po."""
    return {p.parent.parent.name: p for p in sorted(root.glob("*/LC_MESSAGES/messages.po"))}


def load(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def extract(project: Path = PROJECT_ROOT) -> Catalog:
    """Every UI string of the code and the templates."""
    template = Catalog(project="kb", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(project),
        METHODS,
        keywords=KEYWORDS,
        options_map={"templates/**.html": {"extensions": "jinja2.ext.do"}},
    ):
        if filename.startswith(("kb/", "templates/")) or filename.startswith(("kb\\", "templates\\")):
            template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def update(root: Path = TRANSLATIONS, locales: tuple[str, ...] = LOCALES) -> dict[str, int]:
    """Merge new strings into each locale's catalogue; return how many are untranslated per locale."""
    template = extract()
    missing = {}
    for locale in locales:
        path = root / locale / "LC_MESSAGES" / "messages.po"
        catalog = load(path) if path.exists() else Catalog(locale=locale, project="kb", charset="utf-8")
        catalog.update(copy.deepcopy(template), no_fuzzy_matching=True)  # update() keeps the template's objects
        if locale == "en":  # the source language: every string is its own translation
            for message in catalog:
                if message.id and message.pluralizable:
                    message.string = tuple(message.id)
                elif message.id and not message.string:
                    message.string = message.id
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        write_po(buffer, catalog, width=100, omit_header=False, ignore_obsolete=True, sort_output=True)
        path.write_bytes(buffer.getvalue())
        missing[locale] = len(untranslated(catalog))
    return missing


def message_ids(catalog: Catalog) -> set[str]:
    """The msgid of every message (the singular form of plurals)."""
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def untranslated(catalog: Catalog) -> list[str]:
    """Message ids with no translation (or only a fuzzy one)."""
    found = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple | list) else [message.string]
        if message.fuzzy or not all(strings):
            found.append(message.id if isinstance(message.id, str) else message.id[0])
    return found


def compile_all(root: Path = TRANSLATIONS) -> list[Path]:
    """Write messages.mo beside each messages.po; return the files written."""
    written = []
    for po in catalogues(root).values():
        mo = po.with_suffix(".mo")
        with mo.open("wb") as handle:
            write_mo(handle, load(po))
        written.append(mo)
    return written
