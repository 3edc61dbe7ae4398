"""The results page, the JSON search and suggestions, and the click that leads to an article."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from kb.i18n.ui import select_locale
from kb.site_state import library
from kb.tracking import searching

bp = Blueprint("search", __name__)


@bp.get("/search")
@bp.get("/<locale>/search")
def results(locale: str | None = None) -> ResponseReturnValue:
    locale = locale or select_locale()
    if locale not in library().locales:
        abort(404)
    query = request.args.get("q", "").strip()
    category = request.args.get("category") or None
    page = max(1, min(100, request.args.get("page", 1, type=int) or 1))
    size = int(current_app.config["SEARCH_PAGE_SIZE"])
    found = searching.search_page(query, locale, category, page, size)
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
    article_id = request.args.get("a", "")
    target = library().by_id(article_id)
    if target is None:
        abort(404)
    searching.record_click(request.args.get("s", type=int), article_id, request.args.get("p", 0, type=int))
    anchor = request.args.get("h", "")
    anchor = anchor if anchor in target.anchors else ""
    query = searching.query_of(request.args.get("s", type=int))
    url = url_for("site.article", locale=target.locale, slug=target.slug, **{"from": "search"}, q=query)
    return redirect(url + (f"#{anchor}" if anchor else ""), 302)
