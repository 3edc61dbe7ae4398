"""The sentence model in onnxruntime: the same vectors as sentence-transformers, a query in half the time, no torch.

``export_model`` writes the model once, at set-up (``kb models export``), from the weights on disk: the
transformer with mean pooling and L2 normalisation inside the graph, beside a small JSON stamp that
fingerprints the model folder it came from. ``OnnxEmbedder`` serves it with the model's own tokenizer
(``tokenizer.json``), so a web worker loads onnxruntime and ``tokenizers`` and never imports torch.

The weights lie in a file of their own beside the graph (``<name>.onnx.<id>.data``, named by the graph and the
export's stamp, new with each export), which onnxruntime maps rather
than copies: every process that serves the model shares its pages, so a worker can hold a second session (a
question on two threads while a core is spare, ``kb.search.spare_core``) for about 35 MB instead of 125 MB.

With ``KB_QUANTIZED_QUERIES``, an int8 copy beside it embeds single questions in about three quarters of the
time: weights quantized per channel, except the feed-forward output layers, whose inputs have outliers that
int8 rounds badly (with them quantized too, a question's vector fell to cosine 0.984 of the float32 one;
without, 0.993 at worst on 797 questions). Passages keep the float32 graph. The copy is kept only when it
passes that check. It is off by default: on the writers' tests and the merchants' sets, deflection moved by
-0.013 to +0.009 (bench/README.md), more than the 0.005 that a faster path may cost.
"""

from __future__ import annotations

import glob
import hashlib
import inspect
import json
import logging
import os
import re
import secrets
import shutil
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kb.search.semantic import QueryCache
from kb.search.spare_core import spare_core

log = logging.getLogger(__name__)

FORMAT = 2  # bump when the exported graph changes: older exports are then redone (2: weights in a .data file beside)
OPSET = 17
SEQ_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
FLOAT_LAYERS = re.compile(r"/output/dense/")  # MatMul nodes int8 leaves alone (not attention/output/dense)
# Texts embedded on the one-thread session: opening a session for every core costs ~0.15 s, more than it
# saves on the few passages an edit brings.
ONE_THREAD_UP_TO = 16
SPARE_THREADS = 2  # a question's threads while a core is spare: a third gained little on 14-word questions
_INHERITED: list[Any] = []  # sessions made before a fork, kept alive in the child (see _spare_session)
QUERY_COSINE = 0.99  # the int8 copy must keep every check sentence's vector this close to float32's
CHECK_SENTENCES = (
    "how do I change the email address on my account",
    "customers say the discount code does not work at checkout",
    "Hi, since yesterday our points stopped showing up on orders. We tried reinstalling. Can you help?",
    "refund",
    "what happens to my data if I cancel my plan",
    "The widget is not showing on the product page after I changed my theme",
    "Error PK-5510 duplicate order detected",
    "can I import customers from a CSV file",
)


class ModelNotExportable(Exception):
    """The model folder is not a sentence-transformers transformer with mean pooling: PyTorch serves it."""


def onnx_path(models_dir: Path, label: str) -> Path:
    """Where the export of the model called ``label`` lives."""
    return models_dir / f"{label}.onnx"


def fingerprint(model_dir: Path) -> str:
    """A hash of every file's name, size and mtime in the model folder: cheap, and changes when the model does."""
    digest = hashlib.sha256(f"format {FORMAT} opset {OPSET}\n".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(model_dir).as_posix()} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def queries_path(target: Path) -> Path:
    """Where the int8 copy of the export ``target`` lives."""
    return target.with_name(f"{target.stem}.int8.onnx")


def copy_is_current(target: Path) -> bool:
    """Whether the int8 copy of ``target`` exists and was made from it as it is now."""
    copy = queries_path(target)
    return copy.exists() and copy.stat().st_mtime_ns >= target.stat().st_mtime_ns


def quantize_for_queries(target: Path, model_dir: Path) -> bool:
    """Write the int8 query copy of the export ``target`` unless a current one exists; True when it wrote.

    A copy whose vectors stray below ``QUERY_COSINE`` of the float32 ones on the check sentences is
    not kept: questions are then embedded in float32, as before.
    """
    if copy_is_current(target):
        return False
    out = queries_path(target)
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    matmuls = [n.name for n in onnx.load(str(target)).graph.node if n.op_type == "MatMul"]
    keep = [n for n in matmuls if FLOAT_LAYERS.search(n) and "/attention/" not in n]
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    logging.disable(logging.WARNING)  # the quantizer logs every node it passes over on the root logger
    try:
        quantize_dynamic(
            str(target),
            str(partial),
            weight_type=QuantType.QUInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=keep,
        )
        full = OnnxEmbedder(target, model_dir, target.stem)
        copy = OnnxEmbedder(partial, model_dir, target.stem)
        sentences = list(CHECK_SENTENCES)
        worst = float(np.min(np.sum(full.encode(sentences) * copy.encode(sentences), axis=1)))
        if worst < QUERY_COSINE:
            out.unlink(missing_ok=True)
            raise ModelNotExportable(f"its int8 copy reached cosine {worst:.3f} only: questions stay float32")
        os.replace(partial, out)
    finally:
        logging.disable(logging.NOTSET)
        partial.unlink(missing_ok=True)
    return True


def _file_state(path: Path) -> tuple[int, int] | None:
    """What tells one export from the next at ``path``: a new one is a new file (os.replace)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def weights_path(target: Path) -> Path | None:
    """The file of the export's weights, as its stamp names it (None without a stamp that names one)."""
    try:
        stamp = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return None
    return _weights_named(target, stamp)


def _weights_named(target: Path, stamp: object) -> Path | None:
    name = stamp.get("weights") if isinstance(stamp, dict) else None
    return target.with_name(name) if isinstance(name, str) and name and "/" not in name else None


def _save_with_weights_beside(exported: Path, target: Path) -> str:
    """Move the graph torch wrote (weights inline) to ``target``, its weights to a file of its own beside it,
    whose name is new with each export; return that name.

    The graph names its weights file, so replacing the graph switches both at once: a reader that opens the
    graph before the replace reads the old weights, one that opens it after reads the new. The old weights
    file is removed after (a process that maps it keeps it until it lets go)."""
    import onnx

    model = onnx.load(str(exported))
    weights = f"{target.name}.{secrets.token_hex(6)}.data"
    folder = target.parent / f".{target.name}.{os.getpid()}.export"
    folder.mkdir(exist_ok=True)
    try:
        onnx.save_model(
            model,
            str(folder / target.name),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=weights,
            size_threshold=1024,
        )
        shutil.copymode(folder / target.name, folder / weights)  # onnx writes it 0600: readable as the graph
        os.replace(folder / weights, target.with_name(weights))  # a new name: nothing reads it yet
        os.replace(folder / target.name, target)
    finally:
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()
    for old in target.parent.glob(f"{glob.escape(target.name)}*.data"):
        if old.name != weights:
            old.unlink(missing_ok=True)
    return weights


def _stamp_path(target: Path) -> Path:
    return target.with_suffix(".json")


def is_current(target: Path, model_dir: Path) -> bool:
    """Whether ``target`` exists and was exported from ``model_dir`` as it is now."""
    try:
        stamp = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return False
    weights = _weights_named(target, stamp)
    return (
        target.is_file()
        and weights is not None
        and weights.is_file()
        and stamp.get("source") == str(model_dir.resolve())
        and stamp.get("fingerprint") == fingerprint(model_dir)
    )


def max_seq_length(model_dir: Path) -> int:
    """The token limit sentence-transformers truncates at (``sentence_bert_config.json``), else BERT's 512."""
    try:
        config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        return int(config.get("max_seq_length") or 512)
    except (OSError, ValueError):
        return 512


def check_exportable(model_dir: Path) -> None:
    """Raise ModelNotExportable unless the folder is Transformer + mean Pooling (+ Normalize) with tokenizer.json."""
    if not model_dir.is_dir():
        raise ModelNotExportable(f"{model_dir} is not a model folder")
    if not (model_dir / "tokenizer.json").is_file():
        raise ModelNotExportable(f"{model_dir} has no tokenizer.json")
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelNotExportable(f"{model_dir}: no readable modules.json ({exc})") from None
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ModelNotExportable(f"{model_dir}: modules {kinds}, not Transformer + Pooling (+ Normalize)")
    pooling = json.loads((model_dir / modules[1].get("path", "") / "config.json").read_text())
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True]
    if modes != ["pooling_mode_mean_tokens"]:
        raise ModelNotExportable(f"{model_dir}: pooling {modes}, not mean tokens")


def export_model(model_dir: Path, target: Path) -> bool:
    """Export the model in ``model_dir`` to ``target`` unless it is already current; True when it wrote."""
    if is_current(target, model_dir):
        return False
    check_exportable(model_dir)
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    transformer: torch.nn.Module = model[0].auto_model  # type: ignore[assignment]
    transformer.eval()
    accepted = [n for n in SEQ_INPUTS if n in inspect.signature(transformer.forward).parameters]

    class Pooled(torch.nn.Module):
        """The transformer, then mean pooling over real tokens and L2 normalisation, as sentence-transformers does."""

        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            named = dict(zip(accepted, inputs, strict=True))
            hidden = self.transformer(**named).last_hidden_state
            mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    sample = model.tokenizer(["a sample question to trace the graph"], return_tensors="pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    axes = {name: {0: "batch", 1: "tokens"} for name in accepted}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shapes: the graph is checked against PyTorch in tests
            torch.onnx.export(
                Pooled(),
                tuple(sample[name] for name in accepted),
                str(partial),
                input_names=accepted,
                output_names=["embedding"],
                dynamic_axes={**axes, "embedding": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        weights = _save_with_weights_beside(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    stamp = {
        "source": str(model_dir.resolve()),
        "fingerprint": fingerprint(model_dir),
        "format": FORMAT,
        "weights": weights,
    }
    _stamp_path(target).write_text(json.dumps(stamp, indent=2) + "\n")
    return True


class OnnxEmbedder(QueryCache):
    """An exported sentence model run by onnxruntime, tokenized by the model's own ``tokenizer.json``."""

    def __init__(self, onnx_file: Path, model_dir: Path, label: str, queries_file: Path | None = None) -> None:
        from tokenizers import Tokenizer

        self.name = label
        self.path = onnx_file
        self.queries_path = queries_file
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_seq_length(model_dir))
        self.tokenizer.no_padding()  # each batch is padded to its own longest text below
        self._pad_id = self._pad_token_id(model_dir)
        self._sessions: dict[int, Any] = {}
        self._loaded_from = _file_state(onnx_file)  # a later session is made only from this same export
        session = self._session(1)  # loaded now, so a broken file fails at start
        if _file_state(onnx_file) != self._loaded_from:
            raise RuntimeError(f"{onnx_file} was replaced while it loaded: load it again")
        self._inputs = [i.name for i in session.get_inputs()]
        self.dim = int(session.get_outputs()[0].shape[1])
        self._query_session = self._new_session(queries_file, 1) if queries_file is not None else session
        self.spare_core: Callable[[], bool] = spare_core  # is a core idle now? (kb.search.spare_core)
        self._spare: tuple[int, Any] | None = None  # (process id, session on SPARE_THREADS threads, or None)
        self._spare_lock = threading.Lock()
        self._vocab: frozenset[str] | None = None

    def _pad_token_id(self, model_dir: Path) -> int:
        try:
            pad = json.loads((model_dir / "special_tokens_map.json").read_text()).get("pad_token")
        except (OSError, ValueError):
            pad = None
        token = pad.get("content") if isinstance(pad, dict) else pad
        found = self.tokenizer.token_to_id(token) if isinstance(token, str) else None
        return int(found) if found is not None else 0

    def _session(self, threads: int) -> Any:
        """One session per thread count: one thread for a single text, every core for batches of passages."""
        if threads not in self._sessions:
            self._sessions[threads] = self._new_session(self.path, threads)
        return self._sessions[threads]

    def _spare_session(self) -> Any:
        """This process's session on ``SPARE_THREADS`` threads, made on first use; else the one-thread session:
        when the export on disk is no longer the one this embedder loaded (a new model's vectors would not
        match the index being served), or when the session could not be made (said once in the log).

        Threads do not survive a fork: a session a server's master made before forking has no threads in its
        workers, so each process makes its own. The one inherited is kept, never torn down, as its threads'
        teardown would wait for threads this process does not have."""
        with self._spare_lock:
            if self._spare is None or self._spare[0] != os.getpid():
                if self._spare is not None and self._spare[1] is not None:
                    _INHERITED.append(self._spare[1])
                self._spare = (os.getpid(), self._made_spare_session())
            return self._spare[1] if self._spare[1] is not None else self._query_session

    def _made_spare_session(self) -> Any:
        try:
            session = self._new_session(self.path, SPARE_THREADS, spinning=False)
        except Exception as exc:  # the file went with a newer export, or memory ran short: one thread answers
            log.warning(
                "could not make a %d-thread session of %s (%s): questions stay on one thread",
                SPARE_THREADS,
                self.path,
                exc,
            )
            return None
        if (
            _file_state(self.path) != self._loaded_from
        ):  # replaced since this embedder loaded: it may hold another model
            log.warning("%s changed on disk since it was loaded: questions stay on one thread", self.path)
            return None
        return session

    @staticmethod
    def _new_session(path: Path, threads: int, spinning: bool = True) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        if not spinning:  # its threads sleep between questions instead of spinning on a core another request needs
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        threads = 1 if len(texts) <= ONE_THREAD_UP_TO else max(1, os.cpu_count() or 1)
        return self._encode(texts, self._session(threads), batch_size)

    def embed_query(self, text: str) -> np.ndarray:
        """A visitor's question: by the int8 copy when there is one (passages never are); else on two threads
        while a core is spare (p95 21 -> 13 ms here), on one when the machine is busy."""
        if self.queries_path is None and self.spare_core():
            return self._encode([text], self._spare_session(), 1)[0]
        return self._encode([text], self._query_session, 1)[0]

    def _encode(self, texts: list[str], session: Any, batch_size: int) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")  # similar lengths pad little
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            feed = {name: np.zeros((len(rows), width), dtype=np.int64) for name in self._inputs}
            if "input_ids" in feed:
                feed["input_ids"].fill(self._pad_id)
            for r, i in enumerate(rows):
                e = encodings[i]
                n = len(e.ids)
                feed["input_ids"][r, :n] = e.ids
                feed["attention_mask"][r, :n] = e.attention_mask
                if "token_type_ids" in feed:
                    feed["token_type_ids"][r, :n] = e.type_ids
            out[rows] = session.run(None, feed)[0]
        return out

    def known_word(self, word: str) -> bool:
        """Whether the model's tokenizer has ``word`` as one whole token: a real word, not a typo."""
        if self._vocab is None:
            self._vocab = frozenset(self.tokenizer.get_vocab(with_added_tokens=True))
        return word in self._vocab
