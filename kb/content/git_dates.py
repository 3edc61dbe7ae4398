"""Last commit and date of each file, read from git in one call for the whole articles tree."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Revision:
    """When a file last changed, and in which commit (empty outside a git checkout)."""

    commit: str
    updated: datetime


def git_revisions(root: Path) -> dict[Path, Revision]:
    """Map every file under ``root`` that git knows to its last commit; empty outside git."""
    try:
        top = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        log = subprocess.run(
            # core.quotePath=false: names such as ko/포인트/... come back as written, not octal-escaped
            [
                "git",
                "-c",
                "core.quotePath=false",
                "-C",
                str(root),
                "log",
                "--format=\x1e%H %ct",
                "--name-only",
                "--no-renames",
                "--",
                ".",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    revisions: dict[Path, Revision] = {}
    for entry in log.split("\x1e")[1:]:
        lines = entry.strip().splitlines()
        if not lines:
            continue
        commit, stamp = lines[0].split()
        when = datetime.fromtimestamp(int(stamp), UTC)
        for name in lines[1:]:
            path = (Path(top) / name).resolve()
            revisions.setdefault(path, Revision(commit, when))
    return revisions


def repo_path(path: Path) -> str:
    """``path`` relative to its git checkout's top (for "edit this article" links); else its name."""
    try:
        top = subprocess.run(
            ["git", "-C", str(path if path.is_dir() else path.parent), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        rel = path.resolve().relative_to(Path(top).resolve()).as_posix()
        return "" if rel == "." else rel
    except (OSError, subprocess.SubprocessError, ValueError):
        return path.name


def file_revision(path: Path, revisions: dict[Path, Revision]) -> Revision:
    """Return the git revision of ``path``, or its modification time when git does not know it."""
    found = revisions.get(path.resolve()) if revisions else None  # not in git: no path to resolve
    if found is not None:
        return found
    return Revision("", datetime.fromtimestamp(path.stat().st_mtime, UTC))
