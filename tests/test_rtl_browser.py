"""Arabic pages really mirror: checked in headless Chromium, with a screenshot (in the test's tmp_path) to look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import PROJECT, make_app, needs_chromium, served

pytestmark = needs_chromium


def test_arabic_article_renders_right_to_left(browser: Any, tmp_path: Path) -> None:
    app = make_app(PROJECT / "articles", tmp_path / "no-index", tmp_path / "kb.sqlite3")
    with served(app) as base:
        page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="ar")
        page.goto(f"{base}/ar/articles/set-up-points-expiry")
        assert page.evaluate("getComputedStyle(document.documentElement).direction") == "rtl"
        assert page.get_attribute("html", "lang") == "ar"
        width = page.viewport_size["width"]
        brand = page.locator(".brand").bounding_box()
        nav = page.locator(".site-nav").bounding_box()
        title = page.locator("#article-title").bounding_box()
        assert brand["x"] > width / 2, "the site name starts on the right in Arabic"
        assert nav["x"] < brand["x"], "the navigation sits to the left of the site name"
        assert title["x"] + title["width"] > width * 0.6, "the title is aligned to the right"
        page.screenshot(path=str(tmp_path / "arabic.png"), full_page=False)
        english = browser.new_page(viewport={"width": 1100, "height": 900})
        english.goto(f"{base}/en/articles/set-up-points-expiry")
        assert english.locator(".brand").bounding_box()["x"] < width / 2
        page.close()
        english.close()
