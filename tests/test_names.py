"""Names in _names.yml: a spelling becomes the articles' name whatever case the visitor typed, Latin spellings
only as whole words, and a broken entry neither stops search nor shows up as the visitor's text in a log."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app

from kb.search.names import FILENAME, Names, load_names

NAMES = Names(
    {"shopify app": "Shopify", "pos": "POS", "σύνδεση": "Sync", "재피어": "Zapier", "زابير": "Zapier"},
    ("pos", "shopify", "sync", "zapier"),
)


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("shopıfy app install", "Shopify install"),  # dotless ı matches i; its lower() is not "i"
        ("SHOPİFY APP", "Shopify"),  # dotted capital İ lowers to two characters
        ("σύνδεςη τώρα", "Sync τώρα"),  # final sigma
        ("ΣΎΝΔΕΣΗ", "Sync"),
        ("ſhopify app", "Shopify"),  # long s
    ],
)
def test_any_case_of_a_spelling_becomes_the_name(query: str, canonical: str) -> None:
    assert NAMES.canonical(query) == canonical


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("how to deposit points", "how to deposit points"),
        ("repost on instagram", "repost on instagram"),
        ("pos setup", "POS setup"),
        ("set up pos, then", "set up POS , then"),
        ("шопифай pos", "шопифай POS"),
        ("shopify app에서 설치", "Shopify 에서 설치"),  # a Korean particle may follow a Latin name
        ("재피어로 자동화", "Zapier 로 자동화"),  # Hangul and Arabic spellings still match inside a word
        ("اربط بزابير", "اربط ب Zapier"),
    ],
)
def test_latin_spellings_match_whole_words_only(query: str, canonical: str) -> None:
    assert NAMES.canonical(query) == canonical


@pytest.mark.parametrize("spelling", ["'  '", "'-'", "'?!'", "''"])
def test_a_spelling_without_letters_is_refused(tmp_path: Path, spelling: str) -> None:
    (tmp_path / FILENAME).write_text(f"Zapier: [재피어]\nPOS: [pos, {spelling}]\n", encoding="utf-8")
    names, problems = load_names(tmp_path)
    assert [(p.line, "no letters" in p.message) for p in problems] == [(2, True)]
    assert names.canonical("a - b") == "a - b" and names.canonical("pos") == "POS"


@pytest.fixture
def tree(indexed_root: Path, tmp_path: Path) -> Path:
    shutil.copytree(indexed_root / "articles", tmp_path / "articles")
    shutil.copytree(indexed_root / "search_index", tmp_path / "search_index")
    return tmp_path


def client_for(tree: Path, names: str) -> Any:
    (tree / "articles" / FILENAME).write_text(names, encoding="utf-8")
    return make_app(tree / "articles", tree / "search_index", tree / "kb.sqlite3").test_client()


def test_a_case_variant_searches_and_is_not_logged(tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = client_for(tree, "Shopify: [shopify app, شوبيفاي]\nPOS: [pos]\n")
    with caplog.at_level(logging.DEBUG):
        for path in ("/api/search", "/api/suggest", "/en/search"):
            response = client.get(path, query_string={"q": "shopıfy app install", "locale": "en"})
            assert response.status_code == 200, (path, response.status_code)
    assert "shopıfy" not in caplog.text
    data = client.get("/api/search", query_string={"q": "shopıfy app install", "locale": "en"}).get_json()
    assert data["results"][0]["url"].split("#")[0].endswith("/install-on-shopify")


def test_a_value_yaml_cannot_build_leaves_search_on(tree: Path) -> None:
    client = client_for(tree, "Shopify: [2024-13-01]\nPOS: [pos]\n")
    data = client.get("/api/search", query_string={"q": "cancel", "locale": "en"}).get_json()
    assert data["results"][0]["url"].split("#")[0].endswith("/cancel-your-subscription")
    assert client.get("/healthz").status_code == 200  # the index is open, not switched off
