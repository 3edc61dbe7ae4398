"""JSON for the product's widget and other clients: articles, search and suggestions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from kb.content import Article
from kb.extensions import limiter
from kb.i18n.ui import select_locale
from kb.site_state import library
from kb.tracking import search_log

bp = Blueprint("api", __name__, url_prefix="/api")


def article_summary(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "locale": article.locale,
        "slug": article.slug,
        "title": article.title,
        "summary": article.description,
        "category": article.category,
        "tags": article.tags,
        "url": article.url,
        "updated": article.updated.isoformat() if article.updated else None,
        "revision": article.revision,
    }


@bp.get("/articles")
def articles() -> ResponseReturnValue:
    locale = request.args.get("locale")
    items = [article_summary(a) for a in library() if locale in (None, a.locale)]
    return jsonify(articles=items, count=len(items))


@bp.get("/articles/<locale>/<slug>")
def article(locale: str, slug: str) -> ResponseReturnValue:
    found = library().get(locale, slug)
    if found is None:
        abort(404, description=f"No article {locale}/{slug}.")
    data = article_summary(found)
    data["html"] = found.html
    data["sections"] = [
        {"heading": s.heading, "anchor": s.anchor, "level": s.level, "text": s.text} for s in found.sections
    ]
    data["related"] = found.related
    return jsonify(data)


def _locale() -> str:
    """The ``locale`` asked for when the help center has it, else the visitor's."""
    asked = request.args.get("locale", "")
    return asked if asked in library().locales else select_locale()


@bp.get("/search")
def search() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()
    locale = _locale()
    limit = max(1, min(50, request.args.get("limit", 10, type=int) or 10))
    found = search_log.search_page(query, locale, request.args.get("category") or None, 1, limit, source="api")
    return jsonify(search_log.result_json(found))


@bp.get("/suggest")
@limiter.limit(lambda: str(current_app.config["SUGGEST_RATE_LIMIT"]))
def suggest() -> ResponseReturnValue:
    query = request.args.get("q", "").strip()
    locale = _locale()
    source = "contact" if request.args.get("source") == "contact" else "suggest"
    hits, search_id = search_log.suggest(query, locale, source=source)
    return jsonify(query=query, locale=locale, search_id=search_id, suggestions=[h.as_json() for h in hits])


@bp.route("/<path:unknown>", methods=["GET", "POST"])
def not_found(unknown: str) -> ResponseReturnValue:
    """Unknown API paths answer a JSON 404 (not a redirect to a site page)."""
    abort(404, description=f"No API endpoint /api/{unknown}.")
