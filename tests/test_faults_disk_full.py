"""Finding 9 of issue 14 under the production server: the disk that holds the SQLite file fills up while
gunicorn serves. A small tmpfs is mounted for the database (root only: nothing else makes a disk really
full), `kb serve` runs on it, and a file then takes every byte left. Pages that only record keep answering,
the contact form answers 503 with every word kept, no worker dies, and once space is back the same form is
stored without a restart."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from conftest import PROJECT, free_port

KB = Path(sys.executable).parent / "kb"
MESSAGE = "My dog ate my keyboard yesterday and I typed all of this; please do not make me type it again."


@contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small filesystem to fill: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


class Browser:
    """One visitor with cookies, against the running server."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def open(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data=data, timeout=60) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except urllib.error.URLError:  # not listening yet, or the connection was reset
            return 0, ""

    def contact(self) -> tuple[int, str]:
        status, page = self.open("/en/contact")
        assert status == 200
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token
        form = {
            "csrf_token": token.group(1),
            "name": "Ada",
            "email": "ada@example.com",
            "subject": "A new keyboard",
            "message": MESSAGE,
            "topic": "",
            "store_url": "",
            "send": "1",
        }
        return self.open("/en/contact", form)


def workers(master: int) -> list[int]:
    return sorted(int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split())


def pages_answer(base: str, round_: int) -> None:
    for n in range(4):  # each one records (a view, a search): writes the full disk refuses
        assert Browser(base).open(f"/en/articles/set-up-points-expiry?from=search&q=expiry+{round_}+{n}")[0] == 200
        assert Browser(base).open(f"/api/suggest?locale=en&q=points+expire+{round_}+{n}")[0] == 200


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting the small filesystem to fill needs root")
def test_a_full_disk_under_gunicorn_keeps_every_worker_and_every_word(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "KB_DATABASE_URL": f"sqlite:///{disk / 'kb.sqlite3'}",
            "KB_RATELIMIT_ENABLED": "false",
            "KB_SECRET_KEY": "a-production-secret-for-this-test",
            "KB_LOG_LEVEL": "WARNING",
        }
        subprocess.run([str(KB), "db", "upgrade"], env=env, check=True, capture_output=True, cwd=PROJECT)
        port, log = free_port(), tmp_path / "server.log"
        with log.open("w") as err:
            server = subprocess.Popen(
                [str(KB), "serve", "--port", str(port), "--workers", "2", "--threads", "2"],
                env=env,
                cwd=PROJECT,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 600
            # gunicorn forks its workers one after another: the first may answer before the second exists
            while Browser(base).open("/healthz")[0] != 200 or len(workers(server.pid)) < 2:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.5)
            before = workers(server.pid)
            pages_answer(base, 0)

            filler = disk / "filler"
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=64"], capture_output=True)
            visitor = Browser(base)
            status, html = visitor.contact()
            assert status == 503 and "Your message was not sent" in html
            assert MESSAGE.replace("'", "&#39;") in html  # every word, back in the form
            pages_answer(base, 1)
            assert workers(server.pid) == before  # no worker died
            assert "database or disk is full" in log.read_text()

            filler.unlink()
            status, html = visitor.contact()
            assert status == 200 and "KB-" in html, html[-500:]  # stored, without a restart
            assert workers(server.pid) == before
        finally:
            server.terminate()
            server.wait(timeout=60)
