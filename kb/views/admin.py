"""/admin: what to fix and what to write next, behind a login. Every page but the login needs a user."""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import get_locale
from flask_limiter import RateLimitExceeded
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError

from kb import analytics, users
from kb.analytics import fixes, gaps, helpfulness, reports, searches, sources
from kb.analytics import ticket_list as tickets
from kb.analytics.charts import overview_charts
from kb.analytics.helpfulness import reason_label
from kb.analytics.period import Period
from kb.analytics.tables import Table
from kb.config import current_settings
from kb.db import get_session
from kb.extensions import limiter, login_manager
from kb.forms import LoginForm
from kb.learning.ranking import tuning_of
from kb.learning.report import learned_articles, learned_table
from kb.models import utcnow
from kb.security import admin_sessions, cookies, lockout
from kb.security.redirects import safe_next
from kb.site_state import library, snapshot
from kb.tracking.redact import pseudonym

log = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin")
SESSION_KEY = "kb_admin"  # {"seen": unix time of the last request}; Flask-Login keeps who it is
TOKEN_KEY = "kb_admin_token"  # the server-side session's token (kb.security.admin_sessions)
DEFAULT_DAYS = 30
TICKETS_PER_PAGE = 50
PUBLIC = ("admin.login",)
DATA_LOCALE = "data_locale"  # the articles' language the figures are of; ``locale`` is the page's language


# -- who is signed in --------------------------------------------------------------------------------


@login_manager.user_loader
def _load_admin(user_id: str) -> users.Admin | None:
    """The user the session names, if their server-side session is still open (not revoked, old or idle)."""
    admin = users.get_admin(get_session(), user_id)
    max_age = float(current_app.config["ADMIN_SESSION_MAX_SECONDS"])
    token = session.get(TOKEN_KEY)
    if admin is None or not admin_sessions.is_active(get_session(), token, admin.id, max_age, _lifetime()):
        return None
    return admin


def _lifetime() -> float:
    return current_app.permanent_session_lifetime.total_seconds()


def _sign_out() -> None:
    logout_user()
    session.pop(SESSION_KEY, None)
    session.pop(TOKEN_KEY, None)


def current_admin() -> users.Admin | None:
    """The signed-in user, or None; a session idle for longer than PERMANENT_SESSION_LIFETIME has ended."""
    state = session.get(SESSION_KEY)
    if not isinstance(state, dict):
        if "_user_id" in session:  # signed in without the admin's clock: not a session this page made
            logout_user()
        return None
    now = time.time()
    if now - float(state.get("seen", 0)) > _lifetime():
        _sign_out()
        g.admin_timed_out = True
        return None
    if not current_user.is_authenticated:  # the user was removed since
        _sign_out()
        return None
    session[SESSION_KEY] = {"seen": now}
    session.permanent = True
    admin: users.Admin = current_user._get_current_object()
    return admin


@bp.before_request
def require_login() -> ResponseReturnValue | None:
    """Anonymous visitors of any admin page are sent to the login page (and back after it)."""
    g.admin = current_admin()
    if g.admin is None and request.endpoint not in PUBLIC:
        target = request.full_path if request.method == "GET" else url_for("admin.overview")
        timed_out = 1 if g.get("admin_timed_out") else None
        return redirect(url_for("admin.login", next=target.rstrip("?"), timed_out=timed_out), 302)
    return None


@bp.after_request
def private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("X-Robots-Tag", "noindex")
    return response


def _safe_next(target: str | None) -> str:
    return safe_next(target, url_for("admin.overview"), prefix="/admin")


def _login_page(form: LoginForm, problem: str = "") -> str:
    return render_template("admin/login.html", form=form, problem=problem, locale=_ui_locale())


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: str(current_app.config["LOGIN_RATE_LIMIT"]), methods=["POST"])
def login() -> ResponseReturnValue:
    form = LoginForm(next=request.args.get("next", ""))
    if request.method == "GET":
        if g.admin is not None:
            return redirect(_safe_next(request.args.get("next")), 302)
        notice = "timed_out" if g.get("admin_timed_out") or request.args.get("timed_out") else ""
        return _login_page(form, notice)
    email = str(form.email.data or "")[:254]
    valid = form.validate()
    address = request.remote_addr
    wait = lockout.wait_seconds(email, address, lockout.is_known_browser(email)) if valid else 0.0
    if wait > 0:  # too many failures on this account: refused unchecked, and not counted, until the wait ends
        log.warning("admin login refused: the account backs off for %.0f s", wait)
        return _login_page(LoginForm(formdata=None), "limited"), 429, {"Retry-After": str(int(wait) + 1)}
    admin = users.authenticate(get_session(), email, str(form.password.data or "")) if valid else None
    if admin is None:
        if valid:
            lockout.note_failure(email, address)
        who = pseudonym(email, str(current_app.config["SECRET_KEY"]))
        log.warning("admin login failed for %s from %s", who, request.remote_addr)
        return _login_page(form, "wrong"), 401
    lockout.clear(email, address)
    session.clear()  # nothing from before the login carries over
    session[TOKEN_KEY] = admin_sessions.start(get_session(), admin.id)
    login_user(users.Admin(admin.id, admin.email))
    session[SESSION_KEY] = {"seen": time.time()}
    session.permanent = True
    log.info("admin login: user %s", admin.id)
    response = redirect(_safe_next(form.next.data), 303)
    response.set_cookie(  # this browser may sign in while the account backs off from others' guesses
        lockout.KNOWN_COOKIE,
        lockout.known_browser_value(admin.email),
        max_age=lockout.KNOWN_MAX_AGE,
        path="/admin",
        httponly=True,
        samesite="Strict",
        secure=cookies.secure(),
    )
    return response


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out, ending every session of this admin on the server (a copied cookie opens nothing after)."""
    if g.admin is not None:
        admin_sessions.revoke_all(get_session(), g.admin.id)
    _sign_out()
    return redirect(url_for("admin.login"), 303)


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError) -> ResponseReturnValue:
    return _login_page(LoginForm(), "expired"), 400


@bp.errorhandler(RateLimitExceeded)
def rate_limited(exc: RateLimitExceeded) -> ResponseReturnValue:
    log.warning("admin login rate limit reached from %s", request.remote_addr)
    return _login_page(LoginForm(formdata=None), "limited"), 429


# -- the period and the tables ----------------------------------------------------------------------


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def get_period() -> Period:
    """The date range (``from`` and ``to`` included) and the articles' language asked for; by default the last 30 days.

    The language of the figures is ``data_locale``: ``locale`` is the language of the page (kb.i18n.ui).
    """
    today = utcnow().date()
    last = _day(request.args.get("to")) or today
    first = _day(request.args.get("from")) or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first, last = last, first
    locale = request.args.get(DATA_LOCALE) or None
    return Period.between(first, last, locale if locale in library().locales else None)


def _page(template: str, **context: Any) -> str:
    context.setdefault("period", get_period())
    return render_template(template, locale=_ui_locale(), locales=library().locales, args=request.args, **context)


def _ui_locale() -> str:
    """The language the admin is shown in (the visitor's choice), for the page's lang and dir."""
    return str(get_locale() or "en")


def _table(table: Table) -> Table:
    return table.sorted_by(request.args.get("sort"), request.args.get("dir"))


def _csv(table: Table, period: Period) -> Response:
    where = f"-{period.locale}" if period.locale else ""
    name = f"kb-{table.name}-{period.first_day}-{period.last_day}{where}.csv"
    return Response(table.csv(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _export(*tables: Table, period: Period) -> Response | None:
    """The CSV of the table ``?export=`` names (``csv`` for the first one), or None to render the page."""
    wanted = request.args.get("export")
    for table in tables:
        if wanted in ("csv", table.name):
            return _csv(table, period)
    return None


def _respond(template: str, exports: list[Table], **context: Any) -> ResponseReturnValue:
    """The page, or the CSV of one of its ``exports`` when ``?export=`` asks for it."""
    exported = _export(*exports, period=context["period"])
    return exported if exported is not None else _page(template, **context)


FILTERS = ("from", "to", DATA_LOCALE)


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {
        "display": reports.display,
        "share": reports.share,
        "filters_only": filters_only,
        "here": here,
        "reason_label": reason_label,
    }


def here(**changes: Any) -> str:
    """This page's URL with its filters kept and ``changes`` (sort, export...) applied."""
    args = {**(request.view_args or {}), **filters_only(request.args), **changes}
    return url_for(str(request.endpoint), **{k: v for k, v in args.items() if v is not None})


def filters_only(args: Any) -> dict[str, str]:
    """The date range and locale of ``args``, to keep in every link of the admin."""
    return {key: args[key] for key in FILTERS if args.get(key)}


def _analytics_settings() -> analytics.Settings:
    return analytics.Settings.from_config(current_app.config)


# -- pages --------------------------------------------------------------------------------------------


@bp.get("/")
def overview() -> ResponseReturnValue:
    period = get_period()
    view = analytics.overview(get_session(), period, _analytics_settings())
    funnel = reports.funnel_table(view.funnel)
    rate = reports.rate_table(view.rate)
    exported = _export(funnel, rate, period=period)
    if exported is not None:
        return exported
    searcher = snapshot().searcher
    status = searcher.status() if searcher is not None else None
    return _page(
        "admin/overview.html",
        period=period,
        view=view,
        charts=overview_charts(view),
        search_status=status,
        attention=reports.attention_table(view.attention, library()),
        funnel=funnel,
        deliveries=tickets.delivery_counts(get_session()),
        sources=sources.source_table(get_session(), period),
        widget_pages=sources.page_table(get_session(), period),
    )


@bp.get("/attention")
def attention() -> ResponseReturnValue:
    period = get_period()
    min_votes = _analytics_settings().min_votes
    items, held_back = helpfulness.needs_attention(get_session(), period, min_votes, limit=100)
    table = _table(reports.attention_table(items, library()))
    return _respond(
        "admin/attention.html", [table], period=period, table=table, held_back=held_back, min_votes=min_votes
    )


@bp.get("/gaps")
def content_gaps() -> ResponseReturnValue:
    period = get_period()
    settings = _analytics_settings()
    found = gaps.content_gaps(
        get_session(), period, _encoder(), settings.gap_similarity, settings.gap_limit, settings.confident
    )
    table = _table(reports.gaps_table(found))
    return _respond("admin/gaps.html", [table], period=period, table=table, report=found)


def _encoder() -> gaps.Encode | None:
    """The running searcher's MiniLM model, remembering what it encoded; None when semantic search is off."""
    searcher = snapshot().searcher
    if searcher is None or not searcher.semantic_available:
        return None
    embedder = searcher.embedders["minilm"]
    held = current_app.extensions.get("kb.gap_vectors")
    if held is None or held[0] is not embedder:  # a new model (a new index build): start afresh
        held = current_app.extensions["kb.gap_vectors"] = (embedder, gaps.CachedEncode(embedder.encode))
    encode: gaps.Encode = held[1]
    return encode


@bp.get("/searches")
def search_report() -> ResponseReturnValue:
    period = get_period()
    db = get_session()
    confident = _analytics_settings().confident
    unanswered = searches.no_result_queries(db, period, 50, confident)
    tables = [
        _table(reports.queries_table("top-queries", searches.top_queries(db, period))),
        _table(reports.queries_table("no-result-queries", unanswered)),
        _table(reports.queries_table("bounced-queries", searches.bounced_queries(db, period))),
        reports.positions_table(searches.click_through_by_position(db, period)),
    ]
    totals = searches.totals(db, period, confident)
    return _respond("admin/searches.html", tables, period=period, tables=tables, totals=totals)


@bp.get("/fix")
def fix() -> ResponseReturnValue:
    """From a question no article answered, the line that makes `kb check` hold the fix (no state changes)."""
    question = fixes.clean(request.args.get("q", ""))
    default = str(current_app.config["DEFAULT_LOCALE"])
    lang = request.args.get("question_locale") or get_period().locale or default
    lang = lang if lang in library().locales else default
    choices = fixes.article_choices(library(), lang)
    expect = request.args.get("expect")
    test_line = synonym = problem = ""
    if question and expect is not None and (expect == "" or expect in {c.slug for c in choices}):
        test_line = fixes.search_test_line(question, expect or None, lang)
    article_words, visitor_words = request.args.get("article_words", ""), request.args.get("visitor_words", "")
    if article_words or visitor_words:
        try:
            synonym = fixes.synonym_line(article_words, visitor_words)
        except ValueError as exc:
            problem = str(exc)
    return _page(
        "admin/fix.html",
        question=question,
        question_locale=lang,
        choices=choices,
        expect=expect,
        test_line=test_line,
        synonym=synonym,
        problem=problem,
        article_words=fixes.clean(article_words, 100),
        visitor_words=fixes.clean(visitor_words or question, 100),
        files={"tests": fixes.TESTS_FILE, "synonyms": fixes.SYNONYMS_FILE},
    )


@bp.get("/learned")
def learned() -> ResponseReturnValue:
    """Articles that visitors' votes raise or lower for similar questions (counts only, no visitor text)."""
    settings = current_settings()
    tuning = tuning_of(settings)
    table = _table(learned_table(learned_articles(get_session(), tuning, utcnow()), library(), tuning))
    return _respond(
        "admin/learned.html", [table], period=get_period(), table=table, tuning=tuning, on=settings.learning
    )


@bp.get("/tickets")
def ticket_list() -> ResponseReturnValue:
    period = get_period()
    state = request.args.get("delivery") or None
    state = state if state in (*tickets.DELIVERY_STATES, "not sent") else None
    page = max(1, request.args.get("page", 1, type=int) or 1)
    export = bool(request.args.get("export"))
    limit, offset = (100_000, 0) if export else (TICKETS_PER_PAGE, (page - 1) * TICKETS_PER_PAGE)
    rows, total = tickets.ticket_rows(get_session(), period, state, limit, offset)
    table = reports.tickets_table(rows)
    return _respond(
        "admin/tickets.html",
        [table],
        period=period,
        rows=rows,
        total=total,
        page=page,
        per_page=TICKETS_PER_PAGE,
        delivery=state,
        states=(*tickets.DELIVERY_STATES, "not sent"),
        counts=tickets.delivery_counts(get_session()),
    )


@bp.get("/articles")
def articles() -> ResponseReturnValue:
    period = get_period()
    figures = helpfulness.article_figures(get_session(), period)
    table = _table(reports.articles_table(figures.values(), library()))
    return _respond("admin/articles.html", [table], period=period, table=table)


@bp.get("/articles/<path:article_id>")
def article(article_id: str) -> ResponseReturnValue:
    """One article's figures, its history per revision, its comments and the searches that led there."""
    period = get_period().with_locale(None)
    db = get_session()
    found = library().by_id(article_id)
    revisions = helpfulness.revision_figures(db, period, article_id)
    table = reports.revisions_table(revisions)
    exported = _export(table, period=period)
    if exported is not None:
        return exported
    figures = helpfulness.article_figures(db, period).get(article_id, helpfulness.ArticleFigures(article_id))
    return _page(
        "admin/article.html",
        period=period,
        article_id=article_id,
        article=found,
        figures=figures,
        table=table,
        comments=helpfulness.recent_comments(db, period, article_id),
        queries=helpfulness.leading_queries(db, period, article_id, 20),
    )
