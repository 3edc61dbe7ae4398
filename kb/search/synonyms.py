"""Writers' synonyms (``articles/_synonyms.yml``): groups of words that mean the same to a merchant."""

from __future__ import annotations

from pathlib import Path

import yaml

from kb.content import Problem

FILENAME = "_synonyms.yml"


def load_synonyms(articles_dir: Path) -> tuple[list[list[str]], list[Problem]]:
    """Read synonym groups; each entry is ``"points = credits = rewards"`` or a list of words."""
    path = articles_dir / FILENAME
    if not path.exists():
        return [], []
    rel = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [Problem(rel, mark.line + 1 if mark else 1, f"invalid YAML: {getattr(exc, 'problem', exc)}")]
    if not isinstance(data, list):
        return [], [Problem(rel, 1, "expected a list of synonym groups such as 'points = credits = rewards'")]
    lines = path.read_text(encoding="utf-8").splitlines()
    groups: list[list[str]] = []
    problems: list[Problem] = []
    for number, entry in enumerate(data):
        words = entry.split("=") if isinstance(entry, str) else entry
        if not isinstance(words, list):
            problems.append(Problem(rel, _line_of(lines, number), "a group is 'a = b = c' or a list of words"))
            continue
        group = [str(w).strip().lower() for w in words if str(w).strip()]
        if len(group) < 2:
            problems.append(Problem(rel, _line_of(lines, number), "a synonym group needs at least two words"))
            continue
        groups.append(group)
    return groups, problems


def _line_of(lines: list[str], number: int) -> int:
    items = [i + 1 for i, line in enumerate(lines) if line.lstrip().startswith("- ")]
    return items[number] if number < len(items) else 1
