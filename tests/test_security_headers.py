"""Issue 14, finding 4: security headers on every response, a CSP without inline code that the pages keep
(no violation in Chromium's console), no framing by another origin, and cookies HttpOnly, SameSite=Lax and
Secure over https (through ProxyFix only when KB_PROXY_COUNT trusts the proxy)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT, make_app, needs_chromium, served
from test_admin import EMAIL, PASSWORD, add_user

PAGES = ["/en/", "/en/articles/cancel-your-subscription", "/en/search?q=cancel", "/en/contact", "/admin/login"]


@pytest.fixture
def site(indexed_app: Any) -> Any:
    return indexed_app


def csp_of(response: Any) -> dict[str, str]:
    policy = response.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part for part in (p.strip() for p in policy.split(";")) if part}


@pytest.mark.parametrize("path", [*PAGES, "/sitemap.xml", "/api/articles", "/nowhere", "/static/css/site.css"])
def test_every_response_has_the_security_headers(site: Any, path: str) -> None:
    response = site.test_client().get(path)
    headers = response.headers
    csp = csp_of(response)
    assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in headers["Content-Security-Policy"]
    assert csp["script-src"] == "script-src 'self'" and csp["style-src"] == "style-src 'self'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in headers  # plain http, no https base URL


@pytest.mark.parametrize("path", ["/widget.js", "/widget/panel.css", "/static/css/site.css"])
def test_the_widgets_files_may_be_loaded_by_other_sites(site: Any, path: str) -> None:
    policy = site.test_client().get(path).headers.get("Cross-Origin-Resource-Policy")
    assert policy in (None, "cross-origin")  # the widget's own choice, never same-origin from here


def test_hsts_only_over_https(site: Any, indexed_root: Path, tmp_path: Path) -> None:
    client = site.test_client()
    assert "Strict-Transport-Security" not in client.get("/en/").headers
    assert "max-age=" in client.get("/en/", base_url="https://localhost").headers["Strict-Transport-Security"]
    forwarded = {"X-Forwarded-Proto": "https"}
    assert "Strict-Transport-Security" not in client.get("/en/", headers=forwarded).headers  # no proxy trusted
    behind = make_app(
        indexed_root / "articles", indexed_root / "search_index", tmp_path / "proxied.sqlite3", PROXY_COUNT=1
    )
    assert "Strict-Transport-Security" in behind.test_client().get("/en/", headers=forwarded).headers
    based = make_app(
        indexed_root / "articles",
        indexed_root / "search_index",
        tmp_path / "based.sqlite3",
        BASE_URL="https://help.example.com",
    )
    response = based.test_client().get("/en/", base_url="http://help.example.com")  # TLS ended at the proxy
    assert "Strict-Transport-Security" in response.headers


def cookies_set(response: Any) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.getlist("Set-Cookie")}


def test_cookies_are_httponly_lax_and_secure_over_https(site: Any) -> None:
    add_user(site)
    plain = cookies_set(site.test_client().get("/admin/login"))
    assert plain, "the login page sets the session and visitor cookies"
    for header in plain.values():
        assert "HttpOnly" in header and "SameSite=Lax" in header, header
        assert "Secure" not in header, header
    secure = cookies_set(site.test_client().get("/admin/login", base_url="https://localhost"))
    for header in secure.values():
        assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" in header, header
    language = cookies_set(site.test_client().get("/language/en?next=/en/", base_url="https://localhost"))
    assert all("Secure" in h and "HttpOnly" in h for h in language.values())


def test_templates_hold_no_inline_script_or_style() -> None:
    for path in (PROJECT / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<style", text), path
        assert not re.search(r"\sstyle=", text), path
        assert not re.search(r"\son[a-z]+=", text), path  # onclick= and friends
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)


# -- in Chromium: the pages keep the policy, and no other origin can frame them ----------------------------


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    opened = context.new_page()
    yield opened
    context.close()


def violations(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m or "Refused to" in m]


@needs_chromium
def test_pages_show_no_csp_violation_in_chromium(site: Any, page: Any) -> None:
    add_user(site)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    page.on("pageerror", lambda e: messages.append(str(e)))
    with served(site) as base:
        for path in PAGES:
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
        page.goto(base + "/en/contact")  # type: suggestions appear as the merchant writes
        page.fill("#message", "How do I cancel my subscription?")
        page.fill("#subject", "Cancel my plan")
        page.wait_for_timeout(1500)
        page.goto(base + "/en/articles/cancel-your-subscription")  # the feedback widget answers in place
        page.click("button[value=no]")
        page.wait_for_timeout(500)
        page.goto(base + "/admin/login")
        page.fill("input[name=email]", EMAIL)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "/admin/" in page.url and "login" not in page.url
        for path in ("/admin/", "/admin/tickets", "/admin/searches", "/admin/articles"):
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
    assert violations(messages) == []


@needs_chromium
def test_another_origin_cannot_frame_the_contact_form_or_the_login(site: Any, page: Any) -> None:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    with served(site) as base:
        other = base.replace("127.0.0.1", "localhost")  # another origin, same server
        page.goto(other + "/robots.txt")
        page.set_content(
            f'<iframe id="a" src="{base}/en/contact"></iframe><iframe id="b" src="{base}/admin/login"></iframe>'
        )
        page.wait_for_timeout(1500)
        for frame in page.frames[1:]:
            assert "csrf_token" not in frame.content()
