"""Snippets: the window with the most query words, escaped, the query's words marked."""

from __future__ import annotations

import random
import re

from kb.search.snippets import snippet


def _stem(word: str) -> tuple[str, ...]:
    return (word.lower().rstrip("s"),)


def test_the_window_is_the_first_with_the_most_query_words() -> None:
    # Against a count of every window, on texts where the query's words fall anywhere (and several windows tie).
    rng = random.Random(3)
    vocabulary = ["points", "expire", "store", "reward", "email", "member", "order", "refund", "tier", "code"]
    for _ in range(200):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(1, 90))]
        asked = set(rng.sample(["point", "expire", "refund", "missing"], rng.randint(1, 3)))
        width = rng.randint(3, 12)
        shown = snippet(" ".join(words), asked, _stem, words=width)
        flags = [_stem(w)[0] in asked for w in words]
        start = 0
        if any(flags) and len(words) > width:
            counts = [sum(flags[w : w + width]) for w in range(len(words) - width + 1)]
            start = max(0, counts.index(max(counts)) - 3)
        plain = re.sub(r"</?mark>", "", str(shown)).strip(" …")
        assert plain == " ".join(words[start : start + width])
        assert str(shown).count("<mark>") == sum(flags[start : start + width])
        assert str(shown).startswith("… ") == (start > 0)
        assert str(shown).endswith(" …") == (start + width < len(words))


def test_text_and_query_are_escaped_and_a_word_with_two_stems_is_marked_once() -> None:
    shown = snippet("Use <b>codes</b> & points", {"code", "point"}, lambda w: (w.lower().rstrip("s"), w.lower()))
    assert str(shown) == "Use &lt;b&gt;<mark>codes</mark>&lt;/b&gt; &amp; <mark>points</mark>"
    assert str(snippet("", {"code"}, _stem)) == ""
