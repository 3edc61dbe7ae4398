"""The writers' glossary (articles/_glossary.yml): read through libyaml, with its problems at the right lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PROJECT

from kb.search.glossary import FILENAME, load_glossary


def test_each_problem_names_its_line_and_the_good_entries_still_gloss(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_text(
        "# a comment\n"
        "points: {ko: [포인트], fr: [points, point]}\n"
        "refund: just a word\n"
        "balance:\n"
        "  ko: 잔액\n"
        "  ar: [رصيد]\n",
        encoding="utf-8",
    )
    glossary, problems = load_glossary(tmp_path)
    assert [(p.path, p.line) for p in problems] == [(FILENAME, 3), (FILENAME, 4)]
    assert "spellings" in problems[0].message and "ko needs a list" in problems[1].message
    assert glossary.gloss("포인트 잔액이 이상해요", "ko") == ["points"]  # the broken ko entry is left out
    assert glossary.gloss("رصيد النقاط", "ar") == ["balance"]


def test_invalid_yaml_names_its_line(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_text("points: {ko: [포인트]}\nrefund: [unclosed\n", encoding="utf-8")
    glossary, problems = load_glossary(tmp_path)
    assert len(problems) == 1 and problems[0].message.startswith("invalid YAML") and problems[0].line >= 2
    assert glossary.gloss("포인트", "ko") == []


def test_the_demo_glossary_reads_whole() -> None:
    glossary, problems = load_glossary(PROJECT / "articles")
    assert not problems and {"fr", "ko", "ar"} <= set(glossary.spellings)
    assert glossary.gloss("포인트가 안 들어왔어요", "ko") == ["points missing", "credited"]


@pytest.mark.parametrize(
    ("language", "spelling"), [("ar", "ـ"), ("ar", "ًّ"), ("fr", "\u0301"), ("ko", "?"), ("fr", " ")]
)
def test_a_spelling_that_folds_to_nothing_is_refused(tmp_path: Path, language: str, spelling: str) -> None:
    (tmp_path / FILENAME).write_text(
        f'points: {{ar: [نقاط], fr: [points], ko: [포인트]}}\nrefund: {{{language}: ["{spelling}"]}}\n',
        encoding="utf-8",
    )
    glossary, problems = load_glossary(tmp_path)
    assert [(p.line, "has no letters" in p.message) for p in problems] == [(2, True)]
    unrelated = {"ar": "كيف أغير كلمة المرور", "fr": "changer le mot de passe", "ko": "비밀번호 변경"}[language]
    assert glossary.read(unrelated, language) == ([], 0.0)
