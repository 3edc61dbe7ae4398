"""`kb check`: every problem as path:line, a count line, and the exit status a CI job relies on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import MINI_ARTICLES, PROJECT, make_app, write_tree

COUNT_LINE = re.compile(r"^(\d+) articles, (\d+) search tests: (\d+) error\(s\), (\d+) warning\(s\) in [\d.]+ s$", re.M)

GOOD_AND_SUMMARISED = {
    **MINI_ARTICLES,
    "en/points/draft-tiktok-points.md": (
        "---\ntitle: Points for TikTok follows\nsummary: Coming soon.\ndraft: true\n---\n\nComing soon.\n"
    ),
}


def check(tmp_path: Path, files: dict[str, str], *args: str):  # type: ignore[no-untyped-def]
    root = write_tree(tmp_path / "articles", files)
    app = make_app(root, tmp_path / "index", tmp_path / "kb.sqlite3")
    return app.test_cli_runner().invoke(args=["check", "--no-search", *args])


def counts(output: str) -> tuple[int, int, int, int]:
    found = COUNT_LINE.search(output)
    assert found, output
    return tuple(int(n) for n in found.groups())  # type: ignore[return-value]


def test_good_tree_passes(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["check", "--no-search"])
    assert result.exit_code == 0, result.output
    assert counts(result.output) == (4, 0, 0, 1)


def test_clean_tree_passes_even_when_strict(tmp_path: Path) -> None:
    result = check(tmp_path, GOOD_AND_SUMMARISED, "--strict")
    assert result.exit_code == 0, result.output
    assert counts(result.output) == (4, 0, 0, 0)


@pytest.mark.parametrize(
    ("files", "located"),
    [
        (
            {"en/points/bad.md": "---\ntitle: Bad\nsummary: ratio: 2\n---\n\nBody.\n"},
            "en/points/bad.md:3: error:",
        ),
        (
            {"en/points/linker.md": "---\ntitle: L\nsummary: S\n---\n\nIntro.\n\nSee [x](missing.md).\n"},
            "en/points/linker.md:8: error:",
        ),
        (
            {"en/points/lonely.md": "---\ntitle: L\nsummary: S\nrelated: [nope]\n---\n\nBody.\n"},
            "en/points/lonely.md:4: error:",
        ),
    ],
)
def test_an_error_fails_with_its_location(tmp_path: Path, files: dict[str, str], located: str) -> None:
    result = check(tmp_path, {**GOOD_AND_SUMMARISED, **files})
    assert result.exit_code == 1, result.output
    assert located in result.output.splitlines()[0]
    assert counts(result.output) == (4, 0, 1, 0)


def test_warnings_alone_pass_but_fail_when_strict(tmp_path: Path) -> None:
    files = {
        **GOOD_AND_SUMMARISED,
        "en/points/authored.md": "---\ntitle: Authored\nsummary: S\nauthor: Sam\n---\n\nBody.\n",
    }
    result = check(tmp_path, files)
    assert result.exit_code == 0, result.output
    assert "en/points/authored.md:4: warning: unknown front matter key 'author'" in result.output
    assert counts(result.output) == (5, 0, 0, 1)
    strict = check(tmp_path, files, "--strict")
    assert strict.exit_code == 1, strict.output


def test_every_problem_line_is_located_and_sorted(tmp_path: Path) -> None:
    files = {
        **MINI_ARTICLES,
        "en/points/zz.md": "---\ntitle: Z\nsummary: S\nauthor: Sam\n---\n\nSee [x](#nowhere).\n",
        "en/billing/aa.md": "---\nsummary: No title\n---\n\nBody.\n",
    }
    result = check(tmp_path, files)
    assert result.exit_code == 1, result.output
    problems = result.output.splitlines()[:-1]
    assert problems == [
        "en/billing/aa.md:1: error: missing title: add `title: ...` to the front matter",
        "en/points/draft-tiktok-points.md:1: warning: no summary: search results and the meta description "
        "use the first paragraph",
        "en/points/zz.md:4: warning: unknown front matter key 'author'",
        "en/points/zz.md:7: error: link to missing anchor '#nowhere' in this article",
    ]
    assert counts(result.output) == (4, 0, 2, 2)


def test_bad_synonyms_file_is_located(tmp_path: Path) -> None:
    result = check(tmp_path, {**GOOD_AND_SUMMARISED, "_synonyms.yml": "- points = credits\n- lonely\n"})
    assert result.exit_code == 1, result.output
    assert "_synonyms.yml:2: error:" in result.output


@pytest.mark.parametrize(
    ("files", "located"),
    [
        (
            {"en/points/dated.md": "---\ntitle: D\nsummary: S\nupdated: 2024-13-45\n---\n\nBody.\n"},
            "en/points/dated.md:4:",
        ),
        ({"_names.yml": "Zapier: [재피어]\nShopify: [2024-13-01]\n"}, "_names.yml:2:"),
        ({"_glossary.yml": "points: {ko: [포인트]}\nrefund: {ko: [!!int x]}\n"}, "_glossary.yml:2:"),
        ({"_synonyms.yml": "- points = credits\n- [refund, !!python/name:os.system '']\n"}, "_synonyms.yml:2:"),
        ({"_synonyms.yml": "- &w [points, credits]\n- *w\n"}, "_synonyms.yml:2:"),
    ],
)
def test_a_value_yaml_cannot_build_fails_with_its_location_not_a_traceback(
    tmp_path: Path, files: dict[str, str], located: str
) -> None:
    result = check(tmp_path, {**GOOD_AND_SUMMARISED, **files})
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.output.splitlines()[0].startswith(f"{located} error: "), result.output
    assert "Traceback" not in result.output
    assert counts(result.output) == (4, 0, 1, 0)


def test_demo_content_passes(tmp_path: Path) -> None:
    app = make_app(PROJECT / "articles", tmp_path / "index", tmp_path / "kb.sqlite3")
    result = app.test_cli_runner().invoke(args=["check", "--no-search"])
    assert result.exit_code == 0, result.output
    articles, _, errors, _ = counts(result.output)
    assert errors == 0 and articles > 0


def test_demo_search_tests_pass(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The shipped help center passes its own writers' search tests in every language (real models,
    the index `make test` built); known gaps are warnings."""
    from conftest import PROJECT

    app = make_app(PROJECT / "articles", PROJECT / "search_index", tmp_path / "kb.sqlite3")
    result = app.test_cli_runner().invoke(args=["check"])
    assert result.exit_code == 0, result.output
    assert " 0 error(s)" in result.output, result.output


def test_check_is_a_plain_function_that_sorts_and_counts(tmp_path: Path) -> None:
    from kb.checks import check as run_check

    files = {**MINI_ARTICLES, "en/points/broken.md": "---\ntitle: [\n---\n"}
    result = run_check(write_tree(tmp_path / "articles", files), "en")
    assert (result.articles, result.tested, result.errors, result.warnings) == (4, 0, 1, 1)
    assert [p.path for p in result.problems] == sorted(p.path for p in result.problems)
    assert result.failed() and result.failed(strict=True)
    assert COUNT_LINE.match(result.lines()[-1])
