"""The figures kb.analytics computes, from events produced through the real endpoints (CSRF on).

Time is moved only by rewriting ``created_at`` (and the day columns) of rows already recorded, to put a
visitor's earlier steps 23 or 25 hours in the past; every row itself comes from an HTTP request.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import MINI_ARTICLES, make_app, write_tree
from sqlalchemy import select
from visitors import Visitor

from kb import analytics
from kb.analytics import deflection, gaps, helpfulness, searches
from kb.analytics.period import Period, parse_span
from kb.db import session_scope
from kb.models import AnswerOpened, ArticleView, ContactOpened, SearchClick, SearchEvent, Ticket, Vote

QUESTION = "how do I cancel my plan"
CANCEL = "en/cancel-your-subscription"
EXPIRY = "en/set-up-points-expiry"
INSTALL = "en/install-on-shopify"
LAUNCH = "en/launch-your-program"
GENEROUS = {
    "WTF_CSRF_ENABLED": True,
    "CONTACT_RATE_LIMIT": "1000 per minute",
    "FEEDBACK_RATE_LIMIT": "1000 per minute",
}


@pytest.fixture
def site(indexed_root: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The indexed mini help center with its own empty database; rate limits out of the way."""
    return make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3", **GENEROUS)


def figures(app: Any, fn: Any, *args: Any, days: float = 7, **kwargs: Any) -> Any:
    with session_scope(app) as session:
        return fn(session, Period.last(days), *args, **kwargs)


def move_back(app: Any, visitor: Visitor, hours: float) -> None:
    """Put everything ``visitor`` did so far ``hours`` earlier (the only way these tests move time)."""
    delta = timedelta(hours=hours)
    with session_scope(app) as session:
        for model in (ContactOpened, SearchEvent, SearchClick, AnswerOpened, ArticleView, Vote, Ticket):
            for row in session.scalars(select(model).where(model.visitor == visitor.id)):
                row.created_at -= delta
                if hasattr(row, "day"):
                    row.day = row.created_at.date()
                if isinstance(row, Vote):
                    row.updated_at -= delta


# -- helpfulness --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("positive", "total", "expected"),
    [
        (3, 3, 0.4385),
        (300, 300, 0.9874),
        (80, 100, 0.7112),
        (1, 1, 0.2065),
        (0, 10, 0.0),
        (5, 10, 0.2366),
    ],
)
def test_wilson_lower_bound_known_values(positive: int, total: int, expected: float) -> None:
    assert helpfulness.wilson_lower_bound(positive, total) == pytest.approx(expected, abs=5e-5)


def test_wilson_lower_bound_without_votes_is_unknown() -> None:
    assert helpfulness.wilson_lower_bound(0, 0) is None


def test_helpful_share_and_wilson_bound_from_votes_on_the_page(site: Any) -> None:
    for helpful in (True, True, True):
        Visitor(site).vote(EXPIRY, helpful)
    for helpful in [True] * 8 + [False] * 2:
        Visitor(site).vote(INSTALL, helpful)
    by_article = figures(site, helpfulness.article_figures)
    expiry, install = by_article[EXPIRY], by_article[INSTALL]
    assert (expiry.views, expiry.votes, expiry.helpful, expiry.helpful_share) == (3, 3, 3, 1.0)
    assert expiry.wilson == pytest.approx(0.4385, abs=5e-5)  # 3 of 3 is promising, not proven
    assert (install.views, install.votes, install.helpful) == (10, 10, 8)
    assert install.helpful_share == 0.8 and install.wilson == pytest.approx(0.4902, abs=5e-5)


def test_needs_attention_ranks_by_visitors_failed_and_holds_back_few_votes(site: Any) -> None:
    for i, helpful in enumerate([False] * 4 + [True] * 2 + [None] * 4):  # 10 readers, 6 votes, 4 No
        visitor = Visitor(site)
        if helpful is None:
            visitor.read(CANCEL, query="cancel my plan")
            continue
        visitor.vote(CANCEL, helpful, query="cancel my plan" if i % 2 else "refund")
        if not helpful:
            visitor.say_why(CANCEL, "out_of_date", f"The Billing page moved #{i}" if i < 2 else "")
    for helpful in [True] * 5 + [False]:  # 6 readers, 1 No
        Visitor(site).vote(INSTALL, helpful)
    Visitor(site).vote(LAUNCH, False)  # a single No: held back, not ranked
    ranked, held_back = figures(site, helpfulness.needs_attention, 5)
    assert [a.figures.article_id for a in ranked] == [CANCEL, INSTALL]
    assert held_back == 1
    first = ranked[0]
    assert first.figures.impact == pytest.approx(10 * helpfulness.wilson_lower_bound(4, 6))
    assert first.reasons == {"out_of_date": 4}
    assert sorted(c["comment"] for c in first.comments) == [
        "The Billing page moved #0",
        "The Billing page moved #1",
    ]
    assert first.queries == [("cancel my plan", 7), ("refund", 3)]  # 4 readers and 3 voters, 3 voters


def test_per_revision_split_shows_whether_the_edit_helped(tmp_path: Path) -> None:
    articles = write_tree(tmp_path / "articles", MINI_ARTICLES)
    database = tmp_path / "kb.sqlite3"
    before = make_app(articles, tmp_path / "search_index", database, **GENEROUS)
    first, second = Visitor(before), Visitor(before)
    first.vote(EXPIRY, False)
    second.vote(EXPIRY, False)
    path = articles / "en/points/set-up-points-expiry.md"
    path.write_text(
        path.read_text().replace(
            "choose 6, 12 or 24 months", "pick 6, 12 or 24 months of inactivity (the new Expiry tab)"
        ),
        encoding="utf-8",
    )
    after = make_app(articles, tmp_path / "search_index", database, **GENEROUS)  # the edit, deployed
    third = Visitor(after)
    third.vote(EXPIRY, True)
    Visitor(after, same_as=first).vote(EXPIRY, True)  # the first visitor changes their mind on the new text
    history = figures(after, helpfulness.revision_figures, EXPIRY)
    assert len(history) == 2
    old, new = history
    assert old.revision != new.revision
    assert (old.views, old.votes, old.helpful) == (2, 1, 0)  # only the second visitor's No is left on it
    assert (new.views, new.votes, new.helpful) == (1, 2, 2)  # first visitor's view is once a day
    with after.app_context():
        from kb.site_state import library

        assert new.revision == library().by_id(EXPIRY).revision


# -- deflection ---------------------------------------------------------------------------------------


def test_three_kinds_of_deflection_with_their_24_hour_window(site: Any) -> None:
    said_yes = Visitor(site)  # explicit: "Yes, this answered my question"
    said_yes.open_contact()
    found = said_yes.suggest(QUESTION)
    assert found["suggestions"][0]["id"] == CANCEL
    said_yes.say_answered(said_yes.open_answer(found), True, QUESTION)

    quiet = Visitor(site)  # implicit once 24 hours pass without a ticket
    quiet.open_contact()
    quiet.open_answer(quiet.suggest(QUESTION))

    sent_anyway = Visitor(site)  # failed: read the answer, sent a ticket within the hour
    sent_anyway.open_contact()
    sent_anyway.open_answer(sent_anyway.suggest(QUESTION))
    sent_anyway.send_ticket("Cancel", "The cancel button is grey, I still cannot cancel my plan.")

    direct = Visitor(site)  # a ticket with nothing read first: neither deflected nor failed
    direct.send_ticket("Invoice", "Please send me an invoice with our VAT number on it.")

    funnel = figures(site, deflection.funnel)
    assert (funnel.explicit, funnel.implicit, funnel.failed, funnel.tickets) == (1, 0, 1, 2)  # quiet: pending
    assert (funnel.opened, funnel.shown, funnel.answered, funnel.resolved, funnel.ticket) == (4, 3, 3, 1, 2)

    move_back(site, quiet, 25)
    funnel = figures(site, deflection.funnel)
    assert (funnel.explicit, funnel.implicit, funnel.resolved) == (1, 1, 2)

    late = Visitor(site)  # opened an answer 25 hours before writing: implicit, and the ticket is not failed
    late.open_contact()
    late.open_answer(late.suggest(QUESTION))
    move_back(site, late, 25)
    late.send_ticket("Cancel", "Back again: how do I cancel my plan for real?")

    close = Visitor(site)  # opened an answer 23 hours before writing: failed, never implicit
    close.open_contact()
    close.open_answer(close.suggest(QUESTION))
    move_back(site, close, 23)
    close.send_ticket("Cancel", "I read the article yesterday and it did not help me cancel.")

    reader = Visitor(site)  # read the article page, then wrote: a ticket after reading it
    reader.read(CANCEL)
    reader.send_ticket("Cancel", "Your article says Billing but I do not have that menu.")

    funnel = figures(site, deflection.funnel)
    assert (funnel.explicit, funnel.implicit, funnel.failed, funnel.tickets) == (1, 2, 3, 5)
    assert funnel.rate == pytest.approx(funnel.resolved / (funnel.resolved + funnel.ticket))
    per_article = figures(site, helpfulness.article_figures)[CANCEL]
    assert (per_article.explicit, per_article.implicit, per_article.failed) == (1, 2, 2)
    assert per_article.tickets_after_reading == 1
    assert per_article.opened == 5

    points = figures(site, deflection.rate_over_time)
    assert len(points) == len(Period.last(7).days())
    assert sum(p.resolved for p in points) == funnel.resolved and sum(p.tickets for p in points) == funnel.ticket


# -- search ---------------------------------------------------------------------------------------------


def test_search_figures_top_no_results_bounced_and_click_through(site: Any) -> None:
    clicker = Visitor(site)
    results = clicker.search_page("points expiry")
    search_id, position, article_id = results[0]
    assert position == 1
    clicker.click(search_id, position, article_id)
    bouncer = Visitor(site)
    assert bouncer.search_page("Points Expiry")  # the same query, other case: results, nothing opened
    second = Visitor(site)
    sid, pos, art = second.search_page("shopify install")[1]
    second.click(sid, pos, art)
    nothing = Visitor(site)
    nothing.search_page("xqzvw blorptang")  # semantic search ranks something, but nothing confident
    nothing.client.get("/api/suggest?q=poin")  # the search box's prefixes are not counted as searches

    top = {q.query: q for q in figures(site, searches.top_queries)}
    assert set(top) == {"points expiry", "shopify install", "xqzvw blorptang"}
    assert (top["points expiry"].searches, top["points expiry"].clicked, top["points expiry"].bounced) == (
        2,
        1,
        1,
    )
    confident = site.config["SUGGEST_THRESHOLD"]
    unanswered = figures(site, searches.no_result_queries, 50, confident)
    assert [q.query for q in unanswered] == ["xqzvw blorptang"] and unanswered[0].confidence < confident
    bounced = [(q.query, q.bounced) for q in figures(site, searches.bounced_queries)]
    assert bounced == [("points expiry", 1), ("xqzvw blorptang", 1)]  # results shown, none opened
    positions = figures(site, searches.click_through_by_position)
    assert (positions[0].position, positions[0].shown, positions[0].clicks) == (1, 4, 1)  # every search
    assert (positions[1].shown, positions[1].clicks) == (sum(r >= 2 for r in _result_counts(site)), 1)
    totals = figures(site, searches.totals, confident)
    assert (totals.searches, totals.visitors, totals.no_results, totals.clicked) == (4, 4, 1, 2)


def _result_counts(app: Any) -> list[int]:
    with session_scope(app) as session:
        return list(session.scalars(select(SearchEvent.result_count).where(SearchEvent.source == "search")))


# -- content gaps ---------------------------------------------------------------------------------------


UNANSWERED = [
    "can I pay with bitcoin",
    "bitcoin payment",
    "paying with bitcoin?",
    "export customers csv",
    "how do I export my customer list to excel",
]


def test_content_gaps_group_unanswered_questions_by_meaning(site: Any) -> None:
    # issue 14: the contact form's drafts are stored without text; a question's text comes with its ticket
    for question in [*UNANSWERED, "bitcoin payment"]:  # asked twice
        visitor = Visitor(site)
        visitor.open_contact()
        assert visitor.suggest(question)["suggestions"] == []  # nothing confident: a gap
        visitor.send_ticket(question, "Please help.")
    with site.app_context():
        from kb.site_state import snapshot

        encode = snapshot().searcher.embedders["minilm"].encode
    report = figures(site, gaps.content_gaps, encode, 0.6)
    assert report.grouped_by_meaning and report.questions == 5
    assert [g.size for g in report.gaps] == [4, 2]  # largest first
    bitcoin, export = report.gaps
    assert {q.text for q in bitcoin.questions} == {
        "can i pay with bitcoin",
        "bitcoin payment",
        "paying with bitcoin?",
    }
    assert bitcoin.label == "bitcoin payment" and bitcoin.kinds == {"contact": 4}
    assert {q.text for q in export.questions} == {
        "export customers csv",
        "how do i export my customer list to excel",
    }

    by_wording = figures(site, gaps.content_gaps, None)  # no model: identical wording only
    assert not by_wording.grouped_by_meaning and [g.size for g in by_wording.gaps] == [2, 1, 1, 1, 1]


def test_tickets_after_failed_deflection_are_gaps_too(site: Any) -> None:
    visitor = Visitor(site)
    visitor.open_contact()
    visitor.open_answer(visitor.suggest(QUESTION))
    reference = visitor.send_ticket("Cancel", "The cancel button is grey.")
    report = figures(site, gaps.content_gaps, None)
    [gap] = report.gaps
    assert gap.kinds == {"ticket": 1} and gap.questions[0].reference == reference
    assert gap.label == "Cancel — The cancel button is grey."


# -- reports --------------------------------------------------------------------------------------------


def test_span_parsing() -> None:
    assert parse_span("30d") == timedelta(days=30) and parse_span("12h") == timedelta(hours=12)
    assert parse_span("2w") == timedelta(weeks=2) and parse_span("7") == timedelta(days=7)
    with pytest.raises(ValueError):
        parse_span("soon")


def test_kb_report_puts_needs_attention_first_in_every_format(site: Any) -> None:
    for helpful in [False] * 5 + [True]:
        visitor = Visitor(site)
        visitor.vote(CANCEL, helpful, query="cancel")
    runner = site.test_cli_runner()
    result = runner.invoke(args=["report", "--since", "7d", "--format", "json", "--no-gaps"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{") :])
    assert next(iter(data)) == "needs_attention"
    assert data["needs_attention"][0]["article_id"] == CANCEL
    assert data["needs_attention"][0]["votes"] == 6 and data["needs_attention"][0]["queries"][0]["query"] == "cancel"
    assert data["helpfulness"]["votes"] == 6

    result = runner.invoke(args=["report", "--since", "7d", "--format", "table", "--no-gaps"])
    assert result.exit_code == 0, result.output
    sections = [
        line
        for line in result.output.splitlines()
        if line.startswith(("Needs attention", "Articles", "Deflection funnel"))
    ]
    assert sections[0].startswith("Needs attention") and "Cancel your subscription" in result.output

    result = runner.invoke(args=["report", "--format", "csv", "--no-gaps"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if not line.startswith("20")]  # log lines
    assert lines[0] == "needs-attention" and lines[1].startswith("#,Article,Visitors likely failed")

    result = runner.invoke(args=["report", "--since", "whenever"])
    assert result.exit_code == 2 and "--since" in result.output


def test_report_tables_are_what_kb_report_prints(site: Any) -> None:
    for helpful in [False] * 5 + [True]:
        Visitor(site).vote(CANCEL, helpful)
    with site.app_context(), session_scope(site) as session:
        from kb.site_state import library

        printed = analytics.report_tables(session, Period.last(7), library(), weekly=True)
        text = printed.text_blocks(limit=20)
    assert [title for title, _table in printed.tables][:3] == [
        "Needs attention (visitors likely failed)",
        "Deflection funnel",
        "Deflection rate per week",
    ]
    assert printed.tables[0][1].rows[0]["article_id"] == CANCEL
    assert text[0].startswith("kb report: ") and "6 votes (17% helpful)" in text[1]
    assert text[2].startswith("Needs attention") and "Cancel your subscription" in text[2]


def test_figures_are_filtered_by_locale(site: Any) -> None:
    Visitor(site).vote(CANCEL, False)
    Visitor(site).search_page("points expiry")
    with session_scope(site) as session:
        korean = Period.last(7, locale="ko")
        assert helpfulness.article_figures(session, korean) == {}
        assert searches.totals(session, korean).searches == 0
        english = Period.last(7, locale="en")
        assert helpfulness.article_figures(session, english)[CANCEL].votes == 1
        assert searches.totals(session, english).searches == 1


def test_overview_of_an_empty_period_is_empty(site: Any) -> None:
    view = figures(site, analytics.overview, analytics.Settings.from_config(site.config))
    assert view.empty and view.attention == [] and view.funnel.rate is None


# -- the same SQL on PostgreSQL ---------------------------------------------------------------------------

# ``database`` (conftest.py): a fresh database on the session's throwaway PostgreSQL server, else a skip.


def test_the_same_figures_on_postgresql(indexed_root: Path, database: str) -> None:
    """Every report runs as portable SQL: the windows, day buckets and window functions on PostgreSQL."""
    from kb import create_app, db

    db.upgrade(database)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "ARTICLES_DIR": str(indexed_root / "articles"),
            "SEARCH_INDEX_DIR": str(indexed_root / "search_index"),
            "DATABASE_URL": database,
            "INDEX_RELOAD_SECONDS": 0.0,
            **GENEROUS,
        }
    )
    said_yes = Visitor(app)
    said_yes.open_contact()
    said_yes.say_answered(said_yes.open_answer(said_yes.suggest(QUESTION)), True, QUESTION)
    quiet = Visitor(app)
    quiet.open_contact()
    quiet.open_answer(quiet.suggest(QUESTION))
    move_back(app, quiet, 25)
    sent_anyway = Visitor(app)
    sent_anyway.read(CANCEL, query="cancel plan")
    sent_anyway.open_contact()
    sent_anyway.open_answer(sent_anyway.suggest(QUESTION))
    sent_anyway.send_ticket("Cancel", "The cancel button is grey.")
    for helpful in (True, True, True):
        Visitor(app).vote(EXPIRY, helpful)
    for _ in range(5):
        visitor = Visitor(app)
        visitor.vote(CANCEL, False, query="cancel plan")
        visitor.say_why(CANCEL, "out_of_date", "moved")
    Visitor(app).search_page("points expiry")

    funnel = figures(app, deflection.funnel)
    assert (funnel.explicit, funnel.implicit, funnel.failed, funnel.tickets) == (1, 1, 1, 1)
    by_article = figures(app, helpfulness.article_figures)
    assert by_article[EXPIRY].wilson == pytest.approx(0.4385, abs=5e-5)
    assert (by_article[CANCEL].failed, by_article[CANCEL].tickets_after_reading) == (1, 1)
    ranked, _ = figures(app, helpfulness.needs_attention, 5)
    assert ranked[0].figures.article_id == CANCEL and ranked[0].queries == [("cancel plan", 6)]
    assert len(ranked[0].comments) == 5
    assert sum(p.resolved for p in figures(app, deflection.rate_over_time, bucket="week")) == funnel.resolved
    assert len(figures(app, helpfulness.revision_figures, CANCEL)) == 1
    assert figures(app, searches.totals, 0.42).searches == 1
    assert figures(app, searches.click_through_by_position)[0].shown == 1
    assert figures(app, gaps.content_gaps, None).gaps[0].kinds == {"ticket": 1}
    result = app.test_cli_runner().invoke(args=["report", "--format", "json", "--no-gaps"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{") :])["needs_attention"][0]["article_id"] == CANCEL
    runner = app.test_cli_runner()
    assert (
        runner.invoke(args=["users", "add", "a@example.com"], input="long password 1\nlong password 1\n").exit_code == 0
    )
    admin = Visitor(app)
    admin.get("/admin/login")
    data = {"csrf_token": admin.token, "email": "a@example.com", "password": "long password 1"}
    assert admin.client.post("/admin/login", data=data).status_code == 303
    for page in (
        "/admin/",
        "/admin/attention",
        "/admin/gaps",
        "/admin/searches",
        "/admin/tickets",
        "/admin/articles",
        f"/admin/articles/{CANCEL}",
        "/admin/tickets?delivery=not+sent",
    ):
        admin.get(page)
