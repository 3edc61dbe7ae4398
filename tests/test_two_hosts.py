"""Many hosts (issue 14): two kb servers, each with its own index folder built from the same articles, on one
PostgreSQL, behind a loopback reverse proxy that sets X-Forwarded-For (KB_PROXY_COUNT=1). They serve the same
build id; votes, tickets and rate-limit counts from both land in the one database; two `kb deliver` at once
send each outbox message exactly once."""

from __future__ import annotations

import email
import email.policy
import http.client
import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from aiosmtpd.controller import Controller
from conftest import MINI_ARTICLES, MODELS, PROJECT, free_port, served, write_tree
from delivery import smtp_settings
from flask import Flask
from sqlalchemy import func, select
from visitors import UNANSWERED, Forms, fill, token_in

from kb import create_app, db
from kb.db import engine_of, session_scope
from kb.models import OutboxMessage, Ticket, Vote

KB = Path(sys.executable).parent / "kb"
SECRET = "one-secret-shared-by-every-host"
RELEASE = "release-2026.11.29-a1b2c3d"
SUGGEST_LIMIT = 6


class Proxy(ThreadingHTTPServer):
    """A reverse proxy as nginx would be: round-robin over the hosts, X-Forwarded-For set to the client."""

    daemon_threads = True

    def __init__(self, port: int, hosts: list[str]) -> None:
        self.turns = itertools.cycle(hosts)
        self.turn_lock = threading.Lock()
        self.served_by: list[str] = []
        super().__init__(("127.0.0.1", port), ProxyHandler)

    def next_host(self) -> str:
        with self.turn_lock:
            host = next(self.turns)
            self.served_by.append(host)
            return host


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Proxy

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass

    def forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("x-forwarded-for", "connection")}
        headers["X-Forwarded-For"] = self.client_address[0]  # overwrite what the client sent, as nginx is told to
        upstream = urlsplit(self.server.next_host())
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            reply = conn.getresponse()
            data = reply.read()
        finally:
            conn.close()
        self.send_response(reply.status, reply.reason)
        for key, value in reply.getheaders():
            if key.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = forward  # noqa: N815 (http.server's names)


@contextmanager
def proxy(hosts: list[str]) -> Iterator[Proxy]:
    server = Proxy(free_port(), hosts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class Client:
    """A browser through the proxy: its own cookies, a source address of its own on loopback, no redirects."""

    def __init__(self, base: str, address: str = "127.0.0.1") -> None:
        self.base, self.address = urlsplit(base), address
        self.cookies: dict[str, str] = {}

    def send(self, method: str, path: str, form: dict[str, str] | None = None, **headers: str) -> tuple[int, Any, str]:
        conn = http.client.HTTPConnection(
            self.base.hostname, self.base.port, timeout=60, source_address=(self.address, 0)
        )
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **headers}
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            conn.request(method, path, body=body, headers=sent)
            reply = conn.getresponse()
            text = reply.read().decode("utf-8", "replace")
        finally:
            conn.close()
        for header in reply.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return reply.status, reply.headers, text


class Inbox:
    """An aiosmtpd handler that keeps every mail, slowly enough that two senders overlap."""

    def __init__(self) -> None:
        self.mails: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        import asyncio

        await asyncio.sleep(0.05)
        self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"


def mail_settings(port: int) -> dict[str, Any]:
    # the hosts only queue; the `kb deliver` workers send
    return smtp_settings(port, DELIVERY_TIMEOUT_SECONDS=5.0, DELIVER_AFTER_COMMIT=False)


def host_config(root: Path, database: str, smtp_port: int) -> dict[str, Any]:
    """One host's settings: the shared articles and secret, an index folder of its own, the one database."""
    return {
        "SECRET_KEY": SECRET,
        "ARTICLES_DIR": str(root / "articles"),
        "SEARCH_INDEX_DIR": str(root / "search_index"),
        "DATABASE_URL": database,
        "INDEX_RELOAD_SECONDS": 0.5,
        "PROXY_COUNT": 1,
        "SUGGEST_RATE_LIMIT": f"{SUGGEST_LIMIT} per hour",
        "CONTACT_RATE_LIMIT": "100 per hour",
        **mail_settings(smtp_port),
    }


def as_environment(config: dict[str, Any]) -> dict[str, str]:
    """``config`` as the KB_ variables a process started by systemd would get."""
    text = {k: ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in config.items()}
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **{f"KB_{k}": v for k, v in text.items()}}


def host_app(root: Path, database: str, smtp_port: int) -> Flask:
    """One host's app, its index built as release RELEASE from its own copy of the articles."""
    write_tree(root / "articles", MINI_ARTICLES)
    app = create_app(host_config(root, database, smtp_port), models=MODELS)
    built = app.test_cli_runner().invoke(args=["index", "--build-id", RELEASE])
    assert built.exit_code == 0, built.output
    return app


@contextmanager
def kb_serve(root: Path, database: str, smtp_port: int) -> Iterator[str]:
    """Run `kb serve` (gunicorn, one worker) for the host in ``root``; yield its base URL."""
    port = free_port()
    with (root / "server.log").open("w") as log:
        server = subprocess.Popen(
            [str(KB), "serve", "--port", str(port), "--workers", "1", "--threads", "4"],
            env=as_environment(host_config(root, database, smtp_port)),
            cwd=PROJECT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=60)


def wait_ready(base: str, seconds: float = 300) -> dict[str, Any]:
    """Poll /healthz until the host has opened its index; return its report."""
    import json

    deadline = time.monotonic() + seconds
    while True:
        try:
            status, _, text = Client(base).send("GET", "/healthz")
        except OSError:  # not listening yet
            assert time.monotonic() < deadline, f"{base} never answered"
            time.sleep(0.5)
            continue
        if status == 200 or time.monotonic() > deadline:
            assert status == 200, text
            found: dict[str, Any] = json.loads(text)
            return found
        time.sleep(0.3)


def deliver(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(KB), "deliver"], env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("server", ["werkzeug", "kb serve"])
def test_two_hosts_behind_a_proxy_share_one_postgresql(server: str, tmp_path: Path, database: str) -> None:
    db.upgrade(database)
    inbox, smtp_port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    apps = [host_app(tmp_path / f"host{n}", database, smtp_port) for n in (1, 2)]
    try:
        with ExitStack() as stack:
            if server == "werkzeug":
                hosts = [stack.enter_context(served(app)) for app in apps]
            else:
                roots = [tmp_path / f"host{n}" for n in (1, 2)]
                hosts = [stack.enter_context(kb_serve(root, database, smtp_port)) for root in roots]
            front = stack.enter_context(proxy(hosts))
            base = f"http://127.0.0.1:{front.server_address[1]}"

            # The same build id from two index folders built apart.
            reports = [wait_ready(host) for host in hosts]
            assert [r["index"]["build"] for r in reports] == [RELEASE, RELEASE]
            assert {wait_ready(base)["index"]["build"] for _ in range(4)} == {RELEASE}
            again = apps[0].test_cli_runner().invoke(args=["index", "--build-id", RELEASE])
            assert again.exit_code != 0 and "exists already" in again.output  # a name is never built twice

            # Votes through the proxy: the article page from one host, the vote (CSRF token and all) on the other.
            articles = ["install-on-shopify", "set-up-points-expiry"]
            for slug in articles:
                visitor = Client(base)
                status, _, page = visitor.send("GET", f"/en/articles/{slug}")
                assert status == 200
                form = {"csrf_token": token_in(page), "article_id": f"en/{slug}", "query": "", "step": "vote"}
                status, _, text = visitor.send(
                    "POST", "/feedback", {**form, "helpful": "no"}, Accept="application/json"
                )
                assert status == 200, text

            # Tickets through the proxy, each page and post on whichever host the proxy picks.
            for n in range(4):
                merchant = Client(base)
                status, _, page = merchant.send("GET", "/en/contact")
                assert status == 200
                page_form = Forms(page).find(id="contact-form")
                data = fill(page_form, UNANSWERED, subject=f"Keyboard question number {n}")
                status, headers, text = merchant.send("POST", "/en/contact", data)
                assert status == 303, text[:500]
            assert set(front.served_by) == set(hosts)  # the proxy really used both

            with session_scope(apps[0]) as session:
                assert sorted(session.scalars(select(Vote.article_id)).all()) == [f"en/{s}" for s in articles]
                assert session.scalar(select(func.count()).select_from(Ticket)) == 4
                queued = session.scalar(select(func.count()).select_from(OutboxMessage))
            assert queued == 8  # a ticket and an acknowledgement each

            # One rate limit for both hosts, keyed by the address the proxy forwards.
            asker = Client(base)
            answers = [asker.send("GET", "/api/suggest?locale=en&q=points+expiry")[0] for _ in range(SUGGEST_LIMIT)]
            assert answers == [200] * SUGGEST_LIMIT
            refused = [asker.send("GET", "/api/suggest?locale=en&q=points+expiry")[0] for _ in range(2)]
            assert refused == [429, 429]  # the next one on either host
            other = Client(base, address="127.0.0.2")  # another visitor behind the same proxy still gets in
            assert other.send("GET", "/api/suggest?locale=en&q=points+expiry")[0] == 200

            # The proxy's request id comes back and names the request in the host's log.
            for _ in hosts:
                _, headers, _ = Client(base).send("GET", "/healthz", **{"X-Request-ID": "deploy-check-0001"})
                assert headers["X-Request-ID"] == "deploy-check-0001"

        if server == "kb serve":  # the servers have stopped: their logs are complete
            logs = [(tmp_path / f"host{n}" / "server.log").read_text() for n in (1, 2)]
            assert all('"GET /healthz" 200' in log and "request_id=deploy-check-0001" in log for log in logs), logs

        # Two `kb deliver` at once on the one database: each message sent exactly once.
        env = as_environment(host_config(tmp_path / "host1", database, smtp_port))
        workers = [deliver(env) for _ in range(2)]
        outputs = [w.communicate(timeout=300) for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outputs
        sent = [int(out.split(" sent", 1)[0].rsplit("\n", 1)[-1]) for out, _ in outputs]
        assert sum(sent) == 8, outputs
        assert len(inbox.mails) == 8
        assert len({m["Message-ID"] for m in inbox.mails}) == 8
        with session_scope(apps[0]) as session:
            assert session.scalars(select(OutboxMessage.status)).all() == ["sent"] * 8
    finally:
        controller.stop()
        for app in apps:
            engine_of(app).dispose()


@pytest.mark.parametrize("bad", ["../up", "a/b", "-dash", ""])
def test_kb_index_refuses_a_build_id_that_is_not_a_plain_name(bad: str, tmp_path: Path) -> None:
    config = {
        "SECRET_KEY": SECRET,
        "SEARCH_INDEX_DIR": str(tmp_path / "idx"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/k",
    }
    app = create_app(config, models=MODELS)
    result = app.test_cli_runner().invoke(args=["index", "--build-id", bad])
    assert result.exit_code != 0 and not (tmp_path / "idx").exists()
