"""/admin through the test client with CSRF on: access control, login, pages, tables, CSV, empty states."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port, make_app, write_tree
from sqlalchemy import select
from visitors import Visitor, token_in

from kb.db import session_scope
from kb.models import User

EMAIL, PASSWORD = "writer@example.com", "correct horse battery"
PAGES = [
    "/admin/",
    "/admin/attention",
    "/admin/gaps",
    "/admin/searches",
    "/admin/tickets",
    "/admin/articles",
    "/admin/articles/en/cancel-your-subscription",
    "/admin/?export=csv",
    "/admin/tickets?export=csv",
]
CANCEL = "en/cancel-your-subscription"
SETTINGS = {
    "WTF_CSRF_ENABLED": True,
    "CONTACT_RATE_LIMIT": "1000 per minute",
    "FEEDBACK_RATE_LIMIT": "1000 per minute",
}


def add_user(app: Any, email: str = EMAIL, password: str = PASSWORD) -> Any:
    return app.test_cli_runner().invoke(args=["users", "add", email], input=f"{password}\n{password}\n")


@pytest.fixture
def site(indexed_root: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    app = make_app(indexed_root / "articles", indexed_root / "search_index", tmp_path / "kb.sqlite3", **SETTINGS)
    result = add_user(app)
    assert result.exit_code == 0, result.output
    return app


def sign_in(app: Any, email: str = EMAIL, password: str = PASSWORD, next_url: str = "") -> Any:
    client = app.test_client()
    token = token_in(client.get("/admin/login").get_data(as_text=True))
    response = client.post(
        "/admin/login", data={"csrf_token": token, "email": email, "password": password, "next": next_url}
    )
    return client, response


@pytest.fixture
def admin(site: Any) -> Any:
    client, response = sign_in(site)
    assert response.status_code == 303
    return client


# -- users and access -----------------------------------------------------------------------------------


def test_users_add_asks_twice_and_stores_a_hash(site: Any) -> None:
    with session_scope(site) as session:
        user = session.scalars(select(User)).one()
        assert user.email == EMAIL and PASSWORD not in user.password_hash
        assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    result = site.test_cli_runner().invoke(
        args=["users", "add", "b@example.com"],
        input="one long password\nanother long password\none long password\none long password\n",
    )
    assert result.exit_code == 0 and "do not match" in result.output.lower()
    result = add_user(site, "c@example.com", "short")
    assert result.exit_code == 1 and "at least 10 characters" in result.output
    result = add_user(site, EMAIL, "a brand new password")
    assert result.exit_code == 0 and "Changed the password" in result.output


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_get_the_login_page(site: Any, url: str) -> None:
    response = site.test_client().get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")
    page = site.test_client().get(response.headers["Location"]).get_data(as_text=True)
    assert "Sign in to the help center admin" in page and "Needs attention" not in page


def test_sign_in_takes_you_where_you_were_going(site: Any) -> None:
    client, response = sign_in(site, next_url="/admin/searches")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/searches"
    assert client.get("/admin/searches").status_code == 200
    _, response = sign_in(site, next_url="https://evil.example/")
    assert response.headers["Location"] == "/admin/"  # never off the site


@pytest.mark.parametrize(("email", "password"), [(EMAIL, "wrong password!"), ("nobody@example.com", PASSWORD)])
def test_wrong_credentials_fail(site: Any, email: str, password: str) -> None:
    client, response = sign_in(site, email, password)
    assert response.status_code == 401
    assert "Wrong email address or password." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_login_refuses_a_post_without_the_token(site: Any) -> None:
    client = site.test_client()
    client.get("/admin/login")
    response = client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 400 and "The form had expired" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_logout_needs_the_token_too(admin: Any) -> None:
    assert admin.post("/admin/logout").status_code == 400
    assert admin.get("/admin/").status_code == 200
    token = token_in(admin.get("/admin/").get_data(as_text=True))
    assert admin.post("/admin/logout", data={"csrf_token": token}).status_code == 303
    assert admin.get("/admin/").status_code == 302


def test_login_is_rate_limited(indexed_root: Path, tmp_path: Path) -> None:
    app = make_app(
        indexed_root / "articles",
        indexed_root / "search_index",
        tmp_path / "kb.sqlite3",
        WTF_CSRF_ENABLED=True,
        LOGIN_RATE_LIMIT="3 per minute",
    )
    add_user(app)
    for _ in range(3):
        assert sign_in(app, password="guessing wrong")[1].status_code == 401
    client, response = sign_in(app)  # the right password, too late
    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_signing_in_starts_a_new_session(site: Any) -> None:
    client = site.test_client()
    token = token_in(client.get("/admin/login").get_data(as_text=True))
    with client.session_transaction() as state:
        state["planted"] = "by someone else"  # a session fixed before the login
    client.post("/admin/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD})
    with client.session_transaction() as state:
        assert "planted" not in state and state["_user_id"] and state["kb_admin"]["seen"]
    with session_scope(site) as session:
        session.delete(session.scalars(select(User)).one())
        session.commit()
    assert client.get("/admin/").status_code == 302  # a removed user is signed out


def test_an_idle_session_times_out(site: Any) -> None:
    site.config["PERMANENT_SESSION_LIFETIME"] = 60
    client, _ = sign_in(site)
    assert client.get("/admin/").status_code == 200
    with client.session_transaction() as state:
        state["kb_admin"]["seen"] = time.time() - 61  # last request a minute ago
    response = client.get("/admin/tickets")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "signed out after a period without activity" in page


def test_admin_pages_are_private(admin: Any) -> None:
    response = admin.get("/admin/")
    assert response.headers["Cache-Control"] == "no-store"
    assert 'name="robots" content="noindex' in response.get_data(as_text=True)


# -- pages ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders_for_a_user(admin: Any, url: str) -> None:
    assert admin.get(url).status_code == 200


def test_empty_pages_say_so_and_what_will_appear(admin: Any) -> None:
    expectations = {
        "/admin/": "Nothing recorded from",
        "/admin/attention": "No article needs attention in this period",
        "/admin/gaps": "No unanswered questions in this period",
        "/admin/searches": "No searches in this period",
        "/admin/tickets": "No tickets in this period",
        "/admin/articles": "No article was read or voted on in this period",
    }
    for url, text in expectations.items():
        assert text in admin.get(url).get_data(as_text=True), url


def test_overview_has_server_side_charts_and_the_search_status(site: Any, admin: Any) -> None:
    visitor = Visitor(site)
    visitor.open_contact()
    visitor.say_answered(visitor.open_answer(visitor.suggest("how do I cancel my plan")), True)
    Visitor(site).vote(CANCEL, False)
    html = admin.get("/admin/").get_data(as_text=True)
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 3
    assert 'role="img"' in html and "Deflection funnel (visitor-days)" in html
    assert "<script" not in html.split("<main", 1)[1]  # no script needed for the charts
    assert "http" not in "".join(html.split("<svg")[1:]).replace("http://www.w3.org/2000/svg", "")  # no CDN
    assert "Semantic search is on" in html


def test_overview_says_when_semantic_search_is_off(articles_dir: Path, tmp_path: Path) -> None:
    app = make_app(articles_dir, tmp_path / "no_index", tmp_path / "kb.sqlite3", WTF_CSRF_ENABLED=True)
    add_user(app)
    client, _ = sign_in(app)
    assert "There is no search index" in client.get("/admin/").get_data(as_text=True)


def test_comments_are_shown_escaped(site: Any, admin: Any) -> None:
    nasty = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    for i in range(5):
        visitor = Visitor(site)
        visitor.vote(CANCEL, False, query="<b>cancel</b>")
        visitor.say_why(CANCEL, "missing", nasty if i == 0 else "")
    for url in ("/admin/attention", "/admin/articles/en/cancel-your-subscription"):
        html = admin.get(url).get_data(as_text=True)
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html, url
        assert "<script>alert" not in html and "<img src=x" not in html and "<b>cancel</b>" not in html


def test_tables_sort_and_export_csv_safely(site: Any, admin: Any) -> None:
    for i in range(5):
        visitor = Visitor(site)
        visitor.vote(CANCEL, False)
        visitor.say_why(CANCEL, "missing", '=HYPERLINK("http://evil.example")' if i == 0 else "")
    Visitor(site).read("en/set-up-points-expiry")
    Visitor(site).read("en/install-on-shopify")
    Visitor(site).read("en/install-on-shopify")
    html = admin.get("/admin/articles?sort=views&dir=asc").get_data(as_text=True)
    assert (
        html.index("Set up points expiry")
        < html.index("Install Perkly on Shopify")
        < html.index("Cancel your subscription")
    )
    assert 'aria-sort="ascending"' in html
    html = admin.get("/admin/articles?sort=views&dir=desc").get_data(as_text=True)
    assert html.index("Cancel your subscription") < html.index("Install Perkly on Shopify")

    response = admin.get("/admin/attention?export=csv")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0]["Article"] == "Cancel your subscription" and rows[0]["Votes"] == "5"
    assert rows[0]["Latest comments"].startswith("'=HYPERLINK")  # a spreadsheet will not run it


def test_filters_by_date_range_and_locale(site: Any, admin: Any) -> None:
    Visitor(site).read(CANCEL)
    html = admin.get("/admin/articles?from=2001-01-01&to=2001-01-31").get_data(as_text=True)
    assert "No article was read or voted on in this period" in html
    assert 'value="2001-01-01"' in html and 'value="2001-01-31"' in html
    html = admin.get("/admin/articles?data_locale=en").get_data(as_text=True)
    assert "Cancel your subscription" in html and '<option value="en" selected>' in html


KOREAN_CANCEL = """\
    ---
    title: 구독 취소
    summary: Perkly 결제를 중단하는 방법.
    ---

    **설정 > 결제**에서 **구독 취소**를 누르세요.
    """


def test_the_data_filter_is_not_the_page_language(articles_dir: Path, tmp_path: Path) -> None:
    write_tree(articles_dir, {"ko/billing/cancel-your-subscription.md": KOREAN_CANCEL})
    write_tree(articles_dir, {"fr/billing/cancel-your-subscription.md": KOREAN_CANCEL.replace("구독 취소", "Résilier")})
    app = make_app(articles_dir, tmp_path / "no_index", tmp_path / "kb.sqlite3", **SETTINGS)
    add_user(app)
    Visitor(app).vote(CANCEL, False)
    Visitor(app).vote("ko/cancel-your-subscription", True)
    client, _ = sign_in(app)
    client.set_cookie("kb_locale", "fr")  # the admin reads French, the figures are of the Korean articles
    html = client.get("/admin/articles?data_locale=ko").get_data(as_text=True)
    assert '<html lang="fr"' in html and "Vue d’ensemble" in html and "Vues" in html
    assert "구독 취소" in html and "Cancel your subscription" not in html and "Résilier" not in html
    assert '<option value="ko" selected>' in html and "data_locale=ko" in html  # kept in the links
    csv_response = client.get("/admin/articles?data_locale=ko&export=csv")
    assert "-ko.csv" in csv_response.headers["Content-Disposition"]
    assert "구독 취소" in csv_response.get_data(as_text=True)
    html = client.get("/admin/articles?locale=ko").get_data(as_text=True)
    assert "Cancel your subscription" in html and "구독 취소" in html  # ?locale= is the page's language only


def test_article_page_shows_history_comments_and_queries(site: Any, admin: Any) -> None:
    visitor = Visitor(site)
    visitor.vote(CANCEL, False, query="stop paying")
    visitor.say_why(CANCEL, "out_of_date", "Billing moved to Settings")
    html = admin.get("/admin/articles/en/cancel-your-subscription").get_data(as_text=True)
    assert "History by revision" in html and "Billing moved to Settings" in html and "stop paying" in html
    with site.app_context():
        from kb.site_state import library

        assert library().by_id(CANCEL).revision in html
    csv_text = admin.get("/admin/articles/en/cancel-your-subscription?export=revisions").get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("Revision,First seen,Views,Votes")


def test_tickets_show_context_and_failed_deliveries(indexed_root: Path, tmp_path: Path) -> None:
    app = make_app(
        indexed_root / "articles",
        indexed_root / "search_index",
        tmp_path / "kb.sqlite3",
        **SETTINGS,
        TICKET_DELIVERY="webhook",
        OUTBOX_MAX_ATTEMPTS=1,
        DELIVERY_TIMEOUT_SECONDS=1,
        TICKET_WEBHOOK_URL=f"http://127.0.0.1:{free_port()}/hook",
    )
    add_user(app)
    visitor = Visitor(app)
    visitor.open_contact()
    visitor.open_answer(visitor.suggest("how do I cancel my plan"))
    reference = visitor.send_ticket("Cancel", "The cancel button is grey <b>help</b>.")
    from kb.models import OutboxMessage

    for _ in range(300):  # issue 14: the one try happens after the request, in the background
        with session_scope(app) as session:
            if all(m.status == "failed" for m in session.scalars(select(OutboxMessage))):
                break
        time.sleep(0.05)
    client, _ = sign_in(app)
    html = client.get("/admin/tickets").get_data(as_text=True)
    assert reference in html and "after reading answers" in html
    # what the visitor did first; issue 14: the contact form's draft is not kept, the ticket's subject names it
    assert "how do I cancel my plan" not in html and CANCEL in html
    assert "delivery-failed" in html and "message(s) could not be delivered" in html
    assert "The cancel button is grey &lt;b&gt;help&lt;/b&gt;." in html
    failed = client.get("/admin/tickets?delivery=failed").get_data(as_text=True)
    assert reference in failed
    assert reference not in client.get("/admin/tickets?delivery=sent").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(client.get("/admin/tickets?export=csv").get_data(as_text=True))))
    assert rows[0]["Reference"] == reference and rows[0]["Delivery"] == "failed"
    assert rows[0]["Last delivery error"]
