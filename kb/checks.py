"""What `kb check` finds: every problem in the articles, the synonyms and the writers' search tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kb.content import Library, Problem, load_library
from kb.content.translation_status import stale_problems, summary_lines, translation_status
from kb.search import Searcher
from kb.search.glossary import load_glossary
from kb.search.names import load_names
from kb.search.synonyms import load_synonyms

OpenSearcher = Callable[[Library], Searcher]  # a searcher over an index that matches the library


@dataclass
class CheckResult:
    """The problems sorted by place, the translation summary, and the counts behind the last line."""

    problems: list[Problem]
    summary: list[str]
    articles: int
    tested: int
    seconds: float
    errors: int = field(init=False)
    warnings: int = field(init=False)

    def __post_init__(self) -> None:
        self.problems = sorted(self.problems, key=lambda p: (p.path, p.line))
        self.errors = sum(p.severity == "error" for p in self.problems)
        self.warnings = len(self.problems) - self.errors

    def failed(self, strict: bool = False) -> bool:
        """Whether the check fails: on any error, and on warnings too when ``strict``."""
        return bool(self.errors or (strict and self.warnings))

    def lines(self) -> list[str]:
        """What the writer reads: one ``path:line`` per problem, the translation summary, then the totals."""
        totals = (
            f"{self.articles} articles, {self.tested} search tests: {self.errors} error(s), "
            f"{self.warnings} warning(s) in {self.seconds:.2f} s"
        )
        return [*map(str, self.problems), *self.summary, totals]


def check(articles_dir: Path, default_locale: str, open_searcher: OpenSearcher | None = None) -> CheckResult:
    """Check the articles tree; run the search tests with ``open_searcher`` unless it is None."""
    started = time.perf_counter()
    library = load_library(articles_dir)
    problems = list(library.problems)
    problems += load_synonyms(articles_dir)[1]
    problems += load_names(articles_dir)[1]
    problems += load_glossary(articles_dir)[1]
    statuses = translation_status(library, default_locale)
    problems += stale_problems(statuses)
    tested = 0
    if open_searcher is not None and not library.errors:
        from kb.search import evaluate

        queries, test_problems = evaluate.read_search_tests(articles_dir)
        problems += test_problems
        if queries:
            outcomes = evaluate.run(open_searcher(library), queries)
            problems += evaluate.failures(outcomes)
            tested = len(queries)
    summary = summary_lines(statuses, len(library.in_locale(default_locale)))
    return CheckResult(problems, summary, len(library), tested, time.perf_counter() - started)
