"""Writers' YAML files (_names.yml, _glossary.yml, _synonyms.yml, _search_tests.yml): a value YAML cannot
build, an alias or a character YAML refuses is a ``file:line`` problem, and the other entries still load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kb.content import Problem
from kb.search import evaluate
from kb.search.glossary import load_glossary
from kb.search.names import load_names
from kb.search.synonyms import load_synonyms

Loader = Callable[[Path], tuple[Any, list[Problem]]]


def names_read(root: Path) -> tuple[Any, list[Problem]]:
    names, problems = load_names(root)
    return names.spellings, problems


def glossary_read(root: Path) -> tuple[Any, list[Problem]]:
    glossary, problems = load_glossary(root)
    return {lang: [s for s, _ in entries] for lang, entries in glossary.spellings.items()}, problems


def search_tests_read(root: Path) -> tuple[Any, list[Problem]]:
    queries, problems = evaluate.read_search_tests(root)
    return [(q.query, q.relevant) for q in queries], problems


# Per file: its loader, a good entry (line 1), what the good entry loads as, and how to write a bad value
# on the entry after it (line 2 or 3).
FILES: dict[str, tuple[Loader, str, Any, Callable[[str], str]]] = {
    "_names.yml": (names_read, "Zapier: [재피어]\n", {"재피어": "Zapier"}, lambda v: f"Klaviyo: [{v}]\n"),
    "_glossary.yml": (
        glossary_read,
        "points: {ko: [포인트]}\n",
        {"ko": ["포인트"]},
        lambda v: f"refund:\n  ko: [{v}]\n",
    ),
    "_synonyms.yml": (load_synonyms, "- [points, credits]\n", [["points", "credits"]], lambda v: f"- [refund, {v}]\n"),
    "_search_tests.yml": (
        search_tests_read,
        "- {q: cancel, expect: cancel-plan}\n",
        [("cancel", ["cancel-plan"])],
        lambda v: f"- q: refund\n  expect: {v}\n",
    ),
}
# A value YAML composes but cannot build, and words of the reason the writer reads.
UNBUILDABLE = {
    "impossible date": ("2024-13-45", "month must be in 1..12"),
    "not an int": ("!!int x", "not a valid int"),
    "not a float": ("!!float nope", "not a valid float"),
    "not a timestamp": ("!!timestamp 'x'", "not a valid timestamp"),
    "unsafe tag": ("!!python/name:os.system ''", "could not determine a constructor"),
    "unsafe object": ("!!python/object/apply:os.system ['true']", "could not determine a constructor"),
}


def bad_line(name: str) -> int:
    return 3 if name in ("_glossary.yml", "_search_tests.yml") else 2


@pytest.mark.parametrize("value", UNBUILDABLE)
@pytest.mark.parametrize("name", FILES)
def test_a_value_yaml_cannot_build_is_located_and_the_rest_loads(tmp_path: Path, name: str, value: str) -> None:
    read, good, loaded, bad = FILES[name]
    written, words = UNBUILDABLE[value]
    (tmp_path / name).write_text(good + bad(written), encoding="utf-8")
    found, problems = read(tmp_path)
    assert [(p.path, p.line) for p in problems] == [(name, bad_line(name))], problems
    assert words in problems[0].message and problems[0].severity == "error"
    assert found == loaded


@pytest.mark.parametrize("name", FILES)
def test_an_alias_is_refused_at_its_line(tmp_path: Path, name: str) -> None:
    read, good, _, bad = FILES[name]
    anchored = good.replace("[", "&w [", 1).replace("cancel-plan", "&w cancel-plan")
    (tmp_path / name).write_text(anchored + bad("*w"), encoding="utf-8")
    found, problems = read(tmp_path)
    assert [(p.path, p.line) for p in problems] == [(name, bad_line(name))], problems
    assert "alias" in problems[0].message
    assert not found


def test_an_alias_bomb_is_refused_before_it_is_built(tmp_path: Path) -> None:
    lines = ["- &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [
        f"- &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 5)
    ]  # 9^5 words if built; the same at any depth
    (tmp_path / "_synonyms.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    groups, problems = load_synonyms(tmp_path)
    assert groups == [] and [(p.line, "alias" in p.message) for p in problems] == [(2, True)]


@pytest.mark.parametrize("char", ["\x7f", "\x80", "\x9f", "\ufffe", "\uffff", "\x01"])
@pytest.mark.parametrize("name", FILES)
def test_a_character_yaml_refuses_is_reported_at_its_line(tmp_path: Path, name: str, char: str) -> None:
    read, good, _, bad = FILES[name]
    (tmp_path / name).write_text(good + bad(f'"a{char}b"'), encoding="utf-8")
    _, problems = read(tmp_path)
    assert [(p.path, p.line) for p in problems] == [(name, bad_line(name))], problems
    assert f"U+{ord(char):04X}" in problems[0].message


@pytest.mark.parametrize("name", FILES)
def test_a_file_that_is_not_utf8_is_a_problem(tmp_path: Path, name: str) -> None:
    read, good, _, _ = FILES[name]
    (tmp_path / name).write_bytes(good.encode() + "# caf\xe9\n".encode("latin-1"))
    _, problems = read(tmp_path)
    assert [(p.path, p.line, p.message) for p in problems] == [(name, 2, "not valid UTF-8")]


@pytest.mark.parametrize("word", ["3", "yes", "null", "[a, b]", "{a: b}"])
def test_a_synonym_that_is_not_a_word_is_refused(tmp_path: Path, word: str) -> None:
    (tmp_path / "_synonyms.yml").write_text(f"- points = credits\n- [refund, {word}]\n", encoding="utf-8")
    groups, problems = load_synonyms(tmp_path)
    assert groups == [["points", "credits"]]
    assert [(p.line, "quotes" in p.message) for p in problems] == [(2, True)]


def test_synonym_problems_name_their_own_line_in_flow_and_block_entries(tmp_path: Path) -> None:
    text = "- [points, credits]\n- |\n  refund = money back\n- [lonely]\n- - a\n  - b\n- [alone]\n"
    (tmp_path / "_synonyms.yml").write_text(text, encoding="utf-8")
    groups, problems = load_synonyms(tmp_path)
    assert groups == [["points", "credits"], ["refund", "money back"], ["a", "b"]]
    assert [p.line for p in problems] == [4, 7]


@pytest.mark.parametrize("text", ["---\n# none yet\n", "~\n", "# none yet\n"])
@pytest.mark.parametrize("name", FILES)
def test_a_file_with_nothing_in_it_yet_is_empty_not_a_problem(tmp_path: Path, name: str, text: str) -> None:
    read, _, _, _ = FILES[name]
    (tmp_path / name).write_text(text, encoding="utf-8")
    found, problems = read(tmp_path)
    assert problems == [] and not found


@pytest.mark.parametrize("name", FILES)
def test_a_value_nested_too_deep_is_a_problem_not_a_crash(tmp_path: Path, name: str) -> None:
    # Finding which part of a bad value cannot be built walks its levels; a thousand of them exhausted
    # Python's recursion.
    read, good, _, bad = FILES[name]
    deep = "[" * 990 + "!!int x" + "]" * 990
    (tmp_path / name).write_text(good + bad(deep), encoding="utf-8")
    _, problems = read(tmp_path)
    assert [("nested" in p.message) for p in problems] == [True], problems


def test_a_name_or_term_is_the_text_written_even_when_it_looks_like_a_number(tmp_path: Path) -> None:
    (tmp_path / "_names.yml").write_text("1688: [일육팔팔]\nyes: [예스]\n", encoding="utf-8")
    names, problems = load_names(tmp_path)
    assert problems == [] and names.spellings == {"일육팔팔": "1688", "예스": "yes"}
    assert names.canonical("일육팔팔 주문") == "1688 주문"
    (tmp_path / "_glossary.yml").write_text("2fa: {ko: [이중 인증]}\n", encoding="utf-8")
    glossary, problems = load_glossary(tmp_path)
    assert problems == [] and glossary.spellings["ko"][0][1] == ("2fa",)
