"""The help widget's endpoints: the loader and panel files, and the JSON the panel reads and writes from a
host page on another origin (CORS for KB_WIDGET_ORIGINS only; writes carry kb's token, bound to the Origin)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, g, jsonify, request, send_file
from flask.typing import ResponseReturnValue
from flask_limiter import RateLimitExceeded
from werkzeug.wrappers import Response

from kb.config import current_settings
from kb.db import get_session
from kb.errors import TicketNotSaved
from kb.extensions import csrf, limiter
from kb.forms import ContactForm, FeedbackForm
from kb.i18n.ui import select_locale
from kb.security.addresses import address_key
from kb.site_state import library
from kb.tickets import intake
from kb.tracking import answers, search_log, store, view_buffer, votes
from kb.tracking.visitor import current_visitor
from kb.views.api import article_summary
from kb.views.contact import VOTE_QUERY_MAX, record_suggestion_vote
from kb.views.lookups import get_article, get_id
from kb.widget import contexts, identity, origins, sources, strings, tokens

log = logging.getLogger(__name__)

bp = Blueprint("widget", __name__)
csrf.exempt(bp)  # the panel proves itself with kb's token and the Origin, not with a form token
sources.init()
ASSETS = Path(__file__).resolve().parent.parent / "static" / "widget"
FILES = {"widget.js": "loader.js", "panel.js": "panel.js", "panel.css": "panel.css"}
OPEN = {"widget.loader", "widget.asset", "widget.session"}  # no token needed (session hands it out)


def _origin() -> str:
    return origins.normalise(request.headers.get("Origin", ""))


@bp.before_request
def _guard() -> ResponseReturnValue | None:
    """No kb cookie from the widget; the API only for listed origins and with a valid token."""
    g.visitor_is_new = False
    if request.endpoint in ("widget.loader", "widget.asset"):
        return None
    settings = current_settings()
    if not origins.is_allowed(request.headers.get("Origin"), settings):
        log.info("widget: refused origin %r", (request.headers.get("Origin") or "")[:200])
        return jsonify(error="Forbidden", message="This origin may not embed the help widget."), 403
    if request.method == "OPTIONS" or request.endpoint in OPEN:
        return None
    try:
        grant = tokens.check(_secret(), request.values.get("t", ""), _origin(), settings.widget_token_seconds)
    except tokens.TokenInvalid as exc:
        return jsonify(error="Unauthorized", message=f"Widget token {exc}.", renew=True), 401
    g.visitor = grant.visitor
    sources.mark_request(contexts.page_path(request.values.get("page", "")))
    return None


@bp.after_request
def _cors(response: Response) -> Response:
    """CORS for listed origins only; the loader and panel files may be used by any page."""
    response.headers.update(origins.cors_headers(request.headers.get("Origin"), current_settings()))
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    if request.endpoint not in ("widget.loader", "widget.asset"):
        response.headers["Cache-Control"] = "no-store"
    return response


def _secret() -> str:
    return str(current_app.secret_key)


def _locale() -> str:
    asked = request.values.get("locale", "").split("-")[0].lower()
    return asked if asked in library().locales else select_locale()


@bp.get("/widget.js", endpoint="loader")
@bp.get("/widget/<any(panel.js, panel.css):name>", endpoint="asset")
def asset(name: str = "widget.js") -> ResponseReturnValue:
    """The loader (the one script tag) and the panel it loads on intent."""
    response = send_file(ASSETS / FILES[name], max_age=300, conditional=True)
    if name.endswith(".js"):
        response.mimetype = "text/javascript"
    return response


@bp.get("/widget/session", endpoint="session")
def session_start() -> ResponseReturnValue:
    """A token for this origin (keeping the visitor of an older token), and the panel's words."""
    origin = _origin()
    visitor = tokens.visitor_of(_secret(), request.args.get("t", ""), origin)
    token, _visitor = tokens.issue(_secret(), origin, visitor)
    locale = _locale()
    return jsonify(token=token, expires_in=current_settings().widget_token_seconds, **strings.panel_strings(locale))


def _card(article: Any) -> dict[str, Any]:
    return {"id": article.id, "title": article.title, "summary": article.description, "url": article.url}


@bp.get("/widget/context")
@limiter.limit(lambda: str(current_app.config["SUGGEST_RATE_LIMIT"]))
def context() -> ResponseReturnValue:
    """The articles for the host page: the host's own list, else ``contexts:`` rules, else a search."""
    locale = _locale()
    path = contexts.page_path(request.args.get("page", ""))
    slugs = [s for s in request.args.get("slugs", "").split(",") if s]
    if slugs:
        chosen = [a for s in slugs[: contexts.LIMIT] if (a := library().get(locale, s)) is not None]
        return jsonify(rule="host", articles=[_card(a) for a in chosen])
    in_locale = library().in_locale(locale)
    matched = contexts.for_path(in_locale, path)
    if matched:
        helpful = store.safely(contexts.helpful_votes, get_session(), [a.id for a in matched]) or {}
        matched = contexts.for_path(matched, path, helpful)
        return jsonify(rule="contexts", articles=[_card(a) for a in matched])
    words = contexts.search_words(path, request.args.get("title", ""))
    found = search_log.search_page(words, locale, None, 1, 3, source="context") if words else None
    hits = found.result.hits if found else []
    return jsonify(rule="search", search_id=found.search_id if found else None, articles=[h.as_json() for h in hits])


@bp.get("/widget/suggest")
@limiter.limit(lambda: str(current_app.config["SUGGEST_RATE_LIMIT"]))
def suggest() -> ResponseReturnValue:
    """Search as the merchant types: /api/suggest's answers and threshold, recorded as the widget's."""
    query = request.args.get("q", "").strip()
    locale = _locale()
    hits, search_id = search_log.suggest(query, locale, source="suggest")
    return jsonify(query=query, locale=locale, search_id=search_id, suggestions=[h.as_json() for h in hits])


@bp.get("/widget/articles/<locale>/<slug>")
def article(locale: str, slug: str) -> ResponseReturnValue:
    """An article to read in the panel, counted as a view from a suggestion or a search."""
    found = library().get(locale, slug) or library().original(locale, slug)  # else the untranslated original
    if found is None:
        abort(404, description=f"No article {locale}/{slug}.")
    came = "search" if request.args.get("from") == "search" else "suggestion"
    view_buffer.buffer_of(current_app).add(current_visitor(), found.id, found.revision, came, "")
    data = article_summary(found)
    data["html"] = found.html
    data["sections"] = [{"heading": s.heading, "anchor": s.anchor, "level": s.level} for s in found.sections]
    return jsonify(data)


@bp.post("/widget/opened")
@limiter.limit(lambda: str(current_app.config["SUGGEST_RATE_LIMIT"]))
def opened() -> ResponseReturnValue:
    """A suggested answer opened during the contact flow (a deflection step)."""
    found = get_article(request.form.get("article_id"))
    anchor = str(request.form.get("anchor") or "")
    store.safely(
        answers.record_opened,
        get_session(),
        visitor=current_visitor(),
        article_id=found.id,
        search_id=get_id(request.form.get("search_id")),
        anchor=anchor if anchor in found.anchors else "",
        position=get_id(request.form.get("position")) or 0,
        draft=request.form.get("query", "")[:VOTE_QUERY_MAX],
    )
    return jsonify(recorded=True)


@bp.post("/widget/vote")
@limiter.limit(lambda: str(current_app.config["FEEDBACK_RATE_LIMIT"]))
def vote() -> ResponseReturnValue:
    """The two questions under an article (Yes/No, then what was missing), or Yes on a contact suggestion."""
    form = FeedbackForm(meta={"csrf": False})
    found = get_article(form.article_id.data)
    if not form.validate():
        return jsonify(error=form.first_error()), 422
    answer = form.answer()
    if request.form.get("source") == "contact":
        record_suggestion_vote(found, answer.helpful, answer.query)
        return jsonify(step="thanks", helpful=answer.helpful)
    step = votes.submit(get_session(), found, current_visitor(), answer, address_key("vote"))
    return jsonify(step=step.name, helpful=step.helpful)


def _identity(form: ContactForm) -> tuple[identity.Verdict, str]:
    user_id = request.form.get("identity_id", "")
    email = request.form.get("identity_email", "")
    verdict = identity.verify(current_settings().widget_secret, user_id, email, request.form.get("identity_token", ""))
    return verdict, user_id


@bp.post("/widget/ticket")
@limiter.limit(lambda: str(current_app.config["CONTACT_RATE_LIMIT"]), methods=["POST"])
def ticket() -> ResponseReturnValue:
    """The contact form in the panel: answers before a ticket, then the same durable ticket as /contact."""
    locale = _locale()
    form = ContactForm(meta={"csrf": False})
    form.set_topics([(c.slug, c.title) for c in library().categories_in(locale)])
    if form.is_spam:
        return jsonify(step="sent", reference=None)
    if not form.validate():
        return jsonify(step="invalid", errors={k: str(v[0]) for k, v in form.errors.items()}), 422
    submission = form.submission()
    if not request.form.get("send"):
        question = intake.question_text(submission["subject"], submission["message"])
        hits, search_id = search_log.suggest(question, locale, source="contact")
        if hits:
            # The words the suggestions were for go back with a vote or an answer opened (kb.learning.asked).
            return jsonify(step="suggest", search_id=search_id, query=question, suggestions=[h.as_json() for h in hits])
    verdict, user_id = _identity(form)
    if verdict.verified:
        submission["email"] = request.form.get("identity_email", "").strip()
    submission["came_from"] = "widget: " + contexts.page_path(request.form.get("page", ""))
    about = {"identity": verdict.reason if verdict.verified else f"not verified ({verdict.reason})"}
    if verdict.verified:
        about["identity_user_id"] = user_id
    try:
        stored = intake.submit(submission, locale, extra_context=about)
    except TicketNotSaved:
        return jsonify(step="error"), 503
    return jsonify(step="sent", reference=stored.reference, verified=verdict.verified)


@bp.errorhandler(RateLimitExceeded)
def rate_limited(exc: RateLimitExceeded) -> ResponseReturnValue:
    """Too many writes from one address: JSON the panel can show."""
    return jsonify(error="Too Many Requests", message=str(exc.description)), 429
