"""The results page, the JSON search and suggestions, and the click that leads to an article."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from kb.site_state import library
from kb.tracking import search_log
from kb.views.lookups import get_article, get_id, get_locale_or_404

bp = Blueprint("search", __name__)


@bp.get("/search")
@bp.get("/<locale>/search")
def results(locale: str | None = None) -> ResponseReturnValue:
    locale = get_locale_or_404(locale)
    query = request.args.get("q", "").strip()
    category = request.args.get("category") or None
    page = max(1, min(100, request.args.get("page", 1, type=int) or 1))
    size = int(current_app.config["SEARCH_PAGE_SIZE"])
    found = search_log.search_page(query, locale, category, page, size)
    categories = library().categories_in(locale)
    return render_template(
        "search/results.html",
        locale=locale,
        query=query,
        found=found,
        page=page,
        size=size,
        category=category,
        categories=categories,
    )


@bp.get("/go")
def click() -> ResponseReturnValue:
    """Record which result was opened, then go to it (works without JavaScript)."""
    target = get_article(request.args.get("a"))
    search_id = get_id(request.args.get("s"))
    search_log.click(search_id, target.id, get_id(request.args.get("p")) or 0)
    anchor = request.args.get("h", "")
    anchor = anchor if anchor in target.anchors else ""
    query = search_log.query_of(search_id)
    values: dict[str, Any] = {"locale": target.locale, "slug": target.slug, "from": "search", "q": query}
    url = url_for("site.article", **values)
    return redirect(url + (f"#{anchor}" if anchor else ""), 302)
