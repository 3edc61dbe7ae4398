"""The help widget's server side with Flask's test client: origins and CORS, the panel's token, signed
identities, page-context rules, and the widget's records saying where they came from."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from conftest import MINI_ARTICLES, make_app, write_tree
from flask import Flask
from sqlalchemy import inspect, select

from kb.config import Settings
from kb.content.loader import load_library
from kb.db import session_scope
from kb.models import SearchEvent, Ticket, Vote
from kb.widget import contexts, identity, origins, tokens

HOST = "http://127.0.0.1:8123"
SECRET = "shared-with-the-host"
BILLING_RULES = {
    **MINI_ARTICLES,
    "en/billing/cancel-your-subscription.md": MINI_ARTICLES["en/billing/cancel-your-subscription.md"].replace(
        "tags: [billing, cancel]", "tags: [billing, cancel]\n        contexts: ['/settings/billing*']"
    ),
    "en/points/set-up-points-expiry.md": MINI_ARTICLES["en/points/set-up-points-expiry.md"].replace(
        "tags: [points, expiry]", "tags: [points, expiry]\n        contexts: ['/settings/*', '/points*']"
    ),
}


@pytest.fixture
def widget_app(tmp_path: Path) -> Flask:
    articles = write_tree(tmp_path / "articles", BILLING_RULES)
    return make_app(
        articles, tmp_path / "search_index", tmp_path / "kb.sqlite3", WIDGET_ORIGINS=f"{HOST}, https://app.example.com"
    )


def token_for(client: Any, origin: str = HOST) -> str:
    answer = client.get("/widget/session?locale=en", headers={"Origin": origin})
    assert answer.status_code == 200, answer.data
    return str(answer.json["token"])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://App.Example.com/", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("https://app.example.com/path", ""),
        ("javascript:alert(1)", ""),
        ("null", ""),
    ],
)
def test_origins_are_normalised(raw: str, expected: str) -> None:
    assert origins.normalise(raw) == expected


def test_cors_headers_only_for_listed_origins() -> None:
    settings = Settings(widget_origins="https://app.example.com https://admin.example.com")
    assert origins.cors_headers("https://app.example.com", settings)["Access-Control-Allow-Origin"] == (
        "https://app.example.com"
    )
    assert origins.cors_headers("https://evil.example.com", settings) == {}
    assert origins.cors_headers(None, settings) == {}
    assert origins.cors_headers("https://app.example.com", Settings()) == {}  # empty setting: nobody


def test_token_is_bound_to_origin_and_expires() -> None:
    token, visitor = tokens.issue("k", HOST)
    assert tokens.check("k", token, HOST, 60).visitor == visitor
    with pytest.raises(tokens.TokenInvalid, match="another origin"):
        tokens.check("k", token, "https://app.example.com", 60)
    with pytest.raises(tokens.TokenInvalid, match="not signed"):
        tokens.check("other key", token, HOST, 60)
    with pytest.raises(tokens.TokenInvalid, match="expired"):
        tokens.check("k", token, HOST, -1)
    assert tokens.visitor_of("k", token, HOST) == visitor


def test_identity_signature_checks_user_email_and_expiry() -> None:
    now = time.time()
    good = identity.sign(SECRET, "u-42", "Ada@Example.com", int(now) + 3600)
    assert identity.verify(SECRET, "u-42", "ada@example.com", good, now).verified
    assert identity.verify(SECRET, "u-42", "eve@example.com", good, now).reason == "signature does not match"
    assert identity.verify(SECRET, "u-43", "ada@example.com", good, now).reason == "signature does not match"
    assert identity.verify("wrong", "u-42", "ada@example.com", good, now).reason == "signature does not match"
    assert identity.verify(SECRET, "u-42", "ada@example.com", good, now + 7200).reason == "signature expired"
    far = identity.sign(SECRET, "u-42", "ada@example.com", int(now) + 30 * 86400)
    assert not identity.verify(SECRET, "u-42", "ada@example.com", far, now).verified
    assert not identity.verify("", "u-42", "ada@example.com", good, now).verified
    assert identity.verify(SECRET, "u-42", "ada@example.com", "garbage", now).reason == "malformed identity token"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/settings/billing*", "/settings/billing", True),
        ("/settings/billing*", "/settings/billing/invoices", True),
        ("/settings/billing*", "/settings/team", False),
        ("/settings/billing", "/settings/billing/", True),
        ("settings/*", "/settings/team", True),
        ("/points", "/Points", True),
        ("/", "/", True),
        ("/", "/settings", False),
    ],
)
def test_context_patterns_match_paths(pattern: str, path: str, expected: bool) -> None:
    assert contexts.matches(pattern, path) is expected


def test_page_path_drops_query_and_origin() -> None:
    assert contexts.page_path("https://app.example.com/settings/billing?card=4242#x") == "/settings/billing"
    assert contexts.page_path("settings") == "/settings"
    assert contexts.search_words("/stores/1234/settings/billing-plans", "Billing | Acme") == (
        "stores settings billing plans Billing | Acme"
    )


def test_front_matter_contexts_choose_articles_most_specific_then_helpful(tmp_path: Path) -> None:
    library = load_library(write_tree(tmp_path / "articles", BILLING_RULES))
    english = library.in_locale("en")
    assert [a.slug for a in contexts.for_path(english, "/settings/billing")] == [
        "cancel-your-subscription",
        "set-up-points-expiry",
    ]
    helpful = {"en/set-up-points-expiry": 3}
    assert contexts.for_path(english, "/settings/billing", helpful)[0].slug == "set-up-points-expiry"
    assert contexts.for_path(english, "/orders") == []
    assert not [p for p in library.problems if "contexts" in p.message]


def test_loader_and_panel_are_served_to_any_page_without_cookie(widget_app: Flask) -> None:
    client = widget_app.test_client()
    for path, kind in [("/widget.js", "text/javascript"), ("/widget/panel.js", "text/javascript")]:
        answer = client.get(path, headers={"Origin": "https://unlisted.example.com"})
        assert answer.status_code == 200
        assert answer.mimetype == kind
        assert "Set-Cookie" not in answer.headers
        assert answer.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert client.get("/widget/panel.css").mimetype == "text/css"


def test_session_gives_token_and_words_to_listed_origin_only(widget_app: Flask) -> None:
    client = widget_app.test_client()
    answer = client.get("/widget/session?locale=en", headers={"Origin": HOST})
    assert answer.headers["Access-Control-Allow-Origin"] == HOST
    assert "Set-Cookie" not in answer.headers
    assert answer.json["texts"]["ask"] == "Did this answer your question?"
    assert answer.json["dir"] == "ltr" and answer.json["reasons"]
    refused = client.get("/widget/session", headers={"Origin": "https://evil.example.com"})
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert client.get("/widget/session").status_code == 403  # no Origin: not a browser on a listed host


def test_api_needs_a_token_for_the_same_origin(widget_app: Flask) -> None:
    client = widget_app.test_client()
    token = token_for(client)
    ok = client.get(f"/widget/context?page=/settings/billing&t={token}", headers={"Origin": HOST})
    assert ok.status_code == 200
    assert ok.json["rule"] == "contexts"
    assert [a["id"] for a in ok.json["articles"]][0] == "en/cancel-your-subscription"
    assert client.get("/widget/context?page=/x", headers={"Origin": HOST}).status_code == 401
    other = token_for(client, "https://app.example.com")
    assert client.get(f"/widget/context?t={other}", headers={"Origin": HOST}).status_code == 401


def test_host_can_choose_the_suggestions(widget_app: Flask) -> None:
    client = widget_app.test_client()
    token = token_for(client)
    answer = client.get(
        f"/widget/context?page=/settings/billing&slugs=launch-your-program,nope&t={token}", headers={"Origin": HOST}
    )
    assert answer.json["rule"] == "host"
    assert [a["id"] for a in answer.json["articles"]] == ["en/launch-your-program"]


def rows(app: Flask, model: Any) -> list[Any]:
    with session_scope(app) as session:
        found = list(session.scalars(select(model)))
        for row in found:
            session.expunge(row)
        return found


def test_vote_from_widget_says_widget_and_host_page(widget_app: Flask) -> None:
    client = widget_app.test_client()
    token = token_for(client)
    form = {"t": token, "page": "/settings/billing?secret=1", "article_id": "en/cancel-your-subscription"}
    answer = client.post("/widget/vote", data={**form, "step": "vote", "helpful": "no"}, headers={"Origin": HOST})
    assert answer.json == {"step": "reason", "helpful": False}
    answer = client.post(
        "/widget/vote",
        data={**form, "step": "reason", "helpful": "no", "reason": "out_of_date", "comment": "old"},
        headers={"Origin": HOST},
    )
    assert answer.json["step"] == "thanks"
    (vote,) = rows(widget_app, Vote)
    assert (vote.channel, vote.page_path, vote.reason, vote.helpful) == (
        "widget",
        "/settings/billing",
        "out_of_date",
        False,
    )
    assert "Set-Cookie" not in answer.headers


def test_cross_site_form_post_without_token_is_refused(widget_app: Flask) -> None:
    client = widget_app.test_client()
    data = {"article_id": "en/cancel-your-subscription", "step": "vote", "helpful": "yes"}
    assert client.post("/widget/vote", data=data, headers={"Origin": HOST}).status_code == 401
    assert client.post("/widget/vote", data=data, headers={"Origin": "https://evil.example.com"}).status_code == 403
    assert rows(widget_app, Vote) == []


def ticket_form(token: str, **extra: str) -> dict[str, str]:
    return {
        "t": token,
        "page": "/settings/billing",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "subject": "Our export looks odd",
        "message": "The numbers in the monthly export do not add up.",
        "topic": "",
        "send": "1",
        **extra,
    }


def test_ticket_trusts_identity_only_with_valid_signature(tmp_path: Path) -> None:
    app = make_app(
        write_tree(tmp_path / "articles", MINI_ARTICLES),
        tmp_path / "search_index",
        tmp_path / "kb.sqlite3",
        WIDGET_ORIGINS=HOST,
        WIDGET_SECRET=SECRET,
    )
    client = app.test_client()
    token = token_for(client)
    signed = identity.sign(SECRET, "u-42", "ada@example.com", int(time.time()) + 600)
    good = client.post(
        "/widget/ticket",
        data=ticket_form(token, identity_id="u-42", identity_email="ada@example.com", identity_token=signed),
        headers={"Origin": HOST},
    )
    assert good.json["step"] == "sent" and good.json["verified"] is True
    forged = client.post(
        "/widget/ticket",
        data=ticket_form(
            token, email="eve@example.com", identity_id="u-42", identity_email="eve@example.com", identity_token=signed
        ),
        headers={"Origin": HOST},
    )
    assert forged.json["step"] == "sent" and forged.json["verified"] is False
    trusted, untrusted = rows(app, Ticket)
    assert trusted.context["identity"] == "verified by signature"
    assert trusted.context["identity_user_id"] == "u-42"
    assert untrusted.context["identity"] == "not verified (signature does not match)"
    assert (trusted.channel, trusted.page_path) == ("widget", "/settings/billing")
    assert untrusted.email == "eve@example.com"


def test_invalid_ticket_answers_field_errors(widget_app: Flask) -> None:
    client = widget_app.test_client()
    answer = client.post(
        "/widget/ticket", data=ticket_form(token_for(client), email="not-an-email"), headers={"Origin": HOST}
    )
    assert answer.status_code == 422
    assert "email" in answer.json["errors"]
    assert rows(widget_app, Ticket) == []


def test_site_records_stay_site(indexed_app: Flask) -> None:
    client = indexed_app.test_client()
    assert client.get("/api/suggest?q=points expiry").status_code == 200
    (event,) = rows(indexed_app, SearchEvent)
    assert (event.channel, event.page_path) == ("site", "")


def test_widget_search_is_recorded_as_widget(indexed_root: Path, tmp_path: Path) -> None:
    indexed_app = make_app(
        indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3", WIDGET_ORIGINS=HOST
    )
    client = indexed_app.test_client()
    token = token_for(client)
    answer = client.get(
        f"/widget/suggest?q=how do points expire&page=/points/rules&t={token}", headers={"Origin": HOST}
    )
    assert answer.json["suggestions"][0]["id"] == "en/set-up-points-expiry"
    (event,) = rows(indexed_app, SearchEvent)
    assert (event.channel, event.page_path, event.source) == ("widget", "/points/rules", "suggest")


def test_migration_adds_widget_columns(tmp_path: Path) -> None:
    from kb import db

    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    db.upgrade(url)
    from sqlalchemy import create_engine

    engine = create_engine(url)
    for table in ("search_events", "votes", "tickets"):
        assert {"channel", "page_path"} <= {c["name"] for c in inspect(engine).get_columns(table)}
    engine.dispose()


def test_admin_compares_sources_and_lists_product_pages(indexed_root: Path, tmp_path: Path) -> None:
    from test_admin import SETTINGS, add_user, sign_in

    from kb.analytics import sources
    from kb.analytics.period import Period

    app = make_app(
        indexed_root / "articles",
        indexed_root / "search_index",
        tmp_path / "kb.sqlite3",
        WIDGET_ORIGINS=HOST,
        **SETTINGS,
    )
    client = app.test_client()
    token = token_for(client)
    for page in ("/settings/billing", "/settings/billing", "/settings/billing", "/points/rules"):
        client.get(f"/widget/suggest?q=how do points expire&page={page}&t={token}", headers={"Origin": HOST})
    client.post("/widget/ticket", data=ticket_form(token, page="/points/rules"), headers={"Origin": HOST})
    client.get("/api/suggest?q=points expiry")
    client.get("/api/suggest?q=cancel my plan&source=contact")
    with session_scope(app) as session:
        period = Period.last(1)
        by_source = {str(r["source"]): r for r in sources.source_table(session, period).rows}
        pages = sources.page_table(session, period).rows
    assert by_source["Widget in the product"]["searches"] == 4
    assert by_source["Widget in the product"]["tickets"] == 1
    assert by_source["Contact page"]["searches"] == 1
    assert by_source["Help center site"]["searches"] == 1
    assert pages[0] == {"page": "/settings/billing", "questions": 3, "tickets": 0}
    assert pages[1] == {"page": "/points/rules", "questions": 1, "tickets": 1}
    assert add_user(app).exit_code == 0
    admin, _ = sign_in(app)
    html = admin.get("/admin/").get_data(as_text=True)
    assert "Where questions come from" in html and "/settings/billing" in html


def test_widget_files_fit_their_budget() -> None:
    import gzip

    assets = Path(__file__).resolve().parent.parent / "kb" / "static" / "widget"
    loader = len(gzip.compress((assets / "loader.js").read_bytes(), 9))
    panel = sum(len(gzip.compress((assets / f).read_bytes(), 9)) for f in ("panel.js", "panel.css"))
    assert loader <= 3 * 1024
    assert panel <= 25 * 1024


def test_odd_input_gets_a_plain_answer_never_a_500(widget_app: Flask) -> None:
    client = widget_app.test_client()
    token = token_for(client)
    h = {"Origin": HOST, "Accept": "application/json"}
    long_page = "/x" * 3000
    assert client.get(f"/widget/context?page={long_page}&title=%00%00&t={token}", headers=h).status_code == 200
    assert client.get(f"/widget/suggest?q=a%00b&page=%00&t={token}", headers=h).status_code == 200
    assert client.get(f"/widget/articles/xx/nothing?t={token}", headers=h).status_code == 404
    assert client.post("/widget/opened", data={"t": token, "article_id": "nope"}, headers=h).status_code == 404
    assert client.post("/widget/vote", data={"t": token}, headers=h).status_code == 404
    vote = {"t": token, "article_id": "en/launch-your-program", "helpful": "maybe", "page": long_page}
    assert client.post("/widget/vote", data=vote, headers=h).status_code == 422
    assert client.post("/widget/ticket", data={"t": token}, headers=h).status_code == 422
    assert client.get("/widget/session?t=garbage&locale=%00", headers=h).status_code == 200
