"""gunicorn's settings for kb (``kb serve`` passes this file; ``gunicorn -c gunicorn.conf.py kb.wsgi:app`` too).

The app is loaded once in the master (``preload_app``): the articles, the search index and the embedding
models are read and warmed up before the workers fork, so the workers share those pages copy-on-write
instead of each loading its own. What must not cross a fork is handled in ``post_fork``: the database
engine's inherited connections are dropped, so each worker opens its own. Each worker still checks the
index's CURRENT pointer itself and swaps to a new build when ``kb index`` lands one (``kb.site_state``).
Command-line options (``--bind``, ``--workers``, ``--threads``, ``--control-socket``) override these.
"""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent

bind = "127.0.0.1:5000"
workers = 2
worker_class = "gthread"
threads = 4
preload_app = True
timeout = 60
graceful_timeout = 30
keepalive = 5
# The contact form's suggestions send the subject and message (up to 600 characters) in the URL: a Korean
# message is nine bytes a character once encoded, past gunicorn's default 4,094-byte request line.
limit_request_line = 8190
accesslog = "-"
# The path only: no query string (visitors type questions there), no client address, no referrer.
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'
# gunicorn 25.1+ opens a control socket for ``gunicornc``; its default path is one per user, so a second
# instance would take the first one's. ``kb serve`` names one per port; this is the fallback.
control_socket = str(ROOT / "instance" / "gunicorn.ctl")

WARM_UP = {  # one question per language: enough to run every model, analyser and snippet path once
    "en": "how do customers earn points",
    "fr": "comment les clients gagnent des points",
    "ko": "고객은 포인트를 어떻게 적립하나요",
    "ar": "كيف يكسب العملاء النقاط",
}

log = logging.getLogger("kb.serving")


def _flask_app(server: Any) -> Any:
    """Return the Flask app gunicorn loaded (in the master with ``preload_app``)."""
    return server.app.wsgi()


def warm_up(app: Any) -> None:
    """Open the site's snapshot and ask each language's question once, so no visitor pays for a first time."""
    from kb.search.semantic import UseEmbedder
    from kb.users import unknown_email_hash

    unknown_email_hash()  # the first sign-in with an unknown email would take longer: telling emails apart
    with app.app_context():
        snap = app.extensions["kb.state"].current()
        if snap.searcher is None:
            return
        locales = {a.locale for a in snap.library} or {"en"}
        for locale in sorted(locales):
            question = WARM_UP.get(locale.split("-")[0], WARM_UP["en"])
            snap.searcher.search(question, locale)
            snap.searcher.suggest(question, locale)
        for embedder in snap.searcher.embedders.values():
            if isinstance(embedder, UseEmbedder):
                embedder.prepare()


def refuse_development_key(app: Any) -> None:
    """Stop unless the app has a real secret key: the one kb makes in instance/ differs per host and is
    for development (KB_DEBUG=1, or ``kb serve --dev``); set KB_SECRET_KEY in production."""
    if app.extensions.get("kb.dev_secret_key") and not app.debug and os.environ.get("KB_SERVE_DEV") != "1":
        raise RuntimeError(
            "kb: KB_SECRET_KEY is not set (refusing the development key kept in instance/secret_key). "
            "Set KB_SECRET_KEY to a long random value shared by every server, or use `kb serve --dev` locally."
        )


def when_ready(server: Any) -> None:
    """In the master, before any worker forks: load and warm what the workers will share."""
    from kb.search import spare_core

    app = _flask_app(server)
    refuse_development_key(app)
    spare_core.spare_core.enabled = False  # its two-thread session would not cross the fork (kb.search.spare_core)
    warm_up(app)
    share_with_workers()
    server.log.info("kb: articles, index and models loaded in the master (pid %s)", os.getpid())


def share_with_workers() -> None:
    """Move everything the master built out of the garbage collector's sight before the workers fork.

    A full collection in a worker writes into the header of every container it walks, which copies the pages
    holding the articles and the index's Python objects into that worker though nothing changed them; frozen
    objects are never walked (the ``gc.freeze`` documentation's advice for a server that forks). A short
    run shows no difference (bench/README.md): full collections are rare, and come with time.
    """
    gc.collect()
    gc.freeze()


def post_fork(server: Any, worker: Any) -> None:
    """In each new worker: drop the database connections inherited from the master (never share them), and
    let a question take an idle core when the workers are no more than the cores."""
    from kb.search import spare_core

    spare_core.for_workers(server.cfg.workers)
    sessions = _flask_app(server).extensions.get("kb.db")
    engine = getattr(sessions, "kw", {}).get("bind")
    if engine is not None:
        engine.dispose(close=False)  # forget the master's pool without closing its connections


def post_worker_init(worker: Any) -> None:
    """In each worker, before its first request: run the warm-up again (thread pools, per-process state),
    and start the thread that opens new index builds, so a worker that has not answered anyone yet follows
    them too."""
    warm_up(worker.wsgi)
    worker.wsgi.extensions["kb.state"].watch()


def worker_exit(server: Any, worker: Any) -> None:
    """A worker stopping (restart, reload, shutdown): write the article views it still holds, close its
    database connections, and leave without running native destructors.

    Those destructors are not safe after a fork: onnxruntime joins threads its objects remember from the
    master, which do not exist in the worker (the thread id may now be OpenBLAS's, so the join waited until
    gunicorn killed the worker after ``graceful_timeout``, 30 s, on every stop and restart). Python has
    nothing left to do here, so the worker exits at once, with the status gunicorn was exiting with.
    """
    import sys

    from kb.tracking import view_buffer

    if os.getpid() != worker.pid:  # the master calls this hook too, for a worker that is already gone
        return
    code = _exit_status(sys.exc_info()[1])  # gunicorn calls this hook while its SystemExit propagates
    app = _flask_app(server)
    try:
        view_buffer.flush(app)
        sessions = app.extensions.get("kb.db")
        engine = getattr(sessions, "kw", {}).get("bind")
        if engine is not None:
            engine.dispose()
    except Exception:
        log.exception("could not close the worker cleanly")
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _exit_status(leaving: BaseException | None) -> int:
    """The status the worker was exiting with, as Python would have reported it."""
    if leaving is None:
        return 0
    if isinstance(leaving, SystemExit):
        if leaving.code is None:
            return 0
        return leaving.code if isinstance(leaving.code, int) else 1  # sys.exit("text") exits 1
    return 1
