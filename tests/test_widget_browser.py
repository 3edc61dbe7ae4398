"""The help widget in Debian's headless Chromium: a host page served from another loopback origin than kb
embeds /widget.js, and the merchant opens, reads, votes and writes as in the product."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import build, free_port, make_app, needs_chromium, served, write_tree
from sqlalchemy import select
from test_widget import BILLING_RULES

from kb.db import session_scope
from kb.models import SearchEvent, Ticket, Vote
from kb.widget import identity

pytestmark = needs_chromium
SECRET = "shared-with-the-host"
STRICT_CSP = "script-src {kb}; connect-src {kb}; style-src {kb}"


def host_page(kb: str, lang: str = "en", extra: str = "") -> str:
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{"إعدادات انتهاء صلاحية النقاط" if lang == "ar" else "Billing settings"}</title></head>
<body><header><a href="/">Acme app</a> <button id="host-button">Save</button></header>
<main><h1>Billing</h1><p>Your plan, invoices and payment method.</p></main>
{extra}<script src="{kb}/widget.js" async></script></body></html>"""


@contextmanager
def host_site(page: dict[str, Any]) -> Iterator[str]:
    """A tiny host app on its own loopback port: every path answers ``page["html"]`` (a single-page app)."""

    class Host(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = page["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            if page.get("csp"):
                self.send_header("Content-Security-Policy", page["csp"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """kb over articles with ``contexts:`` rules, and a host app on another origin that lists it."""
    root = tmp_path_factory.mktemp("widget")
    articles = write_tree(root / "articles", BILLING_RULES)
    page: dict[str, Any] = {"html": ""}
    with host_site(page) as host:
        app = make_app(
            articles,
            root / "search_index",
            root / "kb.sqlite3",
            WIDGET_ORIGINS=host,
            WIDGET_SECRET=SECRET,
            CONTACT_RATE_LIMIT="200 per minute",
            FEEDBACK_RATE_LIMIT="200 per minute",
        )
        build(app)
        with served(app) as kb:
            page["html"] = host_page(kb)
            yield {"app": app, "kb": kb, "host": host, "page": page}


@pytest.fixture
def tab(browser: Any, site: dict[str, Any]) -> Iterator[Any]:
    site["page"].update(html=host_page(site["kb"]), csp="")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def rows(app: Any, model: Any) -> list[Any]:
    with session_scope(app) as session:
        found = list(session.scalars(select(model).order_by(model.id)))
        for row in found:
            session.expunge(row)
        return found


def open_with_keyboard(page: Any) -> None:
    page.locator("#host-button").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.shadowRoot.activeElement.getAttribute('aria-label')") == "Help"
    page.keyboard.press("Enter")
    page.locator(".kb-panel[role=dialog]").wait_for(state="visible")


def titles(page: Any) -> list[str]:
    page.locator(".kb-body .kb-item-title").first.wait_for(state="visible")
    return [str(t) for t in page.locator(".kb-body .kb-item-title").all_text_contents()]


def wait_first_title(page: Any, title: str) -> None:
    page.wait_for_function(
        "t => document.querySelector('[data-kb-widget]').shadowRoot.querySelector('.kb-item-title')?.textContent === t",
        arg=title,
    )


def record_events(page: Any) -> None:
    page.evaluate(
        "window.seen = []; ['open','close','search','article-viewed','vote','ticket-sent'].forEach("
        "n => kb('on', n, e => window.seen.push([n, e])))"
    )


def test_keyboard_opens_dialog_with_page_suggestions_and_esc_returns_focus(tab: Any, site: dict[str, Any]) -> None:
    tab.goto(f"{site['host']}/settings/billing")
    assert tab.evaluate("document.cookie") == ""
    assert tab.evaluate("sessionStorage.length") == 0
    fetched = tab.evaluate(
        "performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/widget'))"
    )
    assert fetched == [f"{site['kb']}/widget.js"]  # the panel waits for intent
    launcher = tab.locator("[data-kb-widget]").evaluate("e => e.getBoundingClientRect().toJSON()")
    assert (launcher["width"], launcher["height"]) == (0, 0)  # fixed and empty: nothing on the page moves
    open_with_keyboard(tab)
    panel = tab.locator(".kb-panel")
    assert panel.get_attribute("aria-modal") == "true"
    assert tab.evaluate("document.activeElement.shadowRoot.activeElement.id") == "kb-q"
    assert titles(tab)[:2] == ["Cancel your subscription", "Set up points expiry"]  # contexts:, most specific first
    for _ in range(12):  # focus stays inside the dialog
        tab.keyboard.press("Tab")
        assert tab.evaluate("!!document.activeElement.shadowRoot.activeElement.closest('.kb-panel')")
    tab.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    assert tab.evaluate("document.activeElement.shadowRoot.activeElement.className") == "kb-launcher"
    assert tab.evaluate("document.cookie") == ""


def test_suggestions_follow_route_changes_and_host_override(tab: Any, site: dict[str, Any]) -> None:
    tab.goto(f"{site['host']}/settings/billing")
    tab.evaluate("kb('open')")
    assert titles(tab)[0] == "Cancel your subscription"
    tab.evaluate("history.pushState({}, '', '/points/rules')")
    wait_first_title(tab, "Set up points expiry")
    assert titles(tab) == ["Set up points expiry"]
    tab.evaluate("kb('suggest', ['launch-your-program'])")
    wait_first_title(tab, "Launch your loyalty program")
    tab.evaluate("history.back()")
    wait_first_title(tab, "Cancel your subscription")


def test_commands_queued_before_the_script_loads_run(tab: Any, site: dict[str, Any]) -> None:
    queue = (
        "<script>window.kb = window.kb || function () { (kb.q = kb.q || []).push(arguments); };"
        "kb('on', 'open', function () { window.opened = true; });"
        "kb('suggest', ['launch-your-program']); kb('open');</script>"
    )
    site["page"]["html"] = host_page(site["kb"], extra=queue)
    tab.goto(f"{site['host']}/settings/billing")
    assert titles(tab) == ["Launch your loyalty program"]
    assert tab.evaluate("window.opened") is True
    tab.evaluate("kb('close')")
    tab.locator(".kb-panel").wait_for(state="hidden")
    tab.evaluate("kb('article', 'set-up-points-expiry')")
    tab.locator(".kb-article-title", has_text="Set up points expiry").wait_for()


def test_search_read_in_panel_follow_link_and_vote(tab: Any, site: dict[str, Any]) -> None:
    before = len(rows(site["app"], SearchEvent))
    tab.goto(f"{site['host']}/stores/7/connect")
    tab.evaluate("kb('open')")
    record_events(tab)
    titles(tab)  # the page's suggestions first, then the merchant types
    tab.locator("#kb-q").press_sequentially("shopify store connection expired", delay=10)
    tab.wait_for_function(
        "document.querySelector('[data-kb-widget]').shadowRoot.querySelector('.kb-h')?.textContent === 'Answers'"
    )
    assert titles(tab)[0] == "Install Perkly on Shopify"
    tab.locator(".kb-item").first.click()
    tab.locator(".kb-article-title").wait_for(state="visible")
    assert tab.locator(".kb-article-title").text_content() == "Install Perkly on Shopify"
    assert tab.locator("details#troubleshooting").get_attribute("open") is not None  # the matching section
    tab.get_by_role("link", name="the launch guide").click()  # a link between articles stays in the panel
    tab.locator(".kb-article-title", has_text="Launch your loyalty program").wait_for()
    assert tab.locator("details#before-you-launch").get_attribute("open") is not None
    assert tab.url.endswith("/stores/7/connect")
    tab.get_by_role("button", name="No", exact=True).click()
    tab.locator(".kb-body").get_by_text("Sorry about that. What was wrong?").wait_for()
    tab.get_by_label("It is out of date").check()
    tab.locator("#kb-comment").fill("The screens changed.")
    tab.get_by_role("button", name="Send", exact=True).click()
    tab.locator(".kb-body").get_by_text("Thank you for your feedback.").wait_for()
    vote = [v for v in rows(site["app"], Vote) if v.article_id == "en/launch-your-program"][-1]
    assert (vote.helpful, vote.reason, vote.channel, vote.page_path) == (
        False,
        "out_of_date",
        "widget",
        "/stores/7/connect",
    )
    assert vote.query == "shopify store connection expired"
    searches = rows(site["app"], SearchEvent)[before:]
    assert {(e.channel, e.page_path) for e in searches} == {("widget", "/stores/7/connect")}
    names = [n for n, _ in tab.evaluate("window.seen")]
    assert "search" in names and names.count("article-viewed") == 2 and "vote" in names


def test_contact_form_deflects_with_a_suggested_answer(tab: Any, site: dict[str, Any]) -> None:
    tickets = len(rows(site["app"], Ticket))
    tab.goto(f"{site['host']}/settings/billing")
    tab.evaluate(
        "kb('prefill', {subject: 'Cancel plan', message: 'How do I cancel my subscription and get a refund?'})"
    )
    tab.evaluate("kb('identify', {name: 'Ada Lovelace', email: 'ada@example.com'})")
    tab.evaluate("kb('open')")
    tab.get_by_role("button", name="Contact support").click()
    assert tab.locator("#kb-f-name").input_value() == "Ada Lovelace"
    assert tab.locator("#kb-f-subject").input_value() == "Cancel plan"
    tab.get_by_role("button", name="Send message").click()
    tab.locator(".kb-body").get_by_text("Before you send: do any of these answer your question?").wait_for()
    assert titles(tab)[0] == "Cancel your subscription"
    tab.get_by_role("button", name="Yes, this answered my question").first.click()
    tab.locator(".kb-body").get_by_text("Great, glad that answered your question").wait_for()
    assert len(rows(site["app"], Ticket)) == tickets
    vote = [v for v in rows(site["app"], Vote) if v.source == "contact"][-1]
    assert (vote.helpful, vote.channel, vote.article_id) == (True, "widget", "en/cancel-your-subscription")


def send_ticket(tab: Any, site: dict[str, Any], token: str, email: str) -> dict[str, Any]:
    tab.goto(f"{site['host']}/reports/export")
    record_events(tab)
    who = {"id": "u-42", "name": "Ada Lovelace", "email": email, "token": token}
    tab.evaluate(f"kb('identify', {json.dumps(who)})")
    tab.evaluate("kb('open')")
    tab.get_by_role("button", name="Contact support").click()
    tab.locator("#kb-f-subject").fill("Monthly report totals")
    tab.locator("#kb-f-message").fill("The totals in the monthly report do not add up for March.")
    tab.get_by_role("button", name="Send message").click()
    send_anyway = tab.get_by_role("button", name="I still want to send my message")
    sent = tab.locator(".kb-body").get_by_text("Your message has been sent")
    send_anyway.or_(sent).wait_for()
    if send_anyway.is_visible():
        send_anyway.click()
    sent.wait_for()
    events = dict(tab.evaluate("window.seen"))
    assert events["ticket-sent"]["reference"].startswith("KB-")
    return dict(events["ticket-sent"])


def test_ticket_with_signed_identity_is_trusted_and_forged_is_not(tab: Any, site: dict[str, Any]) -> None:
    signed = identity.sign(SECRET, "u-42", "ada@example.com", int(time.time()) + 600)
    sent = send_ticket(tab, site, signed, "ada@example.com")
    assert sent["verified"] is True
    ticket = rows(site["app"], Ticket)[-1]
    assert ticket.reference == sent["reference"]
    assert (ticket.email, ticket.context["identity"]) == ("ada@example.com", "verified by signature")
    assert (ticket.channel, ticket.page_path) == ("widget", "/reports/export")
    forged = send_ticket(tab, site, signed, "boss@example.com")  # the signature was for another address
    assert forged["verified"] is False
    ticket = rows(site["app"], Ticket)[-1]
    assert ticket.email == "boss@example.com"
    assert ticket.context["identity"] == "not verified (signature does not match)"


def test_host_on_unlisted_origin_is_refused(browser: Any, site: dict[str, Any]) -> None:
    other: dict[str, Any] = {"html": host_page(site["kb"])}
    with host_site(other) as stranger:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15000)
        refused: list[str] = []  # no CORS headers on the 403: the browser does not hand the answer to the page
        page.on("requestfailed", lambda r: refused.append(r.url.split("?")[0]) if "/widget/" in r.url else None)
        page.goto(f"{stranger}/settings/billing")
        page.evaluate("kb('open')")
        page.locator(".kb-body").get_by_text("Help is not available on this site.").wait_for()
        assert refused == [f"{site['kb']}/widget/session"]
        assert page.locator(".kb-item").count() == 0
        context.close()


def test_strict_csp_host_page_works(tab: Any, site: dict[str, Any]) -> None:
    site["page"]["csp"] = STRICT_CSP.format(kb=site["kb"])
    violations: list[str] = []
    tab.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    tab.goto(f"{site['host']}/settings/billing")
    tab.locator("[data-kb-widget]").wait_for(state="attached")
    tab.evaluate("kb('open')")
    assert titles(tab)[0] == "Cancel your subscription"
    assert tab.locator(".kb-panel").evaluate("e => getComputedStyle(e).position") == "fixed"  # panel.css applied
    tab.locator("#kb-q").press_sequentially("points expire", delay=10)
    tab.locator(".kb-body").get_by_text("Set up points expiry").first.wait_for()
    assert violations == []


def test_destroy_removes_the_widget(tab: Any, site: dict[str, Any]) -> None:
    tab.goto(f"{site['host']}/settings/billing")
    tab.evaluate("kb('open')")
    titles(tab)
    tab.evaluate("kb('destroy')")
    assert tab.locator("[data-kb-widget]").count() == 0
    assert tab.evaluate("history.pushState.toString()").find("native code") > 0


SHOTS = Path(os.environ.get("KB_WIDGET_SHOTS", "/tmp/kbwork/widget-shots"))


@pytest.mark.parametrize(("lang", "width"), [("en", 1280), ("en", 360), ("ar", 1280), ("ar", 360)])
def test_screenshots_in_english_and_arabic(browser: Any, demo_app: Any, lang: str, width: int) -> None:
    """The demo help center in the panel, for people to look at (written to KB_WIDGET_SHOTS)."""
    page_html: dict[str, Any] = {"html": ""}
    with host_site(page_html) as host:
        demo_app.extensions["kb.settings"] = _with_origin(demo_app, host)
        with served(demo_app) as kb:
            page_html["html"] = host_page(kb, lang)
            context = browser.new_context(viewport={"width": width, "height": 760 if width > 400 else 740})
            page = context.new_page()
            page.set_default_timeout(20000)
            page.goto(f"{host}/points/expiry")
            page.evaluate("kb('open')")
            titles(page)
            assert page.locator(".kb-panel").get_attribute("dir") == ("rtl" if lang == "ar" else "ltr")
            width_used = page.locator(".kb-panel").evaluate("e => e.getBoundingClientRect().width")
            assert width_used <= width
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"{lang}-{width}-suggestions.png"))
            page.evaluate("kb('article', 'set-up-points-expiry')")
            page.locator(".kb-vote").wait_for()
            assert page.locator(".kb-article").get_attribute("lang") == lang  # the article in the visitor's language
            page.screenshot(path=str(SHOTS / f"{lang}-{width}-article.png"))
            page.locator(".kb-vote .kb-secondary").nth(1).click()  # No: then what was missing
            page.locator(".kb-vote fieldset").wait_for()
            page.locator(".kb-vote").scroll_into_view_if_needed()
            page.screenshot(path=str(SHOTS / f"{lang}-{width}-vote.png"))
            page.locator(".kb-foot .kb-link").click()
            page.locator("#kb-f-name").wait_for()
            assert page.locator("#kb-f-name").evaluate("e => getComputedStyle(e).fontSize") == "16px"
            page.screenshot(path=str(SHOTS / f"{lang}-{width}-contact.png"))
            if width < 400:  # a phone with its keyboard open: about 380 px of height left
                page.set_viewport_size({"width": width, "height": 380})
                page.locator("#kb-f-message").focus()
                send = page.locator(".kb-form .kb-primary")
                send.scroll_into_view_if_needed()
                box = send.bounding_box()
                assert box is not None and box["y"] + box["height"] <= 380
                page.screenshot(path=str(SHOTS / f"{lang}-{width}-keyboard.png"))
            context.close()


def _with_origin(app: Any, origin: str) -> Any:
    import dataclasses

    settings = dataclasses.replace(app.extensions["kb.settings"], widget_origins=origin)
    app.config["WIDGET_ORIGINS"] = origin
    return settings
