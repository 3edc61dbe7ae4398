"""Names merchants write in their own script (``articles/_names.yml``): 재피어 is Zapier, كلافيو is Klaviyo.

Writers declare each product or company name once, with the spellings merchants use. A query's spellings
become the name the articles use before anything reads the query (the keyword index and the models both
know "Zapier" far better than 재피어), and an article whose title carries a name the query mentions gets
the same kind of credit an error code does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kb.content import Problem

FILENAME = "_names.yml"


@dataclass(frozen=True)
class Names:
    """Every declared spelling, and the name it stands for."""

    spellings: dict[str, str] = field(default_factory=dict)  # lowercased spelling -> the articles' name
    names: tuple[str, ...] = ()  # the articles' names, lowercased
    _spelling: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _name: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        longest_first = sorted(self.spellings, key=len, reverse=True)
        pattern = "|".join(re.escape(s) for s in longest_first)
        object.__setattr__(self, "_spelling", re.compile(pattern, re.IGNORECASE) if pattern else None)
        words = "|".join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
        object.__setattr__(self, "_name", re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE) if words else None)

    def canonical(self, text: str) -> str:
        """``text`` with every declared spelling replaced by the name, set apart from particles it was
        written against ("재피어로" -> "Zapier 로", "بزابير" -> "ب Zapier")."""
        found: re.Pattern[str] | None = self._spelling
        if found is None:
            return text
        replaced = found.sub(lambda m: f" {self.spellings[m.group(0).lower()]} ", text)
        return " ".join(replaced.split()) if replaced != text else text

    def mentioned(self, text: str) -> set[str]:
        """The declared names (lowercased) that ``text`` mentions, in any of their spellings."""
        found: re.Pattern[str] | None = self._name
        if found is None:
            return set()
        return {m.group(0).lower() for m in found.finditer(self.canonical(text))}


def load_names(articles_dir: Path) -> tuple[Names, list[Problem]]:
    """Read ``_names.yml``: ``Zapier: [재피어, 자피어, زابير]`` per line; problems as ``file:line``."""
    path = articles_dir / FILENAME
    if not path.exists():
        return Names(), []
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return Names(), [Problem(FILENAME, mark.line + 1 if mark else 1, f"invalid YAML: {exc}")]
    if node is None:
        return Names(), []
    if not isinstance(node, yaml.MappingNode):
        return Names(), [Problem(FILENAME, 1, "expected lines such as 'Zapier: [재피어, 자피어]'")]
    spellings: dict[str, str] = {}
    names: set[str] = set()
    problems: list[Problem] = []
    for key, value in node.value:
        line = key.start_mark.line + 1
        name = str(yaml.safe_load(yaml.serialize(key)) or "").strip()
        written = yaml.safe_load(yaml.serialize(value))
        written = [written] if isinstance(written, str) else written
        if not name or not isinstance(written, list) or not all(isinstance(w, str) and w.strip() for w in written):
            problems.append(Problem(FILENAME, line, "each name needs a list of spellings: 'Zapier: [재피어, 자피어]'"))
            continue
        for spelling in written:
            spelling = spelling.strip().lower()
            if spellings.get(spelling, name) != name:
                problems.append(Problem(FILENAME, line, f"{spelling!r} already stands for {spellings[spelling]}"))
                continue
            spellings[spelling] = name
        names.add(name.lower())
    return Names(spellings, tuple(sorted(names))), problems
