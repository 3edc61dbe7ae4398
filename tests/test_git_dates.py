"""Last-updated dates and commits: from git when the articles are committed, else the file's mtime."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import MINI_ARTICLES, git, write_tree

from kb.content import load_library
from kb.content.git_dates import file_revision, git_revisions

FIRST = "2024-03-05T10:20:30+00:00"
SECOND = "2024-06-01T08:00:00+00:00"


def commit(repo: Path, message: str, when: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, env={"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})


def last_commit(repo: Path, rel: str) -> tuple[str, datetime]:
    """What `git log` says about ``rel``: its last commit and that commit's date."""
    sha, stamp = git(repo, "log", "-1", "--format=%H %ct", "--", rel).split()
    return sha, datetime.fromtimestamp(int(stamp), UTC)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real git repository holding the mini articles tree, committed once at a fixed date."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = tmp_path / "help"
    write_tree(root / "articles", MINI_ARTICLES)
    write_tree(root / "articles", {"ko/포인트/포인트-만료.md": "---\ntitle: 포인트 만료\nsummary: S\n---\n\n본문.\n"})
    git(root, "init", "-q")
    commit(root, "First articles", FIRST)
    return root


@pytest.mark.parametrize(
    ("locale", "slug", "rel"),
    [
        ("en", "install-on-shopify", "articles/en/getting-started/install-on-shopify.md"),
        ("en", "set-up-points-expiry", "articles/en/points/set-up-points-expiry.md"),
        ("ko", "포인트-만료", "articles/ko/포인트/포인트-만료.md"),
    ],
)
def test_updated_and_commit_come_from_git_log(repo: Path, locale: str, slug: str, rel: str) -> None:
    article = load_library(repo / "articles").get(locale, slug)
    assert article is not None
    sha, when = last_commit(repo, rel)
    assert (article.commit, article.updated) == (sha, when)
    assert article.updated == datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)
    assert article.revision == sha


def test_each_file_keeps_its_own_last_commit(repo: Path) -> None:
    path = repo / "articles/en/points/set-up-points-expiry.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    commit(repo, "Edit expiry", SECOND)
    library = load_library(repo / "articles")
    changed, untouched = library.get("en", "set-up-points-expiry"), library.get("en", "install-on-shopify")
    assert changed is not None and untouched is not None
    assert (changed.commit, changed.updated) == last_commit(repo, "articles/en/points/set-up-points-expiry.md")
    assert changed.updated == datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
    assert (untouched.commit, untouched.updated) == last_commit(
        repo, "articles/en/getting-started/install-on-shopify.md"
    )
    assert untouched.commit != changed.commit


def test_articles_folder_below_the_repository_root(repo: Path) -> None:
    revisions = git_revisions(repo / "articles" / "en")
    path = repo / "articles/en/billing/cancel-your-subscription.md"
    assert (
        file_revision(path, revisions).commit == last_commit(repo, "articles/en/billing/cancel-your-subscription.md")[0]
    )


def test_uncommitted_file_in_a_repository_falls_back_to_mtime(repo: Path) -> None:
    new = repo / "articles/en/points/new-article.md"
    new.write_text("---\ntitle: New\nsummary: S\n---\n\nNot committed yet.\n", encoding="utf-8")
    stamp = datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    os.utime(new, (stamp, stamp))
    article = load_library(repo / "articles").get("en", "new-article")
    assert article is not None
    assert article.commit == ""
    assert article.updated == datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_outside_git_updated_is_the_file_mtime_and_commit_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    root = write_tree(tmp_path / "articles", MINI_ARTICLES)
    path = root / "en/points/set-up-points-expiry.md"
    stamp = datetime(2022, 8, 9, 10, 11, 12, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))
    assert git_revisions(root) == {}
    article = load_library(root).get("en", "set-up-points-expiry")
    assert article is not None
    assert article.commit == ""
    assert article.updated == datetime(2022, 8, 9, 10, 11, 12, tzinfo=UTC)
    assert article.revision == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
