"""Local sentence embeddings (all-MiniLM-L6-v2) served by onnxruntime, with no torch and no network.

The runtime half: :class:`Embedder` tokenises, sorts texts into length batches and runs the ONNX graph that
:mod:`paperboy.index.onnx_build` builds (once, cached under ``models/``) from the bundled safetensors weights.
Mean pooling and L2 normalisation happen inside the graph, so vectors are unit length (cosine == dot product).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from paperboy.index.onnx_build import (
    INT8_RECIPE,
    EmbedderUnavailable,
    ensure_model_file,
    file_sha256,
    model_package_dir,
)

#: Bump only when the *numbers* produced for a given variant change (part of :attr:`Embedder.model_id`),
#: because a model_id change makes the store re-embed every paper.
MODEL_REVISION = "1"
MODEL_NAME = "all-MiniLM-L6-v2"
#: Length used for documents by sentence-transformers' all-MiniLM-L6-v2 (sentence_bert_config.json).
DEFAULT_MAX_TOKENS = 256
#: Queries are short; a small cap keeps the single-sequence fast path cheap.
QUERY_MAX_TOKENS = 64


# --------------------------------------------------------------------------------------------------
# availability
# --------------------------------------------------------------------------------------------------


def unavailable_reason() -> str | None:
    """Return why embeddings cannot be computed here, or None when they can (cheap: no model load)."""
    for module in ("onnxruntime", "tokenizers"):
        if importlib.util.find_spec(module) is None:
            return f"python package '{module}' is not installed"
    try:
        model_package_dir()
    except EmbedderUnavailable as exc:
        return str(exc)
    return None


def available() -> bool:
    """True when :meth:`Embedder.load` can be expected to work, so search can decide to go lexical-only."""
    return unavailable_reason() is None


# --------------------------------------------------------------------------------------------------
# runtime
# --------------------------------------------------------------------------------------------------


class Embedder:
    """Sentence embedder: text -> L2-normalised float32 vectors of size :attr:`dim`.

    Thread-safe: onnxruntime sessions allow concurrent ``run`` calls and the tokenizers are never
    reconfigured after creation (one per truncation length).
    """

    def __init__(self, session: Any, tokenizer_json: str, dim: int, model_id: str, max_positions: int) -> None:
        self._session = session
        self._tokenizer_json = tokenizer_json
        self._tokenizers: dict[int, Any] = {}
        self._tok_lock = threading.Lock()
        self._max_positions = max_positions
        self.dim = dim
        self.model_id = model_id

    @classmethod
    def load(cls, cache_dir: Path, variant: str = "int8", threads: int | None = None) -> Embedder:
        """Build or reuse the cached ONNX model in ``cache_dir`` and open an inference session.

        ``threads`` caps onnxruntime's intra-op pool; pass a small number when sharing the machine
        with a web server (None lets onnxruntime use one thread per core).
        """
        reason = unavailable_reason()
        if reason is not None:
            raise EmbedderUnavailable(reason)
        model_dir = model_package_dir()
        try:
            weights_sha = file_sha256(model_dir / "model.safetensors")
            path = ensure_model_file(Path(cache_dir), variant, model_dir, weights_sha)
        except EmbedderUnavailable:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise EmbedderUnavailable(f"could not build the embedding model: {exc}") from exc
        model_id = f"{MODEL_NAME}:{variant}:r{MODEL_REVISION}:{weights_sha[:8]}"
        if variant == "int8":  # another recipe gives other numbers: vectors must be recomputed
            model_id += ":" + hashlib.sha256(json.dumps(INT8_RECIPE, sort_keys=True).encode()).hexdigest()[:6]
        return cls.from_onnx(path, model_id, threads=threads, model_dir=model_dir)

    @classmethod
    def from_onnx(
        cls, path: Path, model_id: str, threads: int | None = None, model_dir: Path | None = None
    ) -> Embedder:
        """Open an already built ONNX file (benchmarks use this to compare quantisation recipes)."""
        import onnxruntime as ort

        model_dir = model_dir or model_package_dir()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        if threads:
            opts.intra_op_num_threads = int(threads)
            # Spinning workers burn the cores a web server shares with us; a capped pool should sleep instead.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for corrupt files
            raise EmbedderUnavailable(f"could not open {path}: {exc}") from exc
        cfg = json.loads((model_dir / "config.json").read_text())
        tokenizer_json = (model_dir / "tokenizer.json").read_text(encoding="utf-8")
        return cls(
            session, tokenizer_json, int(cfg["hidden_size"]), model_id, int(cfg.get("max_position_embeddings", 512))
        )

    # -- tokenisation ------------------------------------------------------------------------------------

    def _tokenizer(self, max_tokens: int) -> Any:
        """One tokenizer per truncation length: reconfiguring a shared one would race between threads."""
        tok = self._tokenizers.get(max_tokens)
        if tok is None:
            from tokenizers import Tokenizer

            with self._tok_lock:
                tok = self._tokenizers.get(max_tokens)
                if tok is None:
                    tok = Tokenizer.from_str(self._tokenizer_json)
                    tok.no_padding()  # tokenizer.json ships fixed padding to 128; we pad per batch instead
                    tok.enable_truncation(max_length=max_tokens)
                    self._tokenizers[max_tokens] = tok
        return tok

    def _check_max_tokens(self, max_tokens: int) -> int:
        if max_tokens < 2:
            raise ValueError("max_tokens must leave room for [CLS] and [SEP]")
        return min(int(max_tokens), self._max_positions)

    # -- inference -----------------------------------------------------------------------------------

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (out,) = self._session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})
        return np.asarray(out, dtype=np.float32)

    def embed(self, texts: list[str], batch_size: int = 32, max_tokens: int = DEFAULT_MAX_TOKENS) -> np.ndarray:
        """Embed documents; returns float32 (len(texts), dim), rows in input order, each of unit length.

        Texts are sorted by token count and batched so each batch is padded only to its own longest
        member: with abstracts of very different lengths this avoids most of the wasted padding work.
        """
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        max_tokens = self._check_max_tokens(max_tokens)
        encodings = self._tokenizer(max_tokens).encode_batch([t if isinstance(t, str) else str(t) for t in texts])
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=n)
        order = np.argsort(lengths, kind="stable")
        result = np.empty((n, self.dim), dtype=np.float32)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            width = int(lengths[idx].max())
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, j in enumerate(idx):
                seq = encodings[j].ids
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            result[idx] = self._run(ids, mask)
        return result

    def embed_query(self, text: str, max_tokens: int = QUERY_MAX_TOKENS) -> np.ndarray:
        """Embed one short query: a single unpadded sequence, float32 (dim,), unit length."""
        enc = self._tokenizer(self._check_max_tokens(max_tokens)).encode(text)
        ids = np.asarray([enc.ids], dtype=np.int64)
        return self._run(ids, np.ones_like(ids))[0]

    def count_tokens(self, texts: list[str], max_tokens: int = DEFAULT_MAX_TOKENS) -> list[int]:
        """Token counts after truncation (including [CLS]/[SEP]); used by benchmarks and cost estimates."""
        tok = self._tokenizer(self._check_max_tokens(max_tokens))
        return [len(e.ids) for e in tok.encode_batch(list(texts))]
