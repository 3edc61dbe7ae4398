"""Analysers for languages Whoosh's own do not serve well: Arabic and Korean.

Arabic: letters are normalised (alef forms, ta marbuta, alef maqsura, diacritics, tatweel) before
words are cut, then a light stemmer strips the common prefixes and suffixes; Whoosh's ISRI stemmer
cut names to pieces. Korean: particles stay attached to words ("고객이", "고객을"), so kiwipiepy's
morphological analysis gives the stems and the particle and ending tags (J*, E*) are dropped.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

from whoosh.analysis import Analyzer, Filter, LowercaseFilter, RegexTokenizer, Token, Tokenizer

_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # and tatweel
_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ة": "ه", "ى": "ي", "ؤ": "و", "ئ": "ي"})
_AR_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال", "و", "ف", "ب", "ك", "ل")
_AR_SUFFIXES = ("هما", "كما", "ات", "ان", "ين", "ون", "وا", "يه", "ها", "هم", "كم", "نا", "ه", "ي", "ا")
_CODE = re.compile(r"[A-Za-z]{1,6}-\d[\w-]*")
# Error codes, versions and names with numbers stay whole ("PK-5120", "v2.1", "COVID-19"): kept whole
# they match precisely (measured: +0.025 recall@3 on covid_q); other words split at punctuation.
TOKEN = re.compile(r"[^\W\d_]{1,6}-\d[\w-]*|\w+(?:\.\w+)*", re.UNICODE)
_KO_DROP = ("J", "E", "XS", "SF", "SP", "SS", "SE", "SO", "SW", "SB")


def clean_for_models(text: str, locale: str) -> str:
    """What the embedding models read: Arabic without diacritics and tatweel, which they rarely saw."""
    return _DIACRITICS.sub("", text) if locale.split("-")[0] == "ar" else text


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

    def __call__(self, value: str, **kwargs: Any) -> Iterator[Token]:
        return super().__call__(normalise_arabic(value), **kwargs)


class ArabicStemFilter(Filter):
    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for token in tokens:
            if not token.text.isascii():
                token.text = light_stem_arabic(token.text)
            yield token


class _KiwiHolder:
    """The process's one Korean morphological analyser, made on first use (it takes a second and ~100 MB).

    Process-wide on purpose, unlike the embedding models (which live on the app): the Korean analyser
    is pickled into each Whoosh index's schema and unpickled from disk by Whoosh, so the tokenizer that
    calls it cannot be handed anything by the app. Nothing here depends on settings.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kiwi: Any = None

    def get(self) -> Any:
        if self._kiwi is not None:
            return self._kiwi
        with self._lock:
            if self._kiwi is None:
                from kiwipiepy import Kiwi

                # No thread pool: gunicorn's master analyses a question before it forks, and a child's copy of
                # a pool whose threads stayed in the master hung on its next analysis and aborted at exit.
                self._kiwi = Kiwi(num_workers=0)
            return self._kiwi


_KIWI = _KiwiHolder()


def _kiwi() -> Any:
    return _KIWI.get()


class KoreanTokenizer(Tokenizer):
    """Morphemes from kiwipiepy without particles and endings, plus each word without its particles.

    The whole word ("런처" from "런처가") is kept beside its morphemes because the analyser splits
    loanwords it does not know ("런" + "처"); error codes ("PK-5522") stay whole as in other languages.
    """

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        pos = start_pos
        for start, end, text in _korean_terms(value):
            token.text = text
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                token.original = text
            if positions:
                token.pos = pos
                pos += 1
            if chars:
                token.startchar = start_char + start
                token.endchar = start_char + end
            yield token


def _korean_terms(value: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, text) of each term: codes whole, then morphemes and particle-free words."""
    last = 0
    for match in _CODE.finditer(value):
        yield from _morphemes(value[last : match.start()], last)
        yield match.start(), match.end(), match.group(0)
        last = match.end()
    yield from _morphemes(value[last:], last)


def _morphemes(text: str, offset: int) -> Iterator[tuple[int, int, str]]:
    word_start, word_end = -1, -1
    kept: list[Any] = []
    for morph in _kiwi().tokenize(text):
        if morph.start > word_end and kept:  # a space: the previous word is complete
            yield from _whole_word(text, offset, word_start, word_end, kept)
            kept = []
        if not kept:
            word_start = morph.start
        if morph.tag.startswith(_KO_DROP):
            word_end = max(word_end, morph.start + morph.len)
            continue
        kept.append(morph)
        word_end = morph.start + morph.len
        yield offset + morph.start, offset + morph.start + morph.len, morph.form
    if kept:
        yield from _whole_word(text, offset, word_start, word_end, kept)


def _whole_word(text: str, offset: int, start: int, end: int, kept: list[Any]) -> Iterator[tuple[int, int, str]]:
    if len(kept) > 1 and all(m.tag.startswith(("NN", "SL", "XR", "NR")) for m in kept):
        first, last = kept[0], kept[-1]
        word = text[first.start : last.start + last.len]
        if " " not in word:
            yield offset + first.start, offset + last.start + last.len, word


def analyzer(language: str) -> Analyzer | None:
    """Return a special analyser for ``language``, or None to use the standard one."""
    if language == "ar":
        return ArabicTokenizer(TOKEN) | LowercaseFilter() | ArabicStemFilter()
    if language == "ko":
        return KoreanTokenizer() | LowercaseFilter()
    return None
