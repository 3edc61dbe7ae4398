"""The ONNX export of the sentence model: the same vectors and vocabulary as PyTorch, exported once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kb import create_app
from kb.search.onnx_embedder import (
    ModelNotExportable,
    OnnxEmbedder,
    check_exportable,
    export_model,
    is_current,
    quantize_for_queries,
    queries_path,
    weights_path,
)
from kb.search.semantic import Models, SentenceTransformerEmbedder, default_model_path, load_embedder
from kb.search.spare_core import SpareCore

ROOT = Path(__file__).resolve().parent.parent
LABEL = "all-MiniLM-L6-v2"


def _queries() -> list[str]:
    lines = (ROOT / "bench" / "eval" / "merchants-fit.jsonl").read_text(encoding="utf-8").splitlines()
    queries = [json.loads(line)["query"] for line in lines if line.strip()]
    longest = sorted(queries, key=len)[-4:]
    return [*queries, " ".join(longest)]  # the last is past 256 tokens: truncated as sentence-transformers does


QUERIES = _queries()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a fresh export, so these tests never depend on `make` having run."""
    folder = tmp_path_factory.mktemp("models")
    assert export_model(Path(default_model_path()), folder / f"{LABEL}.onnx") is True
    return folder


@pytest.fixture(scope="module")
def onnx(models_dir: Path) -> OnnxEmbedder:
    embedder = Models(models_dir).embedder("")
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


@pytest.fixture(scope="module")
def torch_embedder(tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformerEmbedder:
    """The registry without an export: PyTorch, as before."""
    embedder = Models(tmp_path_factory.mktemp("no-export")).embedder("")
    assert isinstance(embedder, SentenceTransformerEmbedder)
    return embedder


def test_queries_cover_long_korean_and_arabic_text() -> None:
    assert len(QUERIES) >= 50
    assert any(re.search("[\uac00-\ud7a3]", q) for q in QUERIES)
    assert any(re.search("[\u0600-\u06ff]", q) for q in QUERIES)
    assert len(QUERIES[-1].split()) > 256


def test_onnx_vectors_match_pytorch(onnx: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder) -> None:
    ours = np.stack([onnx.encode([q])[0] for q in QUERIES])
    theirs = np.stack([torch_embedder.encode([q])[0] for q in QUERIES])
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.99, QUERIES[int(np.argmin(cosines))]
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


def test_onnx_serves_an_index_built_by_pytorch(onnx: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder) -> None:
    assert (onnx.name, onnx.dim) == (torch_embedder.name, torch_embedder.dim) == (LABEL, 384)


def test_batches_give_the_vectors_of_one_by_one(onnx: OnnxEmbedder) -> None:
    batched = onnx.encode(QUERIES, batch_size=16)
    alone = np.stack([onnx.encode([q])[0] for q in QUERIES])
    assert batched.shape == (len(QUERIES), 384)
    assert np.allclose(batched, alone, atol=1e-5)


def test_query_cache_returns_the_encoded_vector(onnx: OnnxEmbedder) -> None:
    first = onnx.encode_query("how do I change my plan")
    assert onnx.encode_query("how do I change my plan") is first
    assert np.allclose(first, onnx.encode(["how do I change my plan"])[0], atol=1e-6)


def test_known_word_agrees_with_pytorch(onnx: OnnxEmbedder, torch_embedder: SentenceTransformerEmbedder) -> None:
    words = {w for q in QUERIES for w in re.findall(r"\w+", q)}
    words |= {w.lower() for w in words} | {"refnud", "shopfiy", "[CLS]", "[PAD]", "##ing", ""}
    disagree = [w for w in sorted(words) if onnx.known_word(w) != torch_embedder.known_word(w)]
    assert disagree == []
    assert onnx.known_word("plan") and not onnx.known_word("refnud")


def test_export_is_skipped_when_current(models_dir: Path) -> None:
    target = models_dir / f"{LABEL}.onnx"
    before = target.stat().st_mtime_ns
    assert export_model(Path(default_model_path()), target) is False
    assert target.stat().st_mtime_ns == before


def test_export_is_stale_when_the_stamp_does_not_match(models_dir: Path, tmp_path: Path) -> None:
    model_dir = Path(default_model_path())
    assert is_current(models_dir / f"{LABEL}.onnx", model_dir)
    copy = tmp_path / f"{LABEL}.onnx"
    copy.hardlink_to(models_dir / f"{LABEL}.onnx")
    assert not is_current(copy, model_dir)  # no stamp
    stamp = json.loads((models_dir / f"{LABEL}.json").read_text())
    (tmp_path / f"{LABEL}.json").write_text(json.dumps({**stamp, "fingerprint": "another model"}))
    assert not is_current(copy, model_dir)


def test_a_folder_without_sentence_transformers_modules_is_not_exported(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelNotExportable):
        check_exportable(tmp_path)
    with pytest.raises(ModelNotExportable):
        export_model(tmp_path, tmp_path / "x.onnx")


def test_models_export_command_reports_up_to_date(models_dir: Path, tmp_path: Path) -> None:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test",
        "ARTICLES_DIR": str(tmp_path),
        "SEARCH_INDEX_DIR": str(tmp_path / "index"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'kb.sqlite3'}",
    }
    app = create_app(config, models=Models(models_dir))
    result = app.test_cli_runner().invoke(args=["models", "export"])
    assert result.exit_code == 0, result.output
    assert "Up to date" in result.output


def test_the_onnx_path_never_imports_torch(models_dir: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from kb.search.semantic import load_embedder;"
        f"e = load_embedder('', Path({str(models_dir)!r})); e.encode_query('where is my invoice');"
        "print(type(e).__name__, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["OnnxEmbedder", "False", "False"], out.stderr


def test_the_int8_copy_embeds_questions_within_cosine_099_and_never_passages(
    models_dir: Path, onnx: OnnxEmbedder
) -> None:
    assert quantize_for_queries(models_dir / f"{LABEL}.onnx", Path(default_model_path())) is True
    assert quantize_for_queries(models_dir / f"{LABEL}.onnx", Path(default_model_path())) is False  # current
    quantized = Models(models_dir).embedder("", quantized=True)
    assert isinstance(quantized, OnnxEmbedder) and quantized.queries_path == queries_path(models_dir / f"{LABEL}.onnx")
    assert Models(models_dir).embedder("").queries_path is None  # KB_QUANTIZED_QUERIES off: float32
    english = [q for q in QUERIES if not re.search("[\uac00-\ud7a3\u0600-\u06ff]", q)]
    full = np.stack([onnx.embed_query(q) for q in english])
    fast = np.stack([quantized.embed_query(q) for q in english])
    cosines = np.sum(full * fast, axis=1)
    assert cosines.min() >= 0.99
    assert cosines.min() < 0.99999  # it is the int8 graph that answered
    np.testing.assert_array_equal(quantized.encode(english[:8]), onnx.encode(english[:8]))  # passages: float32


def test_the_weights_lie_beside_the_graph_for_processes_to_share(models_dir: Path) -> None:
    graph = models_dir / f"{LABEL}.onnx"
    weights = weights_path(graph)
    assert weights is not None and weights.name.startswith(f"{LABEL}.onnx.") and weights.name.endswith(".data")
    assert weights.stat().st_size > 80_000_000 and graph.stat().st_size < 1_000_000
    assert weights.stat().st_mode == graph.stat().st_mode  # readable by whoever reads the graph
    weights.rename(weights.with_name("elsewhere"))
    try:
        assert not is_current(graph, Path(default_model_path()))  # a graph without its weights is redone
    finally:
        weights.with_name("elsewhere").rename(weights)


def _embedder_with(models_dir: Path, load: float) -> OnnxEmbedder:
    embedder = load_embedder("", models_dir)
    assert isinstance(embedder, OnnxEmbedder)
    embedder.spare_core = SpareCore(cores=2, busy=lambda: load)
    return embedder


def test_a_question_takes_a_spare_core_and_gets_the_same_vector(models_dir: Path) -> None:
    idle, busy = _embedder_with(models_dir, 0.2), _embedder_with(models_dir, 3.0)
    english = [q for q in QUERIES[:40] if not re.search("[\uac00-\ud7a3\u0600-\u06ff]", q)]
    two = np.stack([idle.embed_query(q) for q in english])
    one = np.stack([busy.embed_query(q) for q in english])
    assert idle._spare is not None and busy._spare is None  # the busy machine never made a second session
    assert np.sum(two * one, axis=1).min() > 0.99999


def test_a_forked_worker_makes_its_own_two_thread_session(models_dir: Path) -> None:
    """A server's master may embed on two threads before it forks; its threads are not in the worker."""
    embedder = _embedder_with(models_dir, 0.2)
    before = embedder.embed_query("where is my invoice")
    inherited = embedder._spare
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the worker: answer a question, report, and leave without running pytest's teardown
        try:
            vector = embedder.embed_query("the points did not show up after the order")
            ok = embedder._spare is not inherited and embedder._spare[0] == os.getpid()
            os.write(write, json.dumps({"ok": ok, "vector": vector.tolist()}).encode())
        finally:
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + 60
    while os.waitpid(child, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            pytest.fail("the forked worker hung on its first question")
        time.sleep(0.05)
    with os.fdopen(read) as answer:
        report = json.loads(answer.read())
    assert report["ok"]
    expected = embedder.encode(["the points did not show up after the order"])[0]
    assert float(np.dot(report["vector"], expected)) > 0.99999
    assert float(np.dot(before, embedder.encode(["where is my invoice"])[0])) > 0.99999


def test_a_new_export_on_disk_never_answers_beside_the_one_loaded(models_dir: Path, tmp_path: Path) -> None:
    """A running worker that loaded one export must not make its second session from the next one (another
    model's vectors against the index it serves): it stays on its own session."""
    folder = _copy_of_export(models_dir, tmp_path)
    embedder = _embedder_with(folder, 0.2)
    graph = folder / f"{LABEL}.onnx"
    replacement = folder / "next.onnx"
    replacement.write_bytes(graph.read_bytes())
    os.replace(replacement, graph)  # as an export does: a new file under the same name
    vector = embedder.embed_query("can I pause my plan for a month")
    assert embedder._spare == (os.getpid(), None)  # no second session, and none tried again
    assert float(np.dot(vector, embedder.encode(["can I pause my plan for a month"])[0])) > 0.99999


def _copy_of_export(models_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    weights = weights_path(models_dir / f"{LABEL}.onnx")
    assert weights is not None
    for name in (f"{LABEL}.onnx", weights.name, f"{LABEL}.json"):
        (folder / name).hardlink_to(models_dir / name)
    return folder


def test_a_second_session_that_cannot_be_made_leaves_questions_on_one_thread(models_dir: Path, tmp_path: Path) -> None:
    """The weights went (a newer export removed them) after this worker loaded: its questions are answered on
    its own session, every time, without trying again."""
    folder = _copy_of_export(models_dir, tmp_path)
    embedder = _embedder_with(folder, 0.2)
    weights = weights_path(folder / f"{LABEL}.onnx")
    assert weights is not None
    weights.unlink()  # the loaded session keeps its map of the file
    for question in ("where is my invoice", "how do I pause the program"):
        vector = embedder.embed_query(question)
        assert float(np.dot(vector, embedder.encode([question])[0])) > 0.99999
    assert embedder._spare == (os.getpid(), None)


def test_a_new_export_names_new_weights_and_removes_the_old(models_dir: Path, tmp_path: Path) -> None:
    folder = _copy_of_export(models_dir, tmp_path)
    graph = folder / f"{LABEL}.onnx"
    before = weights_path(graph)
    loaded = _embedder_with(folder, 3.0)  # a worker that loaded the old export
    (folder / f"{LABEL}.json").unlink()  # no stamp: the export is redone
    assert export_model(Path(default_model_path()), graph) is True
    after = weights_path(graph)
    assert before is not None and after is not None and after != before
    assert after.is_file() and not before.exists()
    assert is_current(graph, Path(default_model_path()))
    question = "can customers gift points to a friend"
    assert float(np.dot(loaded.embed_query(question), _embedder_with(folder, 3.0).embed_query(question))) > 0.99999
