"""Analysers for languages Whoosh's own do not serve well: Arabic and Korean.

Arabic: letters are normalised (alef forms, ta marbuta, alef maqsura, diacritics, tatweel) before
words are cut, then a light stemmer strips the common prefixes and suffixes; Whoosh's ISRI stemmer
cut names to pieces. Korean: particles stay attached to words ("고객이", "고객을"), so kiwipiepy's
morphological analysis gives the stems and the particle and ending tags (J*, E*) are dropped.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from whoosh.analysis import Analyzer, Filter, LowercaseFilter, RegexTokenizer, Token, Tokenizer

_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # and tatweel
_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ؤ": "و", "ئ": "ي"})
_AR_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال", "و", "ف", "ب", "ك", "ل")
_AR_SUFFIXES = ("هما", "كما", "ات", "ان", "ين", "ون", "وا", "يه", "ها", "هم", "كم", "نا", "ه", "ي", "ا")
_KO_DROP = ("J", "E", "XS", "SF", "SP", "SS", "SE", "SO", "SW", "SB")


def normalise_arabic(text: str) -> str:
    """Fold the spellings of one Arabic word to one form."""
    return _DIACRITICS.sub("", text).translate(_ALEF)


def light_stem_arabic(word: str) -> str:
    """Strip one common prefix and one suffix, keeping at least three letters."""
    for prefix in _AR_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 3:
            word = word[len(prefix) :]
            break
    for suffix in _AR_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word


class ArabicTokenizer(RegexTokenizer):
    """Normalise letters first: a diacritic in the middle of a word must not cut it in two."""

    def __call__(self, value: str, **kwargs: Any) -> Iterator[Token]:  # type: ignore[override]
        return super().__call__(normalise_arabic(value), **kwargs)


class ArabicStemFilter(Filter):
    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for token in tokens:
            if not token.text.isascii():
                token.text = light_stem_arabic(token.text)
            yield token


@functools.cache
def _kiwi() -> Any:
    from kiwipiepy import Kiwi  # type: ignore[import-untyped]

    return Kiwi()


class KoreanTokenizer(Tokenizer):
    """Morphemes from kiwipiepy, without particles and endings; Latin words and numbers kept whole."""

    def __call__(self, value: str, positions: bool = False, chars: bool = False, keeporiginal: bool = False,
                 removestops: bool = True, start_pos: int = 0, start_char: int = 0, tokenize: bool = True,
                 mode: str = "", **kwargs: Any) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        pos = start_pos
        for morph in _kiwi().tokenize(value):
            if morph.tag.startswith(_KO_DROP):
                continue
            token.text = morph.form
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                token.original = morph.form
            if positions:
                token.pos = pos
                pos += 1
            if chars:
                token.startchar = start_char + morph.start
                token.endchar = start_char + morph.start + morph.len
            yield token


def analyzer(language: str) -> Analyzer | None:
    """Return a special analyser for ``language``, or None to use the standard one."""
    if language == "ar":
        return ArabicTokenizer() | LowercaseFilter() | ArabicStemFilter()
    if language == "ko":
        return KoreanTokenizer() | LowercaseFilter()
    return None
