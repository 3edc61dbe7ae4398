"""The analytics as tables, the same for the admin pages, their CSV exports and `kb report`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kb.analytics.deflection import Funnel, RatePoint
from kb.analytics.gaps import KINDS, GapReport
from kb.analytics.helpfulness import ArticleFigures, Attention
from kb.analytics.searches import PositionFigures, QueryFigures
from kb.analytics.tickets import TicketRow
from kb.content import Library
from kb.tables import Column, Table

C = Column
FIGURES = [
    C("views", "Views", "int"),
    C("opened", "Opened in contact form", "int"),
    C("votes", "Votes", "int"),
    C("helpful_share", "Helpful", "share"),
    C("wilson", "Helpful (95% lower bound)", "share"),
    C("explicit", "Explicit deflections", "int"),
    C("implicit", "Implicit deflections", "int"),
    C("failed", "Failed deflections", "int"),
    C("tickets_after_reading", "Tickets after reading", "int"),
]


def _article(row: dict[str, Any], article_id: str, library: Library | None) -> dict[str, Any]:
    article = library.by_id(article_id) if library is not None else None
    row.update(
        article_id=article_id,
        title=article.title if article else f"{article_id} (no longer published)",
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
                    "reasons": ", ".join(
                        f"{reason.replace('_', ' ')} ({n})" for reason, n in item.reasons.most_common()
                    ),
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
            C("title", "Article"),
            C("impact", "Visitors likely failed", "float"),
            C("reach", "Reach (views + opened)", "int"),
            C("votes", "Votes", "int"),
            C("unhelpful", "No", "int"),
            C("unhelpful_lower", "Unhelpful (95% lower bound)", "share"),
            C("helpful_share", "Helpful", "share"),
            C("reasons", "Reasons"),
            C("queries", "Leading queries"),
            C("comments", "Latest comments"),
            C("article_id", "Article id"),
        ],
        rows,
    )


def articles_table(figures: Iterable[ArticleFigures], library: Library | None) -> Table:
    """Every article with anything recorded, most read first."""
    rows = [_article(_figures(f), f.article_id, library) for f in sorted(figures, key=lambda f: -f.reach)]
    return Table("articles", [C("title", "Article"), *FIGURES, C("article_id", "Article id")], rows)


def revisions_table(figures: Iterable[ArticleFigures]) -> Table:
    """One article's revisions, oldest first: did the last edit help?"""
    rows = [{"revision": f.revision, "first_seen": f.first_seen, **_figures(f)} for f in figures]
    columns = [
        C("revision", "Revision"),
        C("first_seen", "First seen", "datetime"),
        *[c for c in FIGURES if c.key not in ("opened", "implicit", "failed")],
    ]
    return Table("revisions", columns, rows)


def queries_table(name: str, queries: Iterable[QueryFigures]) -> Table:
    rows = [{**q.as_dict(), "click_rate": q.click_rate} for q in queries]
    return Table(
        name,
        [
            C("query", "Query"),
            C("searches", "Searches", "int"),
            C("results", "Mean results", "float"),
            C("clicked", "Clicked", "int"),
            C("bounced", "Bounced", "int"),
            C("click_rate", "Click-through", "share"),
        ],
        rows,
    )


def positions_table(positions: Iterable[PositionFigures]) -> Table:
    rows = [{"position": p.position, "shown": p.shown, "clicks": p.clicks, "rate": p.rate} for p in positions]
    return Table(
        "click-through",
        [
            C("position", "Position", "int"),
            C("shown", "Searches with a result there", "int"),
            C("clicks", "Clicks", "int"),
            C("rate", "Click-through", "share"),
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
                "kinds": ", ".join(f"{KINDS[k]} ({n})" for k, n in gap.kinds.most_common()),
            }
        )
    return Table(
        "content-gaps",
        [
            C("rank", "#", "int"),
            C("size", "Times asked", "int"),
            C("distinct", "Different wordings", "int"),
            C("topic", "Topic (most asked wording)"),
            C("examples", "Examples"),
            C("kinds", "Where it came from"),
        ],
        rows,
    )


def funnel_table(funnel: Funnel) -> Table:
    first = funnel.opened or 0
    rows = [
        {"step": label, "episodes": n, "share": (n / first) if first else None} for label, n in funnel.steps()
    ]
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
    if not table.rows:
        return f"{title}\n  (nothing recorded in this period)\n"
    table = Table(table.name, [c for c in table.columns if c.key not in TERMINAL_SKIP], table.rows)
    cells = [[display(c, row.get(c.key)) for c in table.columns] for row in table.rows[:limit]]
    cells = [[v if len(v) <= width else v[: width - 1] + "…" for v in row] for row in cells]
    header = [c.label for c in table.columns]
    widths = [max(len(header[i]), *(len(r[i]) for r in cells)) for i in range(len(header))]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if c.numeric else v.ljust(w)
            for v, w, c in zip(values, widths, table.columns, strict=True)
        ).rstrip()

    more = f"\n  … {len(table.rows) - limit} more" if len(table.rows) > limit else ""
    return "\n".join([title, line(header), line(["-" * w for w in widths]), *map(line, cells)]) + more + "\n"
