"""Charts as SVG markup made on the server: no script, no CDN, readable by screen readers.

Each chart is an ``<svg role="img">`` with a title and a description that says the figures in words;
every point and bar also carries its own ``<title>`` (a tooltip on hover). The words are in the
request's language (Flask-Babel); outside a request they read English.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from babel.dates import format_skeleton
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup, escape

if TYPE_CHECKING:
    from kb.analytics import Overview
    from kb.analytics.deflection import RatePoint

ACCENT = "#2f55d4"
GRID = "#d9dde6"
INK = "#1d2330"
MUTED = "#5a6275"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _id(name: str) -> str:
    return "chart-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x")


def _open(name: str, title: str, description: str, width: int, height: int) -> list[str]:
    cid = _id(name)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{cid}-title {cid}-desc" {FONT}>',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(description)}</desc>',
    ]


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def _day(value: date) -> str:
    """An axis date, short and in the request's language: "Mar 5", "5 mars", "3월 5일"."""
    return format_skeleton("MMMd", value, locale=get_locale() or "en")


def bar_chart(name: str, title: str, bars: Sequence[tuple[str, int]], width: int = 640) -> Markup:
    """Horizontal bars, each labelled with its count and its share of the first bar (a funnel)."""
    label_w, value_w, row, gap = 170, 110, 26, 10
    height = max(1, len(bars)) * (row + gap) + gap
    first = bars[0][1] if bars else 0
    top = max([value for _, value in bars] + [1])
    words = "; ".join(f"{label}: {value}" for label, value in bars)
    parts = _open(name, title, words or _("No data."), width, height)
    span = width - label_w - value_w
    for i, (label, value) in enumerate(bars):
        y = gap + i * (row + gap)
        w = max(2.0 if value else 0.0, span * value / top)
        share = f" ({_percent(value / first)})" if first and i else ""
        parts.append(
            f"<g><title>{escape(label)}: {value}{share}</title>"
            f'<text x="{label_w - 8}" y="{y + row * 0.68:.1f}" text-anchor="end" fill="{INK}">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row}" rx="3" fill="{ACCENT}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + row * 0.68:.1f}" fill="{INK}">{value}{share}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    name: str,
    title: str,
    points: Sequence[tuple[date, float | None, str]],
    width: int = 640,
    height: int = 220,
) -> Markup:
    """A share (0 to 1) over time: one point per (day, value, note); None leaves a gap in the line.

    ``note`` says what the value is made of ("8 of 12 votes"), for the tooltip and the description.
    """
    left, right, top, bottom = 44, 14, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(points)
    known = [(d, v, note) for d, v, note in points if v is not None]
    description = (
        _("No data in this period.")
        if not known
        else _(
            "%(known)d of %(total)d points have data, from %(low)s to %(high)s; latest %(day)s: %(value)s (%(note)s).",
            known=len(known),
            total=n,
            low=_percent(min(v for _, v, _ in known)),
            high=_percent(max(v for _, v, _ in known)),
            day=known[-1][0].isoformat(),
            value=_percent(known[-1][1]),
            note=known[-1][2],
        )
    )
    parts = _open(name, title, description, width, height)
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - tick)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{_percent(tick)}</text>'
        )

    def x_of(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    for i in sorted({0, n // 2, n - 1}) if n else []:
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        parts.append(
            f'<text x="{x_of(i):.1f}" y="{height - 8}" text-anchor="{anchor}" fill="{MUTED}">'
            f"{escape(_day(points[i][0]))}</text>"
        )
    runs: list[list[str]] = [[]]
    for i, (_when, value, _note) in enumerate(points):
        if value is None:
            runs.append([])
            continue
        runs[-1].append(f"{x_of(i):.1f},{top + plot_h * (1 - value):.1f}")
    for run in runs:
        if len(run) > 1:
            parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    for i, (day, value, note) in enumerate(points):
        if value is not None:
            parts.append(
                f'<circle cx="{x_of(i):.1f}" cy="{top + plot_h * (1 - value):.1f}" r="3.5" fill="{ACCENT}">'
                f"<title>{day.isoformat()}: {_percent(value)} ({escape(note)})</title></circle>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def overview_charts(view: Overview) -> dict[str, Markup]:
    """The overview page's three charts: the funnel, the deflection rate and the helpful votes over time."""
    weekly = view.bucket == "week"
    return {
        "funnel": bar_chart("funnel", _("Deflection funnel (visitor-days)"), view.funnel.steps()),
        "rate": line_chart(
            "deflection-rate",
            _("Deflection rate per week") if weekly else _("Deflection rate per day"),
            [(p.day, p.rate, _rate_note(p, weekly)) for p in view.rate],
        ),
        "helpful": line_chart(
            "helpfulness",
            _("Helpful votes per week") if weekly else _("Helpful votes per day"),
            [
                (p.day, p.share, _("%(helpful)d of %(votes)d votes", helpful=p.helpful, votes=p.votes))
                for p in view.helpfulness
            ],
        ),
    }


def _rate_note(point: RatePoint, weekly: bool) -> str:
    """What one point of the deflection rate is made of, for its tooltip."""
    figures = {"day": point.day, "resolved": point.resolved, "tickets": point.tickets}
    if weekly:
        return _("week of %(day)s: %(resolved)d resolved, %(tickets)d tickets", **figures)
    return _("%(day)s: %(resolved)d resolved, %(tickets)d tickets", **figures)
