"""The pages a merchant browses: home, categories, articles, sitemap and robots.txt."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for

from kb.content import Article
from kb.db import get_session
from kb.i18n import locales
from kb.security import cookies
from kb.security.redirects import safe_next
from kb.security.urls import external_url
from kb.site_state import library, snapshot
from kb.tracking import article_views, store, view_buffer
from kb.tracking.visitor import current_visitor
from kb.views import page_cache
from kb.views.feedback import has_feedback_state
from kb.views.lookups import get_category, get_locale_or_404

bp = Blueprint("site", __name__)


@bp.get("/")
def index() -> Response:
    lib = library()
    locale = locales.preferred_locale(lib.locales, current_app.config["DEFAULT_LOCALE"])
    return redirect(url_for("site.home", locale=locale), 302)  # type: ignore[return-value]


@bp.get("/<locale>/")
def home(locale: str) -> str:
    lib = library()
    get_locale_or_404(locale)
    categories = [(c, len(lib.in_locale(locale, c.slug))) for c in lib.categories_in(locale)]
    popular_ids = store.safely(article_views.most_viewed, get_session(), locale) or []
    popular = [a for a in (lib.by_id(i) for i in popular_ids) if a is not None]
    if len(popular) < 6:
        popular += [a for a in lib.in_locale(locale) if a not in popular][: 6 - len(popular)]
    return render_template("site/home.html", locale=locale, categories=categories, popular=popular)


@bp.get("/<locale>/<category>/")
def category(locale: str, category: str) -> str:
    cat = get_category(locale, category)
    articles = library().with_originals(locale, cat.slug, current_app.config["DEFAULT_LOCALE"])
    return render_template("site/category.html", locale=locale, category=cat, articles=articles)


@bp.get("/<locale>/articles/<slug>")
def article(locale: str, slug: str) -> Response | str:
    lib = library()
    get_locale_or_404(locale)
    found = lib.get(locale, slug)
    if found is None:
        target = lib.alias_target(locale, slug)
        if target is not None:
            return redirect(url_for("site.article", locale=locale, slug=target), 301)  # type: ignore[return-value]
        found = lib.original(locale, slug, current_app.config["DEFAULT_LOCALE"])  # not translated yet
        if found is None:
            abort(404, description="We could not find that article. It may have moved.")
    source, query = _came_from()
    view_buffer.buffer_of(current_app).add(current_visitor(), found.id, found.revision, source, query)
    build = snapshot().build_id
    key = page_cache.page_key(not has_feedback_state(found.id))  # a vote of theirs to show: their page
    page = page_cache.stored_page(build, key)
    if page is not None:
        return page
    related = [a for a in (lib.get(found.locale, s) for s in found.related) if a is not None]
    page = render_template(
        "site/article.html",
        locale=locale,
        article=found,
        related=related,
        category=lib.category(locale, found.category),
        edit_url=_edit_url(found),
        translations=lib.translations(found),
    )
    return page_cache.offer_page(build, key, page, found.id, found.revision)


@bp.get("/language/<locale>")
def choose_language(locale: str) -> Response:
    """Remember the visitor's language and go back to the page they were on, in that language."""
    get_locale_or_404(locale)
    target = safe_next(request.args.get("next"), url_for("site.home", locale=locale))
    response = redirect(target, 302)
    response.set_cookie(
        locales.COOKIE, locale, max_age=365 * 24 * 3600, samesite="Lax", httponly=True, secure=cookies.secure()
    )
    return response  # type: ignore[return-value]


def _came_from() -> tuple[str, str]:
    """Where the visitor came from: an explicit ``from`` parameter, else the referring page."""
    source = request.args.get("from", "")
    if source in article_views.VIEW_SOURCES:
        return source, request.args.get("q", "")[:500]
    return article_views.source_from_referrer(request.referrer, request.host), ""


def _edit_url(article: Article) -> str:
    template = current_app.config.get("EDIT_URL") or ""
    if not template:
        return ""
    folder = library().repo_folder
    return str(template).replace("{path}", f"{folder}/{article.path}" if folder else article.path)


@bp.get("/sitemap.xml")
def sitemap() -> Response:
    lib = library()
    pages: list[tuple[str, str]] = []
    for locale in lib.locales:
        pages.append((external_url("site.home", locale=locale), ""))
        for cat in lib.categories_in(locale):
            pages.append((external_url("site.category", locale=locale, category=cat.slug), ""))
    for art in lib:
        lastmod = art.updated.date().isoformat() if art.updated else ""
        pages.append((external_url("site.article", locale=art.locale, slug=art.slug), lastmod))
    xml = render_template("site/sitemap.xml", pages=pages)
    return Response(xml, mimetype="application/xml")


@bp.get("/robots.txt")
def robots() -> Response:
    lines = [
        "User-agent: *",
        "Disallow: /admin",
        "Disallow: /api/",
        "Disallow: /search",
        "Disallow: /contact",
        f"Sitemap: {external_url('site.sitemap')}",
        "",
    ]
    return Response("\n".join(lines), mimetype="text/plain")
