"""YAML that writers edit, read so that every mistake is a ``file:line`` problem and never an exception.

PyYAML finds a malformed document while composing it, but a well-formed one can still fail while its
values are built: an impossible date (``updated: 2024-13-45``), a wrong tag (``!!int x``), an unsafe one
(``!!python/name:...``). The loaders compose a file here, then build one entry at a time, so a bad entry
is reported at its line and the others still load. Aliases are refused: a few short lines of them expand
to millions of characters (the "billion laughs"), and no writer's list needs one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from kb.content.article import Problem
from kb.errors import KbError

# libyaml's composer when PyYAML was built with it: front matter was a fifth of loading 10,000 articles.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What YAML refuses anywhere in a stream (its printable set, as PyYAML's reader checks it).
NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# What building a value raises besides YAMLError: int("x"), date(2024, 13, 45), a timestamp that did not match.
BUILD_ERRORS = (yaml.YAMLError, ValueError, TypeError, AttributeError, OverflowError)
_STANDARD_TAG = "tag:yaml.org,2002:"
MAX_DEPTH = 50  # levels a bad value is searched through for its culprit; deeper is a problem of its own


class ValueInvalid(KbError):
    """A YAML value that cannot be built; ``problem`` locates it for the writer."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def read(path: Path, rel: str) -> tuple[yaml.Node | None, list[Problem]]:
    """The node tree of the file at ``path`` (None when it is empty), or None and the problem at its line."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [Problem(rel, raw[: exc.start].count(b"\n") + 1, "not valid UTF-8")]
    return compose(text, rel)


def compose(text: str, rel: str, first_line: int = 1) -> tuple[yaml.Node | None, list[Problem]]:
    """The node tree of ``text`` (None when it holds no document), or None and the problem at its line.

    ``first_line``: the line of the file that ``text`` starts on (2 for front matter).
    """
    bad = NOT_PRINTABLE.search(text)
    if bad is not None:
        line = first_line + text.count("\n", 0, bad.start())
        return None, [Problem(rel, line, f"invalid YAML: character U+{ord(bad.group()):04X} is not allowed here")]
    try:
        node = yaml.compose(text, Loader=LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = ": ".join(filter(None, (getattr(exc, "context", None), getattr(exc, "problem", None))))
        return None, [Problem(rel, first_line + (mark.line if mark else 0), f"invalid YAML: {reason or exc}")]
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _STANDARD_TAG + "null"):
        return None, []  # nothing but comments, or an explicit null: an empty file
    if "&" in text and _has_alias(node):  # an alias needs an anchor: most files are never walked
        line = first_line + _alias_line(text)
        return None, [Problem(rel, line, "an alias (*name) repeats another value: write the value out instead")]
    return node, []


def build(node: yaml.Node, rel: str, first_line: int = 1) -> Any:
    """The value ``node`` holds, as ``yaml.safe_load`` builds it; ``ValueInvalid`` at the line of the part
    that cannot be built."""
    try:
        return SafeConstructor().construct_document(node)
    except BUILD_ERRORS as exc:
        if _depth(node) > MAX_DEPTH:  # finding the part that cannot be built recurses once per level
            message = f"nested more than {MAX_DEPTH} levels deep"
            raise ValueInvalid(Problem(rel, first_line + node.start_mark.line, message)) from None
        culprit = _unbuildable(node)
        mark = getattr(exc, "problem_mark", None) or culprit.start_mark
        raise ValueInvalid(Problem(rel, first_line + mark.line, _reason(culprit, exc))) from None


def items(node: yaml.SequenceNode, rel: str, problems: list[Problem]) -> Iterator[tuple[int, Any]]:
    """Each item of a list with its line; one that cannot be built goes to ``problems`` and is skipped."""
    for item in node.value:
        try:
            yield item.start_mark.line + 1, build(item, rel)
        except ValueInvalid as exc:
            problems.append(exc.problem)


def pairs(
    node: yaml.MappingNode, rel: str, problems: list[Problem], text_keys: bool = False
) -> Iterator[tuple[int, Any, Any]]:
    """Each key and value of a mapping with the key's line; one that cannot be built goes to ``problems``.

    ``text_keys``: a plain key is the text as written (a name such as ``1688`` or ``yes`` is not a number
    or a boolean)."""
    for key, value in node.value:
        try:
            written = key.value if text_keys and isinstance(key, yaml.ScalarNode) else build(key, rel)
            yield key.start_mark.line + 1, written, build(value, rel)
        except ValueInvalid as exc:
            problems.append(exc.problem)


def _reason(node: yaml.Node, exc: Exception) -> str:
    if isinstance(exc, yaml.YAMLError):
        return f"invalid value: {getattr(exc, 'problem', None) or exc}"
    kind = node.tag.removeprefix(_STANDARD_TAG)
    detail = f" ({exc})" if isinstance(exc, ValueError) and str(exc) else ""
    written = f" {node.value!r}" if isinstance(node, yaml.ScalarNode) else ""
    return f"invalid value{written}: not a valid {kind}{detail}"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _unbuildable(node: yaml.Node) -> yaml.Node:
    """The innermost node under ``node`` that cannot be built (``node`` when each part builds alone)."""
    for child in _children(node):
        try:
            SafeConstructor().construct_document(child)
        except BUILD_ERRORS:
            return _unbuildable(child)
    return node


def _has_alias(node: yaml.Node) -> bool:
    """Whether a node appears twice in the tree: the composer hands an alias its anchor's node."""
    seen: set[int] = set()
    todo = [node]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            return True
        seen.add(id(current))
        todo.extend(_children(current))
    return False


def _depth(node: yaml.Node) -> int:
    """How many levels deep the tree under ``node`` goes, walked without recursion."""
    deepest, todo = 0, [(node, 1)]
    while todo:
        current, depth = todo.pop()
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in _children(current))
    return deepest


def _alias_line(text: str) -> int:
    """The line (from 0) of the first alias in ``text``."""
    for event in yaml.parse(text, Loader=LOADER):
        if isinstance(event, yaml.AliasEvent) and event.start_mark is not None:
            return int(event.start_mark.line)
    return 0
