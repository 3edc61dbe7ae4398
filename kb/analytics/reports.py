"""The analytics as tables, the same for the admin pages, their CSV exports and `kb report`.

Headings and worded cells are lazy UI strings: translated on the admin pages, English in the CSV exports
and the terminal (see ``kb.tables``). Tables that are only exported keep plain English headings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from kb.analytics.deflection import Funnel, RatePoint
from kb.analytics.gaps import KINDS, GapReport
from kb.analytics.helpfulness import ArticleFigures, Attention, reason_label
from kb.analytics.searches import PositionFigures, QueryFigures
from kb.analytics.tables import Column, Table, in_english
from kb.analytics.ticket_list import TicketRow
from kb.content import Library

C = Column
FIGURES = [
    C("views", _l("Views"), "int"),
    C("opened", _l("Opened in contact form"), "int"),
    C("votes", _l("Votes"), "int"),
    C("helpful_share", _l("Helpful"), "share"),
    C("wilson", _l("Helpful (%(level)s lower bound)", level="95%"), "share"),
    C("explicit", _l("Explicit deflections"), "int"),
    C("implicit", _l("Implicit deflections"), "int"),
    C("failed", _l("Failed deflections"), "int"),
    C("tickets_after_reading", _l("Tickets after reading"), "int"),
]


def _counted(pairs: list[tuple[Any, int]]) -> str:
    return ", ".join(f"{label} ({n})" for label, n in pairs)


def counted(pairs: list[tuple[Any, int]]) -> Any:
    """``label (n), label (n)`` as one lazy cell, so that lazy labels read in the page's language."""
    return LazyString(_counted, pairs) if pairs else ""


def _article(row: dict[str, Any], article_id: str, library: Library | None) -> dict[str, Any]:
    article = library.by_id(article_id) if library is not None else None
    row.update(
        article_id=article_id,
        title=article.title if article else _l("%(article)s (no longer published)", article=article_id),
        locale=article_id.split("/", 1)[0],
    )
    return row


def _figures(f: ArticleFigures) -> dict[str, Any]:
    return {c.key: getattr(f, c.key) for c in FIGURES}


def attention_table(items: Iterable[Attention], library: Library | None) -> Table:
    """Needs attention, in the order given (impact first)."""
    rows = []
    for rank, item in enumerate(items, 1):
        f = item.figures
        rows.append(
            _article(
                {
                    "rank": rank,
                    "impact": round(f.impact, 1),
                    "reach": f.reach,
                    "votes": f.votes,
                    "unhelpful": f.unhelpful,
                    "unhelpful_lower": f.unhelpful_lower,
                    "helpful_share": f.helpful_share,
                    "reasons": counted([(reason_label(r), n) for r, n in item.reasons.most_common()]),
                    "queries": "; ".join(f"{q} ({n})" for q, n in item.queries),
                    "comments": " | ".join(c["comment"] for c in item.comments),
                    "comment_list": item.comments,
                },
                f.article_id,
                library,
            )
        )
    return Table(
        "needs-attention",
        [
            C("rank", "#", "int"),
            C("title", _l("Article")),
            C("impact", _l("Visitors likely failed"), "float"),
            C("reach", _l("Reach (views + opened)"), "int"),
            C("votes", _l("Votes"), "int"),
            C("unhelpful", _l("No"), "int"),
            C("unhelpful_lower", _l("Unhelpful (%(level)s lower bound)", level="95%"), "share"),
            C("helpful_share", _l("Helpful"), "share"),
            C("reasons", _l("Reasons")),
            C("queries", _l("Leading queries")),
            C("comments", _l("Latest comments")),
            C("article_id", _l("Article id")),
        ],
        rows,
    )


def articles_table(figures: Iterable[ArticleFigures], library: Library | None) -> Table:
    """Every article with anything recorded, most read first."""
    rows = [_article(_figures(f), f.article_id, library) for f in sorted(figures, key=lambda f: -f.reach)]
    return Table("articles", [C("title", _l("Article")), *FIGURES, C("article_id", _l("Article id"))], rows)


def revisions_table(figures: Iterable[ArticleFigures]) -> Table:
    """One article's revisions, oldest first: did the last edit help?"""
    rows = [{"revision": f.revision, "first_seen": f.first_seen, **_figures(f)} for f in figures]
    columns = [
        C("revision", _l("Revision")),
        C("first_seen", _l("First seen"), "datetime"),
        *[c for c in FIGURES if c.key not in ("opened", "implicit", "failed")],
    ]
    return Table("revisions", columns, rows)


def queries_table(name: str, queries: Iterable[QueryFigures]) -> Table:
    rows = [{**q.as_dict(), "click_rate": q.click_rate} for q in queries]
    return Table(
        name,
        [
            C("query", _l("Query")),
            C("searches", _l("Searches"), "int"),
            C("results", _l("Mean results"), "float"),
            C("clicked", _l("Clicked"), "int"),
            C("bounced", _l("Bounced"), "int"),
            C("click_rate", _l("Click-through"), "share"),
        ],
        rows,
    )


def positions_table(positions: Iterable[PositionFigures]) -> Table:
    rows = [{"position": p.position, "shown": p.shown, "clicks": p.clicks, "rate": p.rate} for p in positions]
    return Table(
        "click-through",
        [
            C("position", _l("Position"), "int"),
            C("shown", _l("Searches with a result there"), "int"),
            C("clicks", _l("Clicks"), "int"),
            C("rate", _l("Click-through"), "share"),
        ],
        rows,
    )


def gaps_table(report: GapReport, examples: int = 5) -> Table:
    rows = []
    for rank, gap in enumerate(report.gaps, 1):
        rows.append(
            {
                "rank": rank,
                "size": gap.size,
                "distinct": len(gap.questions),
                "topic": gap.label,
                "examples": " | ".join(q.text for q in gap.examples(examples)),
                "example_list": gap.examples(examples),
                "kinds": counted([(KINDS[k], n) for k, n in gap.kinds.most_common()]),
            }
        )
    return Table(
        "content-gaps",
        [
            C("rank", "#", "int"),
            C("size", _l("Times asked"), "int"),
            C("distinct", _l("Different wordings"), "int"),
            C("topic", _l("Topic (most asked wording)")),
            C("examples", _l("Examples")),
            C("kinds", _l("Where it came from")),
        ],
        rows,
    )


def funnel_table(funnel: Funnel) -> Table:
    first = funnel.opened or 0
    rows = [{"step": label, "episodes": n, "share": (n / first) if first else None} for label, n in funnel.steps()]
    rows += [
        {"step": "  of which explicit (said Yes)", "episodes": funnel.explicit, "share": None},
        {"step": "  of which implicit (no ticket in 24 h)", "episodes": funnel.implicit, "share": None},
        {"step": "Tickets sent", "episodes": funnel.tickets, "share": None},
        {"step": "  of which failed deflections", "episodes": funnel.failed, "share": None},
    ]
    return Table(
        "deflection-funnel",
        [
            C("step", "Step"),
            C("episodes", "Visitor-days", "int"),
            C("share", "Of contact form opened", "share"),
        ],
        rows,
    )


def rate_table(points: Iterable[RatePoint]) -> Table:
    rows = [{"start": p.day, "resolved": p.resolved, "tickets": p.tickets, "rate": p.rate} for p in points]
    return Table(
        "deflection-rate",
        [
            C("start", "From", "datetime"),
            C("resolved", "Resolved", "int"),
            C("tickets", "Ticket sent", "int"),
            C("rate", "Deflection rate", "share"),
        ],
        rows,
    )


def tickets_table(tickets: Iterable[TicketRow]) -> Table:
    rows = [{**t.as_dict(), "created_at": t.created_at} for t in tickets]
    return Table(
        "tickets",
        [
            C("reference", "Reference"),
            C("created_at", "Sent", "datetime"),
            C("locale", "Locale"),
            C("subject", "Subject"),
            C("email", "From"),
            C("topic", "Topic"),
            C("failed_deflection", "After reading answers"),
            C("delivery", "Delivery"),
            C("last_error", "Last delivery error"),
        ],
        rows,
    )


def share(value: float | None) -> str:
    """A share as a whole percentage, or a dash when there is nothing to divide."""
    return "–" if value is None else f"{value * 100:.0f}%"


def display(column: Column, value: Any) -> str:
    """A cell as text for the page or the terminal."""
    if value is None or value == "":
        return "–"
    if column.kind == "share":
        return share(value)
    if column.kind == "float":
        return f"{value:,.1f}"
    if column.kind == "int":
        return f"{value:,}"
    if column.kind == "datetime" and hasattr(value, "isoformat"):
        return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "hour") else value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


TERMINAL_SKIP = ("article_id", "unhelpful_lower", "comments", "wilson", "opened")  # kept in CSV and JSON


def as_text(table: Table, title: str, limit: int = 20, width: int = 40) -> str:
    """The table for a terminal: a title, aligned columns, long cells cut at ``width`` characters."""
    with in_english():  # the terminal report is data, like the CSV
        return _as_text(table, title, limit, width)


def _as_text(table: Table, title: str, limit: int, width: int) -> str:
    if not table.rows:
        return f"{title}\n  (nothing recorded in this period)\n"
    table = Table(table.name, [c for c in table.columns if c.key not in TERMINAL_SKIP], table.rows)
    cells = [[display(c, row.get(c.key)) for c in table.columns] for row in table.rows[:limit]]
    cells = [[v if len(v) <= width else v[: width - 1] + "…" for v in row] for row in cells]
    header = [str(c.label) for c in table.columns]
    widths = [max(len(header[i]), *(len(r[i]) for r in cells)) for i in range(len(header))]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if c.numeric else v.ljust(w) for v, w, c in zip(values, widths, table.columns, strict=True)
        ).rstrip()

    more = f"\n  … {len(table.rows) - limit} more" if len(table.rows) > limit else ""
    return "\n".join([title, line(header), line(["-" * w for w in widths]), *map(line, cells)]) + more + "\n"
