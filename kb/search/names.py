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
from kb.content.yaml_values import pairs, read

FILENAME = "_names.yml"
# Letters and digits of the scripts that put spaces between words (Latin, Greek, Cyrillic, Armenian,
# Georgian), with their combining accents. A spelling in these stands as a whole word: "pos" must not
# match inside "deposit". Elsewhere (Hangul, Arabic) particles and prefixes attach to the name, so a
# spelling matches inside a word ("재피어로", "بزابير"). A Latin spelling may still touch a Korean particle.
_SPACED = (
    "0-9A-Za-z\u00aa\u00b5\u00ba\u00c0-\u02af\u0300-\u036f"  # Latin, with combining accents
    "\u0370-\u03ff\u0400-\u052f\u0531-\u058f\u10a0-\u10ff"  # Greek, Cyrillic, Armenian, Georgian
    "\u1e00-\u1fff"  # Latin and Greek extended
)
_SPACED_LETTER = re.compile(f"[{_SPACED}]")


def _whole_word(spelling: str) -> bool:
    """Whether every letter of ``spelling`` is of a script that separates words with spaces."""
    return all(_SPACED_LETTER.match(ch) or not ch.isalnum() for ch in spelling)


@dataclass(frozen=True)
class Names:
    """Every declared spelling, and the name it stands for."""

    spellings: dict[str, str] = field(default_factory=dict)  # lowercased spelling -> the articles' name
    names: tuple[str, ...] = ()  # the articles' names, lowercased
    _spelling: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)
    _standing_for: tuple[str, ...] = field(init=False, repr=False, compare=False, default=())  # longest first
    _folded: dict[str, str] = field(init=False, repr=False, compare=False, default_factory=dict)
    _name: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        # One alternation without groups (a group per spelling made every query ~40x slower); the spelling
        # a match stands for is looked up by its casefold, or, for the rare case variant whose casefold is
        # not the spelling's ("ı" matched by IGNORECASE for "i"), found again among the spellings.
        longest_first = sorted(self.spellings, key=len, reverse=True)
        pattern = "|".join(
            rf"(?<![{_SPACED}]){re.escape(s)}(?![{_SPACED}])" if _whole_word(s) else re.escape(s) for s in longest_first
        )
        object.__setattr__(self, "_spelling", re.compile(pattern, re.IGNORECASE) if pattern else None)
        object.__setattr__(self, "_standing_for", tuple(longest_first))
        object.__setattr__(self, "_folded", {s.casefold(): self.spellings[s] for s in reversed(longest_first)})
        words = "|".join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
        object.__setattr__(self, "_name", re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE) if words else None)

    def canonical(self, text: str) -> str:
        """``text`` with every declared spelling replaced by the name, set apart from particles it was
        written against ("재피어로" -> "Zapier 로", "بزابير" -> "ب Zapier")."""
        found: re.Pattern[str] | None = self._spelling
        if found is None:
            return text
        replaced = found.sub(lambda m: f" {self._name_of(m.group(0))} ", text)
        return " ".join(replaced.split()) if replaced != text else text

    def _name_of(self, matched: str) -> str:
        name = self._folded.get(matched.casefold())
        if name is not None:
            return name
        for spelling in self._standing_for:
            if re.fullmatch(re.escape(spelling), matched, re.IGNORECASE):
                return self.spellings[spelling]
        return matched  # not reached: every match is one of the spellings

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
    node, problems = read(path, FILENAME)
    if node is None:
        return Names(), problems
    if not isinstance(node, yaml.MappingNode):
        return Names(), [Problem(FILENAME, 1, "expected lines such as 'Zapier: [재피어, 자피어]'")]
    spellings: dict[str, str] = {}
    names: set[str] = set()
    for line, name, written in pairs(node, FILENAME, problems, text_keys=True):
        written = [written] if isinstance(written, str) else written
        if not isinstance(name, str) or not name.strip() or not isinstance(written, list) or not written:
            problems.append(Problem(FILENAME, line, "each name needs a list of spellings: 'Zapier: [재피어, 자피어]'"))
            continue
        name = name.strip()
        for spelling in written:
            if not isinstance(spelling, str) or not any(ch.isalnum() for ch in spelling):
                problems.append(Problem(FILENAME, line, f"{name}: spelling {spelling!r} has no letters"))
                continue
            spelling = " ".join(spelling.lower().split())
            if spellings.get(spelling, name) != name:
                problems.append(Problem(FILENAME, line, f"{spelling!r} already stands for {spellings[spelling]}"))
                continue
            spellings[spelling] = name
        names.add(name.lower())
    return Names(spellings, tuple(sorted(names))), problems
