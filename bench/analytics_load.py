"""How fast are the admin overview and `kb report` over a million recorded events?

    python bench/analytics_load.py /tmp/kb-bench.sqlite3                  # generate, then time at head
    python bench/analytics_load.py /tmp/kb-bench.sqlite3 --before         # first without the new indexes
    python bench/analytics_load.py /tmp/kb-bench.sqlite3 --reuse          # time an existing database again

Generates a test SQLite database only (never the site's own): 90 days of a busy help center, as contact
episodes (form opened, suggestions, answers opened, Yes, tickets), searches with clicks, article views and
votes over the demo articles, inserted with executemany in transactions. Then it times the overview, the
other admin pages' computations and `kb report`, and prints the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from kb import analytics, create_app, db  # noqa: E402
from kb.analytics import deflection, gaps, helpfulness, searches  # noqa: E402
from kb.analytics.period import Period  # noqa: E402
from kb.content import load_library  # noqa: E402
from kb.db import make_engine  # noqa: E402
from kb.models import (  # noqa: E402
    AnswerOpened,
    ArticleView,
    Base,
    ContactOpened,
    OutboxMessage,
    SearchClick,
    SearchEvent,
    Ticket,
    Vote,
)

CHUNK = 50_000
# Share of the million per table (the contact episodes drive opened/answers/votes/tickets).
PLAN = {
    "search_events": 0.42,
    "search_clicks": 0.15,
    "article_views": 0.23,
    "contact_opened": 0.06,
    "answers_opened": 0.04,
    "votes": 0.05,
    "tickets": 0.025,
    "outbox_messages": 0.025,
}
GAP_WORDS = [
    "bitcoin",
    "crypto",
    "invoice",
    "vat",
    "excel",
    "export",
    "klaviyo",
    "zapier",
    "tiktok",
    "sms",
    "gdpr",
    "delete",
    "account",
    "api",
    "webhook",
    "pos",
    "wholesale",
    "subscription",
    "coupon",
    "bundle",
    "b2b",
    "currency",
    "tax",
    "shipping",
    "refund",
    "language",
    "theme",
    "mobile app",
]
GAP_FRAMES = [
    "can I use {a} with {b}",
    "how do I set up {a}",
    "{a} {b} not working",
    "does perkly support {a}",
    "where is the {a} setting",
    "{a} and {b}",
    "why can't I find {a}",
]


def rows_of(table: Any, rows: Iterator[dict[str, Any]], conn: Any) -> int:
    """Insert ``rows`` oldest first (as a live site appends them), CHUNK per transaction, by executemany."""
    done, batch = 0, []
    for row in sorted(rows, key=lambda r: r["created_at"]):
        batch.append(row)
        if len(batch) >= CHUNK:
            conn.execute(insert(table), batch)
            conn.commit()
            done += len(batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)
        conn.commit()
        done += len(batch)
    return done


def generate(url: str, total: int, days: int, seed: int) -> dict[str, int]:
    """Fill the database at ``url`` with about ``total`` events over the last ``days`` days."""
    rnd = random.Random(seed)
    library = load_library(ROOT / "articles")
    articles = [a for a in library if a.locale == "en"] or list(library)
    others = [a for a in library if a.locale != "en"]
    weights = [1 / (i + 1) ** 0.8 for i in range(len(articles))]  # a few articles get most traffic
    now = datetime.utcnow().replace(microsecond=0)
    start = now - timedelta(days=days)
    span = days * 86400
    n = {name: int(total * share) for name, share in PLAN.items()}
    visitors = [f"{i:032x}" for i in range(max(1000, total // 6))]
    queries = [a.title.lower() for a in articles] + [t for a in articles for t in a.tags]
    gap_questions = [
        rnd.choice(GAP_FRAMES).format(a=rnd.choice(GAP_WORDS), b=rnd.choice(GAP_WORDS)) for _ in range(1500)
    ]

    def when(after: datetime | None = None, within: float = span) -> datetime:
        base = after or start
        return min(now, base + timedelta(seconds=rnd.random() * within))

    def article() -> Any:
        if others and rnd.random() < 0.1:
            return rnd.choice(others)
        return rnd.choices(articles, weights)[0]

    engine = make_engine(url)
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        # Contact episodes: form opened, suggestions (a quarter find nothing confident), an answer opened,
        # then Yes, a ticket (sometimes a day later), or nothing.
        episodes = []
        seen_days: set[tuple[str, Any]] = set()
        while len(episodes) < n["contact_opened"]:
            v, t = rnd.choice(visitors), when()
            if (v, t.date()) not in seen_days:
                seen_days.add((v, t.date()))
                episodes.append((v, t))
        counts["contact_opened"] = rows_of(
            ContactOpened.__table__,
            ({"created_at": t, "day": t.date(), "visitor": v, "locale": "en"} for v, t in episodes),
            conn,
        )
        search_rows: list[dict[str, Any]] = []
        opened_rows: list[dict[str, Any]] = []
        ticket_rows: list[dict[str, Any]] = []
        vote_keys: dict[tuple[str, str], dict[str, Any]] = {}
        contact_searches = int(n["search_events"] * 0.2)
        for i in range(contact_searches):
            v, t = episodes[i % len(episodes)]
            answered = rnd.random() > 0.25
            shown = [article().id for _ in range(3)] if answered else []
            search_rows.append(
                {
                    "created_at": when(t, 120),
                    "visitor": v,
                    "locale": "en",
                    "source": "contact",
                    "query": rnd.choice(queries if answered else gap_questions),
                    "result_count": len(shown),
                    "shown": shown,
                    "confidence": rnd.uniform(0.5, 0.95) if answered else None,
                    "latency_ms": 12.0,
                }
            )
            if answered and len(opened_rows) < n["answers_opened"] and rnd.random() < 0.7:
                at = when(search_rows[-1]["created_at"], 300)
                opened_rows.append(
                    {
                        "created_at": at,
                        "visitor": v,
                        "article_id": shown[0],
                        "search": search_rows[-1],
                        "anchor": "",
                        "position": 1,
                        "source": "contact",
                    }
                )
                outcome = rnd.random()
                if outcome < 0.35:
                    vote_keys[(v, shown[0])] = {
                        "visitor": v,
                        "article_id": shown[0],
                        "helpful": True,
                        "created_at": at,
                        "updated_at": at,
                        "source": "contact",
                        "revision": "r1",
                        "query": search_rows[-1]["query"],
                    }
                elif outcome < 0.65 and len(ticket_rows) < n["tickets"]:
                    ticket_rows.append({"created_at": when(at, 40 * 3600), "visitor": v})
            elif not answered and len(ticket_rows) < n["tickets"] and rnd.random() < 0.4:
                ticket_rows.append({"created_at": when(t, 3600), "visitor": v})
        while len(ticket_rows) < n["tickets"]:  # tickets straight from the form, nothing read first
            ticket_rows.append({"created_at": when(), "visitor": rnd.choice(visitors)})
        sources = ["search"] * 10 + ["suggest"] * 5 + ["api"]
        for _ in range(contact_searches, n["search_events"]):
            source = rnd.choice(sources)
            gap = rnd.random() < 0.08
            count = 0 if gap and rnd.random() < 0.3 else rnd.randint(3, 40)
            search_rows.append(
                {
                    "created_at": when(),
                    "visitor": rnd.choice(visitors),
                    "locale": "en",
                    "source": source,
                    "query": rnd.choice(gap_questions) if gap else rnd.choice(queries),
                    "result_count": count,
                    "shown": [],
                    "confidence": rnd.uniform(0.05, 0.35) if gap else rnd.uniform(0.45, 0.95),
                    "latency_ms": 15.0,
                }
            )
        search_rows.sort(key=lambda r: r["created_at"])  # ids grow with time, as on a live site
        for number, row in enumerate(search_rows, 1):
            row["id"] = number
        counts["search_events"] = rows_of(SearchEvent.__table__, iter(search_rows), conn)
        typed = [r for r in search_rows if r["source"] != "contact" and r["result_count"]]
        clicks = []
        for _ in range(n["search_clicks"]):
            s = rnd.choice(typed)
            position = min(10, int(rnd.expovariate(0.7)) + 1)
            clicks.append(
                {
                    "created_at": s["created_at"] + timedelta(seconds=5),
                    "search_id": s["id"],
                    "visitor": s["visitor"],
                    "article_id": article().id,
                    "position": position,
                }
            )
        counts["search_clicks"] = rows_of(SearchClick.__table__, iter(clicks), conn)
        counts["answers_opened"] = rows_of(
            AnswerOpened.__table__,
            ({**{k: v for k, v in r.items() if k != "search"}, "search_id": r["search"]["id"]} for r in opened_rows),
            conn,
        )
        views: dict[tuple[str, str, Any], dict[str, Any]] = {}
        while len(views) < n["article_views"]:
            v, a, t = rnd.choice(visitors), article(), when()
            q = rnd.choice(queries) if rnd.random() < 0.3 else ""
            views.setdefault(
                (v, a.id, t.date()),
                {
                    "created_at": t,
                    "day": t.date(),
                    "visitor": v,
                    "article_id": a.id,
                    "revision": rnd.choice(["r1", "r2"]),
                    "source": "search" if q else "outside",
                    "query": q,
                },
            )
        counts["article_views"] = rows_of(ArticleView.__table__, iter(views.values()), conn)
        reasons = ["not_answered", "out_of_date", "hard_to_follow", "missing", None]
        while len(vote_keys) < n["votes"]:
            v, a, t = rnd.choice(visitors), article(), when()
            helpful = rnd.random() < 0.7 + 0.25 * (hash(a.id) % 3 - 1)
            vote_keys.setdefault(
                (v, a.id),
                {
                    "visitor": v,
                    "article_id": a.id,
                    "helpful": helpful,
                    "created_at": t,
                    "updated_at": t,
                    "source": "article",
                    "revision": rnd.choice(["r1", "r2"]),
                    "query": "",
                    "reason": None if helpful else rnd.choice(reasons),
                    "comment": None if helpful or rnd.random() < 0.8 else f"comment {rnd.randint(1, 999)}",
                },
            )
        counts["votes"] = rows_of(
            Vote.__table__, ({"reason": None, "comment": None, **row} for row in vote_keys.values()), conn
        )
        ticket_rows.sort(key=lambda r: r["created_at"])
        counts["tickets"] = rows_of(
            Ticket.__table__,
            (
                {
                    "id": i + 1,
                    "created_at": t["created_at"],
                    "visitor": t["visitor"],
                    "locale": "en",
                    "name": "Ada",
                    "email": "ada@example.com",
                    "subject": rnd.choice(gap_questions)[:200],
                    "message": "Hello, " + rnd.choice(gap_questions) + "? Thanks.",
                    "topic": "",
                    "store_url": "",
                    "came_from": "",
                    "user_agent": "bench",
                    "context": {},
                }
                for i, t in enumerate(ticket_rows)
            ),
            conn,
        )
        counts["outbox_messages"] = rows_of(
            OutboxMessage.__table__,
            (
                {
                    "created_at": t["created_at"],
                    "updated_at": t["created_at"],
                    "ticket_id": i + 1,
                    "kind": "ticket",
                    "channel": "webhook",
                    "payload": {},
                    "status": "failed" if rnd.random() < 0.02 else "sent",
                    "attempts": 1,
                    "next_attempt_at": t["created_at"],
                }
                for i, t in enumerate(ticket_rows)
            ),
            conn,
        )
    engine.dispose()
    return counts


def timed(label: str, fn: Callable[[], Any], results: dict[str, float]) -> Any:
    started = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - started
    print(f"  {label:<44}{results[label]:8.2f} s", flush=True)
    return value


def measure(url: str, since_days: int, gaps_too: bool) -> dict[str, float]:
    """Time what the admin pages and `kb report` compute, at the database's current schema."""
    results: dict[str, float] = {}
    engine = make_engine(url)
    period = Period.last(since_days)
    settings = analytics.Settings(confident=0.42)
    with Session(engine) as session:
        view = timed("overview (admin front page)", lambda: analytics.overview(session, period, settings), results)
        timed("  of which per-article figures", lambda: helpfulness.article_figures(session, period), results)
        timed("  of which funnel", lambda: deflection.funnel(session, period), results)
        timed("  of which deflection rate per day", lambda: deflection.rate_over_time(session, period), results)
        timed(
            "needs attention (100 rows)",
            lambda: helpfulness.needs_attention(session, period, 5, 100),
            results,
        )
        timed(
            "searches page",
            lambda: (
                searches.top_queries(session, period),
                searches.no_result_queries(session, period, 50, 0.42),
                searches.bounced_queries(session, period),
                searches.click_through_by_position(session, period),
                searches.totals(session, period, 0.42),
            ),
            results,
        )
        timed(
            "content gaps, gathering questions",
            lambda: gaps.gap_questions(session, period, 500, 0.42),
            results,
        )
        first = next(iter(view.articles), None)
        if first:
            timed("one article's history", lambda: helpfulness.revision_figures(session, period, first), results)
    engine.dispose()
    app = create_app(
        {
            "DATABASE_URL": url,
            "ARTICLES_DIR": str(ROOT / "articles"),
            "SEARCH_INDEX_DIR": str(ROOT / "search_index"),
            "LOG_LEVEL": "WARNING",
        }
    )
    runner = app.test_cli_runner()
    output = timed(
        "kb report --no-gaps",
        lambda: runner.invoke(args=["report", "--since", f"{since_days}d", "--no-gaps"]),
        results,
    )
    assert output.exit_code == 0, output.output
    if gaps_too:
        output = timed(
            "kb report (gaps grouped by meaning)",
            lambda: runner.invoke(args=["report", "--since", f"{since_days}d"]),
            results,
        )
        assert output.exit_code == 0, output.output
    print("\n" + output.output[:6000])
    return results


ANALYTICS_INDEXES = (
    "ix_tickets_visitor_created",
    "ix_article_views_visitor_created",
    "ix_answers_opened_visitor_created",
    "ix_search_events_visitor_created",
    "ix_search_events_created_source",
    "ix_article_views_created_article",
)


def analytics_indexes(url: str, action: str) -> None:
    """Drop or create the indexes migration 7c2d9e4f1a20 added for the analytics (timed separately)."""
    engine = make_engine(url)
    for table in Base.metadata.sorted_tables:
        for index in table.indexes:
            if index.name in ANALYTICS_INDEXES:
                started = time.perf_counter()
                if action == "drop":
                    index.drop(engine)
                else:
                    index.create(engine)
                print(f"  {action} {index.name}: {time.perf_counter() - started:.1f} s")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database", type=Path, help="SQLite file to create (deleted first unless --reuse)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90, help="days of history to generate")
    parser.add_argument("--since", type=int, default=30, help="days the timed reports cover")
    parser.add_argument(
        "--before",
        action="store_true",
        help="time without the analytics indexes first (the schema before issue 6), then with them",
    )
    parser.add_argument("--reuse", action="store_true", help="time the existing database, do not generate")
    parser.add_argument("--no-gaps", action="store_true", help="skip `kb report` with the embedding model")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    url = f"sqlite:///{args.database.resolve()}"
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.database}{suffix}").unlink(missing_ok=True)
        db.upgrade(url)
        started = time.perf_counter()
        counts = generate(url, args.events, args.days, args.seed)
        took = time.perf_counter() - started
        print(
            f"generated {sum(counts.values()):,} events in {took:.1f} s: "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        )
    engine = make_engine(url)
    with Session(engine) as session:
        total = sum(
            session.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
            if t.name not in ("users",)
        )
    engine.dispose()
    print(f"{total:,} rows in {args.database} ({args.database.stat().st_size / 1e6:.0f} MB)")
    if args.before:
        print("\nWithout the analytics indexes:")
        analytics_indexes(url, "drop")
        before = measure(url, args.since, not args.no_gaps)
        analytics_indexes(url, "create")
        print("\nWith the analytics indexes (the schema at head):")
        after = measure(url, args.since, not args.no_gaps)
        print(f"\n{'':<44}{'before':>9}{'after':>9}")
        for label in before:
            print(f"  {label:<42}{before[label]:8.2f}s{after.get(label, float('nan')):8.2f}s")
    else:
        print("\nAt head:")
        measure(url, args.since, not args.no_gaps)


if __name__ == "__main__":
    main()
