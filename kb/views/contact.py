"""The contact form: answers suggested before a ticket, the ticket stored before "sent", Yes/No on answers."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, InternalError, OperationalError, SQLAlchemyError

from kb.content import Article
from kb.db import get_session
from kb.errors import TicketNotSaved
from kb.extensions import limiter
from kb.forms import CAME_FROM_MAX, SUBJECT_MAX, ContactForm
from kb.security.addresses import address_key
from kb.site_state import library
from kb.tickets import intake, outbox
from kb.tracking import answers, search_log, store, votes
from kb.tracking.contact_opened import record_contact_opened
from kb.tracking.visitor import current_visitor
from kb.views import errors
from kb.views.lookups import get_article, get_id, get_locale_or_404

log = logging.getLogger(__name__)

bp = Blueprint("contact", __name__)
VOTE_QUERY_MAX = 2000  # the question the suggested answer was for, as kept with a vote


def _contact_form(locale: str) -> ContactForm:
    form = ContactForm()
    form.set_topics([(c.slug, c.title) for c in library().categories_in(locale)])
    return form


def _render_form(form: ContactForm, locale: str, problem: str = "", wait_minutes: int = 0) -> str:
    return render_template("contact/form.html", form=form, locale=locale, problem=problem, wait_minutes=wait_minutes)


def _came_from() -> str:
    """The page the visitor came from: ``?from=``, else the referrer (its path when it is this site)."""
    value = request.args.get("from") or request.referrer or ""
    parts = urlsplit(value)
    if parts.netloc == request.host:
        value = parts.path + (f"?{parts.query}" if parts.query else "")
    return value[:CAME_FROM_MAX]


@bp.route("/contact", methods=["GET", "POST"])
@bp.route("/<locale>/contact", methods=["GET", "POST"])
@limiter.limit(lambda: str(current_app.config["CONTACT_RATE_LIMIT"]), methods=["POST"])
def form(locale: str | None = None) -> ResponseReturnValue:
    locale = get_locale_or_404(locale)
    entry = _contact_form(locale)
    if request.method == "GET":
        entry.subject.data = request.args.get("subject", "")[:SUBJECT_MAX]
        entry.came_from.data = _came_from()
        page = _render_form(entry, locale)
        store.safely(record_contact_opened, get_session(), current_visitor(), locale)
        return page
    if entry.is_spam:  # a bot filled the hidden field: say "thanks", store nothing
        log.info("contact form: honeypot filled, message dropped")
        return render_template("contact/sent.html", locale=locale, reference=None, email=None)
    if request.form.get("edit"):  # back from the suggestions to change the message
        return _render_form(entry, locale)
    if not entry.validate():
        return _render_form(entry, locale, "invalid"), 422
    if not (request.form.get("send") or entry.js.data):  # without JavaScript: suggestions before sending
        question = intake.question_text(entry.subject.data or "", entry.message.data or "")
        hits, search_id = search_log.suggest(question, locale, source="contact")
        if hits:
            return render_template(
                "contact/before_you_send.html",
                form=entry,
                hits=hits,
                search_id=search_id,
                question=question,
                locale=locale,
            )
    try:
        ticket = intake.submit(entry.submission(), locale)
    except TicketNotSaved:
        return _render_form(entry, locale, "not_saved"), 503
    session["kb_sent"] = {"reference": ticket.reference, "email": ticket.email, "ticket": ticket.id}
    return redirect(url_for("contact.sent", locale=locale), 303)


@bp.get("/<locale>/contact/sent")
def sent(locale: str) -> ResponseReturnValue:
    locale = get_locale_or_404(locale)
    done = session.get("kb_sent")
    if not done:
        return redirect(url_for("contact.form", locale=locale), 302)
    delivery = _delivery(done.get("ticket"))
    return render_template(
        "contact/sent.html", locale=locale, reference=done.get("reference"), email=done.get("email"), delivery=delivery
    )


def _delivery(ticket_id: Any) -> dict[str, str]:
    """How far each message of the ticket got ({"ticket": "sent", "ack": "pending"}), so the page says
    what really happened; {} when there is nothing to send or the outbox cannot be read."""
    if not isinstance(ticket_id, int):
        return {}
    try:
        return outbox.statuses(get_session(), ticket_id)
    except SQLAlchemyError:
        get_session().rollback()
        return {}


def _payload() -> Any:
    """The posted form, or a JSON object; any other JSON (``[1]``, ``"x"``) is a 400."""
    if not request.is_json:
        return request.form
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, description="Send a JSON object.")
    return data


@bp.post("/contact/opened")
@limiter.limit(lambda: str(current_app.config["SUGGEST_RATE_LIMIT"]))
def opened() -> ResponseReturnValue:
    """Record that a suggested answer was opened in place (JSON from contact.js)."""
    data = _payload()
    article = get_article(data.get("article_id"))
    store.safely(
        answers.record_opened,
        get_session(),
        visitor=current_visitor(),
        article_id=article.id,
        search_id=get_id(data.get("search_id")),
        anchor=anchor if (anchor := str(data.get("anchor") or "")) in article.anchors else "",
        position=get_id(data.get("position")) or 0,
        draft=str(data.get("query") or "")[:VOTE_QUERY_MAX],
    )
    return jsonify(recorded=True)


def record_suggestion_vote(article: Article, helpful: bool, query: str) -> None:
    """Yes/No on an answer the contact form suggested, on the site or in the widget: once per visitor and
    per address, whatever cookies were dropped."""
    store.safely(
        votes.record_vote,
        get_session(),
        visitor=current_visitor(),
        article_id=article.id,
        revision=article.revision,
        helpful=helpful,
        query=query[:VOTE_QUERY_MAX],
        source="contact",
        voter=address_key("vote"),
    )


@bp.post("/contact/vote")
@limiter.limit(lambda: str(current_app.config["FEEDBACK_RATE_LIMIT"]))
def vote() -> ResponseReturnValue:
    """Record Yes/No under a suggested answer: JSON from contact.js, or the form on the suggestions page."""
    data = _payload()
    article = get_article(data.get("article_id"))
    helpful = str(data.get("helpful", "")).lower() in ("1", "true", "yes")
    record_suggestion_vote(article, helpful, str(data.get("query") or ""))
    if request.is_json:
        return jsonify(recorded=True, helpful=helpful)
    if not helpful:
        return redirect(url_for("contact.form", locale=article.locale), 303)
    anchor = str(data.get("anchor") or "")
    return render_template(
        "contact/answered.html",
        locale=article.locale,
        article=article,
        anchor=anchor if anchor in article.anchors else "",
    )


def _locale_of_request() -> str:
    try:
        return get_locale_or_404((request.view_args or {}).get("locale"))
    except Exception:
        return str(current_app.config["DEFAULT_LOCALE"])


@bp.errorhandler(RateLimitExceeded)
def rate_limited(exc: RateLimitExceeded) -> ResponseReturnValue:
    """Too many sends from one address: say so in words, and keep what was typed on the page."""
    if request.endpoint != "contact.form":  # votes and answers opened: contact.js reads JSON
        return jsonify(error="Too Many Requests", message=str(exc.description), status=429), 429
    locale = _locale_of_request()
    reset_at = getattr(limiter.current_limit, "reset_at", 0) or 0
    wait = max(1, round((reset_at - time.time()) / 60)) if reset_at else 60  # minutes
    log.info("contact form: rate limit %s reached", exc.description)
    return _render_form(_contact_form(locale), locale, "limited", wait), 429, {"Retry-After": str(wait * 60)}


@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
@bp.errorhandler(InternalError)
def database_unavailable(exc: SQLAlchemyError) -> ResponseReturnValue:
    """The database failed outside the ticket's own commit (a rate-limit counter, a read): on the form's
    post, the 503 is the form again with what was typed; elsewhere the site's 503."""
    if request.endpoint != "contact.form" or request.method != "POST":
        return errors.database_unavailable(exc)
    errors.database_unavailable(exc)  # logs it and rolls back
    locale = _locale_of_request()
    return _render_form(_contact_form(locale), locale, "not_saved"), 503, errors.RETRY_AFTER


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError) -> ResponseReturnValue:
    """An expired or missing form token: show the form again with what was typed, ready to send."""
    if request.endpoint != "contact.form":
        return jsonify(error="Bad Request", message=exc.description, status=400), 400
    locale = _locale_of_request()
    return _render_form(_contact_form(locale), locale, "expired"), 400
