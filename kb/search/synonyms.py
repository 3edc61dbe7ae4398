"""Writers' synonyms (``articles/_synonyms.yml``): groups of words that mean the same to a merchant."""

from __future__ import annotations

from pathlib import Path

import yaml

from kb.content import Problem
from kb.content.yaml_values import items, read

FILENAME = "_synonyms.yml"


def load_synonyms(articles_dir: Path) -> tuple[list[list[str]], list[Problem]]:
    """Read synonym groups; each entry is ``"points = credits = rewards"`` or a list of words."""
    path = articles_dir / FILENAME
    if not path.exists():
        return [], []
    rel = path.name
    node, problems = read(path, rel)
    if node is None:
        return [], problems
    if not isinstance(node, yaml.SequenceNode):
        return [], [Problem(rel, 1, "expected a list of synonym groups such as 'points = credits = rewards'")]
    groups: list[list[str]] = []
    for line, entry in items(node, rel, problems):
        words = entry.split("=") if isinstance(entry, str) else entry
        if not isinstance(words, list):
            problems.append(Problem(rel, line, "a group is 'a = b = c' or a list of words"))
            continue
        if not all(isinstance(w, str) for w in words):
            wrong = next(w for w in words if not isinstance(w, str))
            problems.append(Problem(rel, line, f"{wrong!r} is not a word: put it in quotes"))
            continue
        group = [w.strip().lower() for w in words if w.strip()]
        if len(group) < 2:
            problems.append(Problem(rel, line, "a synonym group needs at least two words"))
            continue
        groups.append(group)
    return groups, problems
