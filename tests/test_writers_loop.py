"""The writers' loop: from a failed search or a content gap in the admin, one form gives the line to add
to _search_tests.yml (or _synonyms.yml), and `kb check` then holds the fix. Real index, real SQLite file."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import make_app
from visitors import Visitor, token_in

from kb.analytics import fixes
from kb.search import evaluate
from kb.search.synonyms import load_synonyms

EMAIL, PASSWORD = "writer@example.com", "correct horse battery"
UNANSWERED = "how do i stop paying for perkly"


@pytest.fixture
def tree(indexed_root: Path, tmp_path: Path) -> Path:
    """A copy of the indexed mini help center a writer can change."""
    shutil.copytree(indexed_root / "articles", tmp_path / "articles")
    shutil.copytree(indexed_root / "search_index", tmp_path / "search_index")
    return tmp_path


@pytest.fixture
def site(tree: Path) -> Any:
    # Above any confidence: every search counts as one no article answered.
    app = make_app(
        tree / "articles", tree / "search_index", tree / "kb.sqlite3", WTF_CSRF_ENABLED=True, SUGGEST_THRESHOLD=1.0
    )
    result = app.test_cli_runner().invoke(args=["users", "add", EMAIL], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    return app


@pytest.fixture
def admin(site: Any) -> Any:
    client = site.test_client()
    token = token_in(client.get("/admin/login").get_data(as_text=True))
    response = client.post("/admin/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD})
    assert response.status_code == 303
    return client


def page(client: Any, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    text: str = response.get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", text)  # no inline script: the CSP forbids them
    return text


def fix_link(text: str) -> str:
    found = re.search(r'<a class="fix-link" href="([^"]+)"', text)
    assert found, "no 'Hold the fix' link"
    return html.unescape(found.group(1))


def shown_line(text: str, name: str) -> str:
    found = re.search(rf'<pre class="fix-line" id="{name}">(.*?)</pre>', text, re.S)
    assert found, f"no {name} on the page"
    return html.unescape(found.group(1))


def check(tree: Path, *args: str) -> Any:
    app = make_app(tree / "articles", tree / "search_index", tree / "kb.sqlite3")
    return app.test_cli_runner().invoke(args=["check", *args])


def test_a_failed_search_leads_to_the_test_line_to_copy(site: Any, admin: Any) -> None:
    Visitor(site).search("frobnicate the zorblax")  # nothing answers it: listed with no confident result
    searches = page(admin, "/admin/searches")
    link = fix_link(searches)
    form = page(admin, link)
    assert "frobnicate the zorblax" in form
    assert "cancel-your-subscription" in form  # the writer chooses the article from a select
    line = shown_line(page(admin, link + "&expect=cancel-your-subscription"), "test-line")
    assert line == '- q: "frobnicate the zorblax"\n  expect: "cancel-your-subscription"'
    none = shown_line(page(admin, link + "&expect="), "test-line")
    assert none.endswith("expect: null")


def test_a_content_gap_leads_to_the_same_form(site: Any, admin: Any) -> None:
    Visitor(site).search("frobnicate the zorblax")
    assert "q=frobnicate" in fix_link(page(admin, "/admin/gaps"))


def test_an_article_that_does_not_exist_gives_no_line(admin: Any) -> None:
    text = page(admin, "/admin/fix?q=hello&expect=no-such-article")
    assert 'id="test-line"' not in text


def test_kb_check_holds_the_fix(tree: Path, admin: Any) -> None:
    text = page(admin, f"/admin/fix?q={UNANSWERED}&expect=cancel-your-subscription")
    tests_file = tree / "articles" / "_search_tests.yml"
    tests_file.write_text(shown_line(text, "test-line") + "\n", encoding="utf-8")
    result = check(tree)
    assert result.exit_code == 0, result.output
    assert " 1 search tests: 0 error(s)" in result.output, result.output
    wrong = page(admin, f"/admin/fix?q={UNANSWERED}&expect=set-up-points-expiry")  # the fix undone
    tests_file.write_text(shown_line(wrong, "test-line") + "\n", encoding="utf-8")
    result = check(tree)
    assert result.exit_code == 1, result.output
    assert "_search_tests.yml:1:" in result.output


def test_a_synonym_line_reads_back_as_the_group(tree: Path, admin: Any) -> None:
    text = page(admin, "/admin/fix?q=quit+perkly&article_words=Cancel&visitor_words=quit")
    line = shown_line(text, "synonym-line")
    assert line == "- cancel = quit"
    (tree / "articles" / "_synonyms.yml").write_text(line + "\n", encoding="utf-8")
    assert load_synonyms(tree / "articles") == ([["cancel", "quit"]], [])
    result = check(tree, "--no-search")
    assert result.exit_code == 0, result.output


def test_a_synonym_needs_two_different_words(admin: Any) -> None:
    text = page(admin, "/admin/fix?article_words=cancel&visitor_words=cancel")
    assert 'id="synonym-line"' not in text and "two different words" in text


@pytest.mark.parametrize(
    "question",
    ['he said "cancel": now what?', "# not a comment - really", "취소는 어떻게 하나요?", "yes", "null", "a: b\nc"],
)
def test_every_question_reads_back_exactly(tmp_path: Path, question: str) -> None:
    (tmp_path / evaluate.TESTS_FILE).write_text(fixes.search_test_line(question, "some-slug", "ko") + "\n")
    queries, problems = evaluate.read_search_tests(tmp_path)
    assert problems == []
    assert [(q.query, q.relevant, q.locale) for q in queries] == [(fixes.clean(question), ["some-slug"], "ko")]


KEPT = "keep me"
# A visitor's question, and what the test line holds: the characters a YAML file may not hold become spaces
# (DEL, C1 controls but NEL, the non-characters U+FFFE and U+FFFF, a lone surrogate); the rest is kept.
HOSTILE = [
    ("a\x7fb", "a b"),
    ("x\x80y", "x y"),
    ("c1 \x9f end", "c1 end"),
    ("nonchar\ufffe", "nonchar"),
    ("\uffff first", "first"),
    ("lone \ud800 surrogate", "lone surrogate"),
    ("nul\x00 and bell\x07", "nul and bell"),
    ("nel\x85next", "nel next"),
    ("ls\u2028ps\u2029end", "ls ps end"),
    ('he said "cancel": now what?', 'he said "cancel": now what?'),
    ("# not a comment - really", "# not a comment - really"),
    ("- {flow} [list] &anchor *alias !tag %dir @at `tick` |", "- {flow} [list] &anchor *alias !tag %dir @at `tick` |"),
    ("back\\slash \\n \\x41", "back\\slash \\n \\x41"),
    ("rtl \u202eevil", "rtl \u202eevil"),
    ("bom\ufeff inside", "bom\ufeff inside"),
    ("tab\there", "tab here"),
    ("emoji 🎉 취소는 어떻게 하나요? إلغاء", "emoji 🎉 취소는 어떻게 하나요? إلغاء"),
    ("yes", "yes"),
    ("~", "~"),
    ("x" * 400, "x" * 300),
]
SLUGS = ["cancel-your-subscription", "yes", "no", "on", "off", "true", "null", "~", "404", "1e3", "2024-01-01", None]


@pytest.mark.parametrize(("question", "kept"), HOSTILE)
@pytest.mark.parametrize("slug", SLUGS)
def test_a_test_line_added_to_a_valid_file_reads_back_exactly(
    tmp_path: Path, question: str, kept: str, slug: str | None
) -> None:
    locale = "no" if slug == "no" else "en"  # Norwegian's code is a YAML boolean too
    line = fixes.search_test_line(question, slug, locale)
    (tmp_path / evaluate.TESTS_FILE).write_text(f"- q: {KEPT}\n  expect: launch-your-program\n{line}\n")
    queries, problems = evaluate.read_search_tests(tmp_path)
    assert problems == []
    assert [(q.query, q.relevant, q.locale) for q in queries] == [
        (KEPT, ["launch-your-program"], "en"),
        (kept, [slug] if slug else [], locale),
    ]


@pytest.mark.parametrize(
    ("words", "kept"), [*HOSTILE, ("!!int x", "!!int x"), ("!!python/name:os.system", "!!python/name:os.system")]
)
def test_a_synonym_line_added_to_a_valid_file_reads_back_exactly(tmp_path: Path, words: str, kept: str) -> None:
    line = fixes.synonym_line("points", words)
    (tmp_path / "_synonyms.yml").write_text(f"- refund = money back\n{line}\n", encoding="utf-8")
    groups, problems = load_synonyms(tmp_path)
    assert problems == []
    expected = kept[:100].lower().replace("=", " ").strip()
    assert groups == [["refund", "money back"], ["points", expected]]


def test_a_character_yaml_refuses_is_reported_at_its_line_not_the_first(tmp_path: Path) -> None:
    bad = '- q: "a\x7fb"\n  expect: null\n'
    (tmp_path / evaluate.TESTS_FILE).write_text(f"- q: {KEPT}\n  expect: launch-your-program\n{bad}")
    queries, problems = evaluate.read_search_tests(tmp_path)
    assert [(p.path, p.line) for p in problems] == [(evaluate.TESTS_FILE, 3)]
    assert "U+007F" in problems[0].message
