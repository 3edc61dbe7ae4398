"""Servers the load benchmark starts on loopback and stops: PostgreSQL in a temporary folder, and nginx
serving one saved page as a static file (the ceiling a Python server is compared with).

Both come from Debian (``apt-get install postgresql nginx-light``); as root, the PostgreSQL server runs as
the ``postgres`` user (initdb refuses root) and nginx's workers as root (the files are in a private folder).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


def pg_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for folder in versions:
        if (Path(folder) / name).exists():
            return str(Path(folder) / name)
    raise SystemExit(f"PostgreSQL's {name} is missing: apt-get install postgresql")


@contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL server with its defaults (fsync on), and a ``kb`` database; yields its URL."""
    root = Path(tempfile.mkdtemp(prefix="kb-bench-pg-"))
    owner: dict[str, Any] = {}
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        owner = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        os.chown(root, user.pw_uid, user.pw_gid)
    data, sockets, port = root / "data", root / "sockets", free_port()
    pg_ctl = pg_binary("pg_ctl")

    def run(*args: str) -> None:
        done = subprocess.run(args, capture_output=True, text=True, cwd=root, timeout=120, **owner)
        if done.returncode:
            raise SystemExit(done.stdout + done.stderr)

    run("mkdir", str(sockets))
    run(pg_binary("initdb"), "-D", str(data), "-U", "kb", "--auth=trust", "-E", "UTF8", "--locale=C")
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=200"
    run(pg_ctl, "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60", "start", "-o", options)
    try:
        run(pg_binary("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "kb", "kb")
        yield f"postgresql+psycopg://kb@127.0.0.1:{port}/kb"
    finally:
        subprocess.run([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True, cwd=root, **owner)
        shutil.rmtree(root, ignore_errors=True)


NGINX_CONF = """
{user}
worker_processes {workers};
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {root}/tmp;
  proxy_temp_path {root}/tmp;
  fastcgi_temp_path {root}/tmp;
  uwsgi_temp_path {root}/tmp;
  scgi_temp_path {root}/tmp;
  server {{
    listen 127.0.0.1:{port};
    location / {{ root {root}/www; default_type text/html; }}
  }}
}}
"""


@contextmanager
def nginx_static(path: str, page: bytes, workers: int) -> Iterator[str]:
    """nginx with ``workers`` processes serving ``page`` at ``path``; yields the base URL."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx is missing: apt-get install nginx-light")
    root = Path(tempfile.mkdtemp(prefix="kb-bench-nginx-"))
    (root / "tmp").mkdir()
    target = root / "www" / path.lstrip("/")
    target.parent.mkdir(parents=True)
    target.write_bytes(page)
    port = free_port()
    conf = root / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(NGINX_CONF.format(user=user, workers=workers, root=root, port=port))
    server = subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
