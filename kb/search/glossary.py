"""Read a question in another language through the writers' glossary (``articles/_glossary.yml``).

Most articles exist only in English; the multilingual model alone matched Korean and Arabic questions to
them poorly (it prefers any article in the question's own language). The glossary gives, per English
term the articles use, the ways merchants write it in French, Korean and Arabic; a question's terms
become an English gloss ("포인트 환불 잔액" -> "points refund balance") that the English keyword index
and MiniLM can read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kb.content import Problem
from kb.content.yaml_values import pairs, read
from kb.search.languages import normalise_arabic

FILENAME = "_glossary.yml"
_AR_ARTICLE = re.compile(r"^(?:وال|بال|كال|فال|لل|ال)(?=\w{2})")
# Korean particles attach to the word, and Arabic words carry prefixes: those match inside a word.
# Elsewhere a spelling must stand as a whole word.
_INSIDE_WORDS = ("ko", "ar")


def _folded(text: str, language: str) -> str:
    """One form for matching: lowercase; Arabic letters normalised and each word without its article."""
    text = text.lower()
    if language == "ar":
        text = " ".join(_AR_ARTICLE.sub("", w) for w in normalise_arabic(text).split())
    return " ".join(text.split())


@dataclass(frozen=True)
class Glossary:
    """Per language: every spelling, longest first, with the English terms it stands for."""

    spellings: dict[str, list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    _patterns: dict[str, re.Pattern[str]] = field(init=False, repr=False, compare=False, default_factory=dict)
    _terms: dict[str, dict[str, tuple[str, ...]]] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        patterns = {}
        for language, entries in self.spellings.items():
            alternatives = "|".join(re.escape(s) for s, _ in entries)
            if language in _INSIDE_WORDS:
                patterns[language] = re.compile(f"(?:{alternatives})")
            else:
                patterns[language] = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")
        object.__setattr__(self, "_patterns", patterns)
        object.__setattr__(self, "_terms", {lang: dict(entries) for lang, entries in self.spellings.items()})

    def gloss(self, text: str, locale: str) -> list[str]:
        """The English terms ``text`` uses, in order of appearance, each once; [] for English or no match."""
        return self.read(text, locale)[0]

    def read(self, text: str, locale: str) -> tuple[list[str], float]:
        """The English terms, and the share of ``text``'s letters they stand for: a gloss of one generic
        word ("client" in "droit à l'oubli client") says little about the question."""
        language = locale.split("-")[0]
        pattern = self._patterns.get(language)
        if pattern is None:
            return [], 0.0
        terms = self._terms[language]
        folded = _folded(text, language)
        found: dict[str, None] = {}
        read = 0
        for match in pattern.finditer(folded):
            read += sum(ch.isalnum() for ch in match.group(0))
            for term in terms[match.group(0)]:
                found[term] = None
        letters = sum(ch.isalnum() for ch in folded)
        return list(found), read / letters if letters else 0.0


def load_glossary(articles_dir: Path) -> tuple[Glossary, list[Problem]]:
    """Read the glossary: ``points: {fr: [point, points], ko: [포인트], ar: [نقاط]}`` per term."""
    path = articles_dir / FILENAME
    if not path.exists():
        return Glossary(), []
    node, problems = read(path, FILENAME)
    if node is None:
        return Glossary(), problems
    if not isinstance(node, yaml.MappingNode):
        return Glossary(), [Problem(FILENAME, 1, "expected English terms, each with its spellings per language")]
    meanings: dict[str, dict[str, list[str]]] = {}
    for line, term, written in pairs(node, FILENAME, problems, text_keys=True):
        if not isinstance(term, str) or not term.strip() or not isinstance(written, dict):
            problems.append(Problem(FILENAME, line, "each term needs its spellings: 'points: {ko: [포인트]}'"))
            continue
        term = term.strip().lower()
        for language, spellings in written.items():
            if not isinstance(spellings, list) or not all(isinstance(s, str) for s in spellings):
                problems.append(Problem(FILENAME, line, f"{term}: {language} needs a list of spellings"))
                continue
            for spelling in spellings:
                folded = _folded(spelling, str(language))
                if not any(ch.isalnum() for ch in folded):  # an empty alternative would match every question
                    problems.append(Problem(FILENAME, line, f"{term}: {language} spelling {spelling!r} has no letters"))
                    continue
                meanings.setdefault(str(language), {}).setdefault(folded, []).append(term)
    ordered = {
        language: sorted(((s, tuple(dict.fromkeys(t))) for s, t in entries.items()), key=lambda e: -len(e[0]))
        for language, entries in meanings.items()
    }
    return Glossary(ordered), problems
