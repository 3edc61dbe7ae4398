"""`kb serve`: gunicorn with a preloading master still answers from every worker, stores what the workers
write in the database, and swaps each worker to a new index build when CURRENT moves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import PROJECT, free_port

KB = Path(sys.executable).parent / "kb"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as reply:
        return json.loads(reply.read())


def _wait_up(url: str, server: subprocess.Popen, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, "kb serve exited"
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"kb serve did not answer at {url}")


def test_serve_preloads_and_each_worker_follows_a_new_build(tmp_path: Path) -> None:
    index = tmp_path / "search_index"
    shutil.copytree(PROJECT / "search_index", index)
    old = (index / "CURRENT").read_text().strip()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "KB_DATABASE_URL": f"sqlite:///{tmp_path / 'kb.sqlite3'}",
        "KB_SEARCH_INDEX_DIR": str(index),
        "KB_INDEX_RELOAD_SECONDS": "0.5",
        "KB_RATELIMIT_ENABLED": "false",
        "KB_LOG_LEVEL": "INFO",
        "KB_SECRET_KEY": "a-production-secret-for-this-test",  # issue 14: kb serve refuses the development key
    }
    subprocess.run([str(KB), "db", "upgrade"], env=env, check=True, capture_output=True, cwd=PROJECT)
    port = free_port()
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [str(KB), "serve", "--port", str(port), "--workers", "2", "--threads", "2"],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    base = f"http://127.0.0.1:{port}/api/suggest?locale=en&q="
    try:
        _wait_up(base + "warm", server)
        answer = _get(base + "how+do+points+expire")
        assert answer["suggestions"], log.read_text()[-2000:]
        assert answer["search_id"], "the worker could not write the search to the database"
        assert "loaded in the master" in log.read_text()

        new = old + "-copy"
        shutil.copytree(index / "builds" / old, index / "builds" / new)
        (index / "CURRENT.tmp").write_text(new)
        (index / "CURRENT.tmp").replace(index / "CURRENT")
        deadline = time.monotonic() + 30  # each worker's own thread opens it, with no request asking
        while log.read_text().count(f"index build {new}") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert log.read_text().count(f"index build {new}") == 2, log.read_text()[-3000:]
        with ThreadPoolExecutor(8) as pool:  # enough at once that both workers take some
            answers = list(
                pool.map(lambda n: _get(f"{base}set+points+to+expire+after+{n}+months+of+inactivity"), range(40))
            )
        assert all(a["suggestions"] for a in answers)
        time.sleep(1)  # and no third opening comes after
        opened = log.read_text().count(f"index build {new}")
        assert opened == 2, log.read_text()[-3000:]  # once in each worker, never in the master
    finally:
        server.terminate()
        stopping = time.monotonic()
        status = server.wait(timeout=60)
    # Workers leave at once (no native destructor joins a thread that stayed in the master): not killed
    # after gunicorn's 30 s graceful timeout, not aborted.
    assert status == 0 and time.monotonic() - stopping < 20, log.read_text()[-2000:]
    assert "was sent" not in log.read_text() and "terminate called" not in log.read_text()
