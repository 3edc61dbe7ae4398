"""A table of figures for the admin: sortable by any column and exportable as CSV.

Labels and some cells are lazy UI strings (``lazy_gettext``): the admin page shows them in the request's
language, while the CSV export and the terminal (``kb report``) are data and always read English.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from flask_babel import force_locale
from flask_babel.speaklater import LazyString

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these: visitors wrote some cells


@contextmanager
def in_english() -> Iterator[None]:
    """Lazy UI strings read English in here, whatever the request's language: exports are data."""
    with force_locale("en"):
        yield


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # a lazy UI string: the column heading on the page, in English in the CSV
    kind: str = "text"  # text | int | share | float | datetime

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "share", "float")


@dataclass
class Table:
    name: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    sort: str = ""
    descending: bool = True

    def sorted_by(self, key: str | None, direction: str | None = None) -> Table:
        """The rows ordered by column ``key`` (unknown keys keep the order); empty values always last."""
        column = next((c for c in self.columns if c.key == key), None)
        if column is None:
            return self
        descending = direction != "asc" if direction else column.numeric

        def value(row: dict[str, Any]) -> Any:
            v = row.get(column.key)
            v = str(v) if isinstance(v, LazyString) else v  # sorted as the page reads it
            return v.lower() if isinstance(v, str) else v

        present = [r for r in self.rows if value(r) not in (None, "")]
        missing = [r for r in self.rows if value(r) in (None, "")]
        present.sort(key=value, reverse=descending)
        return replace(self, rows=present + missing, sort=column.key, descending=descending)

    def csv(self) -> str:
        """The table as CSV with a header row; cells a spreadsheet would run as formulas are quoted with '."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        with in_english():
            writer.writerow([str(c.label) for c in self.columns])
            for row in self.rows:
                writer.writerow([_cell(row.get(c.key)) for c in self.columns])
        return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, LazyString):
        value = str(value)
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ", timespec="minutes") if hasattr(value, "hour") else value.isoformat()
    return value
