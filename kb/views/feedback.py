"""Feedback under every article: a form that posts and comes back, or answers JSON to feedback.js."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError

from kb.content import Article
from kb.db import get_session
from kb.extensions import limiter
from kb.forms import FeedbackForm
from kb.security.addresses import address_key
from kb.site_state import library
from kb.tracking import votes
from kb.tracking.visitor import current_visitor
from kb.views.errors import wants_json
from kb.views.lookups import get_article

log = logging.getLogger(__name__)

bp = Blueprint("feedback", __name__)
STATE = "kb_feedback"  # the widget's step after a post without JavaScript: {article, step, query, error}


def _back(article: Article, step: str, query: str, error: str = "", comment: str = "") -> ResponseReturnValue:
    session[STATE] = {
        "article": article.id,
        "step": step,
        "query": query,
        "error": error,
        "comment": comment[: votes.COMMENT_MAX],
    }
    return redirect(f"{article.url}#feedback", 303)


@bp.post("/feedback")
@limiter.limit(lambda: str(current_app.config["FEEDBACK_RATE_LIMIT"]))
def vote() -> ResponseReturnValue:
    """Store a Yes/No (or the reason after a No) and go on to the next step."""
    form = FeedbackForm()
    article = get_article(form.article_id.data)
    if not form.validate():
        message = form.first_error()
        if wants_json():
            return jsonify(error=message), 422
        back_to = "reason" if form.asks_why else "ask"
        return _back(article, back_to, form.query_text, message, str(form.comment.data or ""))
    try:
        step = votes.submit(get_session(), article, current_visitor(), form.answer(), address_key("vote"))
    except SQLAlchemyError:
        log.exception("could not store feedback on %s", article.id)
        get_session().rollback()
        message = _("Sorry, we could not save your answer. Please try again.")
        if wants_json():
            return jsonify(error=message), 503
        return _back(article, "ask", form.query_text, message)
    if wants_json():
        return jsonify(step=step.name, helpful=step.helpful)
    return _back(article, step.name, form.query_text)


def has_feedback_state(article_id: str) -> bool:
    """Whether this visitor has a step of their own to see under this article (so its page is theirs)."""
    state = session.get(STATE) or {}
    return bool(state.get("article") == article_id)


@bp.app_template_global()
def feedback_state(article_id: str) -> dict[str, str]:
    """The widget's step for this article: ``ask`` unless the visitor just answered it (shown once)."""
    state = session.get(STATE)
    if not state or state.get("article") != article_id:
        return {"step": "ask", "query": "", "error": "", "comment": ""}
    if state.get("step") == "thanks" or state.get("error"):
        session.pop(STATE, None)  # the thank-you and errors are shown once
    return {
        "step": state.get("step", "ask"),
        "query": state.get("query", ""),
        "error": state.get("error", ""),
        "comment": state.get("comment", ""),
    }


@bp.app_template_global()
def feedback_reasons() -> dict[str, str]:
    """The follow-up's choices after a No: reason code -> what the visitor reads."""
    return {code: str(reason.asked) for code, reason in votes.REASONS.items()}


@bp.errorhandler(RateLimitExceeded)
def rate_limited(exc: RateLimitExceeded) -> ResponseReturnValue:
    """Too many answers from one address: say so, and link back to the article."""
    message = _("You have sent a lot of feedback in a short time. Please try again in a few minutes.")
    if wants_json():
        return jsonify(error=message), 429
    article = library().by_id(str(request.form.get("article_id") or ""))
    return render_template(
        "feedback/limited.html",
        message=message,
        article=article,
        locale=article.locale if article else current_app.config["DEFAULT_LOCALE"],
    ), 429


@bp.errorhandler(CSRFError)
def expired(exc: CSRFError) -> ResponseReturnValue:
    """A missing or expired token: nothing is stored; back to the article to answer again."""
    message = _("Your page was open for a long time, so we could not save your answer. Please answer again.")
    if wants_json():
        return jsonify(error=message), 400
    article = library().by_id(str(request.form.get("article_id") or ""))
    if article is None:  # no article to go back to: the plain 400 (abort here would escape as a 500)
        return exc
    return _back(article, "ask", str(request.form.get("query") or ""), message)
