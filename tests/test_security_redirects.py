"""Issue 14, finding 3: every ``next=`` goes through one safe-redirect function; a corpus of bypasses all lead
to the default page, on the language switch and the admin sign-in alike."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from test_admin import EMAIL, PASSWORD, add_user

from kb.security.redirects import is_safe_path, safe_next

BYPASSES = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/%09/evil.example",
    "/\t/evil.example",
    "/\r\n/evil.example",
    "/\n/evil.example",
    "\t//evil.example",
    " //evil.example",
    " /en/",
    "/en/\r\nSet-Cookie: x=1",
    "/%0d%0aSet-Cookie:x=1",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "/%5Cevil.example",
    "/%5c%5cevil.example",
    "/%00/evil.example",
    "%2F%2Fevil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "/javascript:alert(1)//",  # a path, but harmless: checked separately below
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://evil.example",
    "https://evil.example/en/",
    "http:/evil.example",
    "http:evil.example",
    "//evil.example/%2e%2e",
    "/ /evil.example",
    "\u3000//evil.example",
    "\uff0f\uff0fevil.example",  # fullwidth solidus
    "/\u2215evil.example",  # division slash
    "/\u2044evil.example",  # fraction slash
    "\u2215\u2215evil.example",
    "/еn/",  # Cyrillic е
    "evil.example",
    "",
    "/" + "a" * 600,
]
HARMLESS_BUT_PATHS = {"/javascript:alert(1)//"}  # a path on this site: a 404 at worst, never code
SAFE = ["/en/", "/fr/articles/set-up-points-expiry", "/en/search?q=points%20expiry&page=2", "/en/#feedback"]


@pytest.mark.parametrize("target", [t for t in BYPASSES if t not in HARMLESS_BUT_PATHS])
def test_a_bypass_is_not_a_safe_path(target: str) -> None:
    assert not is_safe_path(target)
    assert safe_next(target, "/home") == "/home"


@pytest.mark.parametrize("target", SAFE)
def test_a_plain_path_on_the_site_is_safe(target: str) -> None:
    assert is_safe_path(target)
    assert safe_next(target, "/home") == target


def test_a_prefix_keeps_admin_redirects_in_the_admin() -> None:
    assert safe_next("/admin/tickets?page=2", "/admin/", prefix="/admin") == "/admin/tickets?page=2"
    assert safe_next("/en/", "/admin/", prefix="/admin") == "/admin/"


def _location(response: Any) -> str:
    return str(response.headers.get("Location", ""))


def _leaves_the_site(location: str) -> bool:
    """Whether a browser following ``location`` would leave the site (it drops tabs and newlines, reads \\ as /)."""
    cleaned = "".join(c for c in location if c not in "\t\r\n").replace("\\", "/").lstrip()
    return cleaned.startswith("//") or ":" in cleaned.split("/", 1)[0]


@pytest.mark.parametrize("target", BYPASSES)
def test_the_language_switch_never_leaves_the_site(app: Any, target: str) -> None:
    response = app.test_client().get(f"/language/en?next={quote(target, safe='')}")
    assert response.status_code == 302
    location = _location(response)
    assert not _leaves_the_site(location), location
    if target not in HARMLESS_BUT_PATHS:
        assert location == "/en/"


def test_the_reported_tab_bypass_goes_home(app: Any) -> None:
    response = app.test_client().get("/language/en?next=/%09/evil.example")
    assert _location(response) == "/en/"


def test_the_language_switch_still_goes_back_to_the_page(app: Any) -> None:
    response = app.test_client().get("/language/en?next=/en/articles/set-up-points-expiry")
    assert _location(response) == "/en/articles/set-up-points-expiry"


def test_admin_sign_in_never_leaves_the_admin(app: Any) -> None:
    app.config.update(WTF_CSRF_ENABLED=False, LOGIN_RATE_LIMIT="1000 per minute")
    assert add_user(app).exit_code == 0
    client = app.test_client()
    for target in BYPASSES:
        posted = target if len(target) <= 500 else ""  # a longer field is refused as a whole
        response = client.post(
            "/admin/login?next=" + quote(target, safe=""), data={"email": EMAIL, "password": PASSWORD, "next": posted}
        )
        assert response.status_code == 303, target
        assert _location(response) == "/admin/", target
        again = client.get("/admin/login?next=" + quote(target, safe=""))  # signed in: straight on
        assert _location(again) == "/admin/", target
        client.post("/admin/logout")
