"""The Tiny Recursive Model without MLX: its config, input features, the numpy forward
pass, checkpoints on disk (safetensors read and written with numpy), the runner the triage
engine calls, and the calibration metrics.

Inference runs on numpy because MLX on CPU is dispatch-bound for tensors this small
(architecture.md: ~23 ms per supervision step at batch 1, against well under 1 ms in
numpy). Training is :mod:`sreconsole.triage.trm_mlx`; what the model is, and the names
callers import, are in :mod:`sreconsole.triage.trm`.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sreconsole.knowledge.textindex import Tokenizer

FORMAT = "sreconsole-trm/1"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
METADATA = "metadata.json"


class CheckpointError(Exception):
    """A checkpoint that cannot be used; ``str()`` says which file and why."""


@dataclass(frozen=True)
class TRMConfig:
    """Shape and recursion of the model; saved beside the weights."""

    actions: tuple[str, ...]
    embed_dim: int = 384
    # Sized by measurement: MLX's CPU matmul runs ~6 GFLOPS on this 2-core machine
    # (numpy: ~170), so width and recursion depth are what fit the 60 s training budget.
    hash_dim: int = 512
    width: int = 128
    expansion: int = 2
    n: int = 2  # latent updates per recursion
    T: int = 2  # recursions per supervision step (gradients through the last only)
    n_sup: int = 3  # supervision steps
    embed_model: str = ""

    @property
    def input_dim(self) -> int:
        return self.embed_dim + self.hash_dim

    @classmethod
    def from_dict(cls, data: dict) -> TRMConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise CheckpointError(f"{CONFIG}: unknown fields {sorted(unknown)}")
        data = dict(data)
        data["actions"] = tuple(data.get("actions", ()))
        return cls(**data)


# -- features ----------------------------------------------------------------------------

_TOKENIZER: Tokenizer | None = None


def hashed_tokens(texts: Sequence[str], dim: int) -> np.ndarray:
    """L2-normalised hashed bag of stemmed tokens (crc32, so stable across processes)."""
    global _TOKENIZER
    if _TOKENIZER is None:
        _TOKENIZER = Tokenizer()
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        for tok in _TOKENIZER.tokens(text):
            out[i, zlib.crc32(tok.encode("utf-8", "surrogatepass")) % dim] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def features(texts: Sequence[str], embed: Callable[[list[str]], np.ndarray], hash_dim: int) -> np.ndarray:
    """The model input for these alert texts: [embedding ; hashed tokens]."""
    emb = np.asarray(embed(list(texts)), dtype=np.float32)
    return np.concatenate([emb, hashed_tokens(texts, hash_dim)], axis=1)


# -- numpy inference -----------------------------------------------------------------------


def _rms_norm(h: np.ndarray, weight: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    return h / np.sqrt(np.mean(h * h, axis=-1, keepdims=True) + eps) * weight


def _silu(a: np.ndarray) -> np.ndarray:
    return a / (1.0 + np.exp(-a))


class NumpyTRM:
    """The forward pass with numpy, from the same parameter names as the MLX model."""

    def __init__(self, config: TRMConfig, params: dict[str, np.ndarray]) -> None:
        self.config = config
        self.p = params
        self._layers = sorted({k.split(".")[2] for k in params if k.startswith("net.layers.")}, key=int)

    def _net(self, h: np.ndarray) -> np.ndarray:
        p = self.p
        for i in self._layers:
            pre = f"net.layers.{i}."
            n = _rms_norm(h, p[pre + "norm.weight"])
            gate = n @ p[pre + "gate.weight"].T
            up = n @ p[pre + "up.weight"].T
            h = h + (_silu(gate) * up) @ p[pre + "down.weight"].T
        return _rms_norm(h, p["net.norm.weight"])

    def forward(self, x_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits [B, C], halt logit [B]) after all supervision steps."""
        c, p = self.config, self.p
        x = _rms_norm(x_in.astype(np.float32) @ p["in_proj.weight"].T + p["in_proj.bias"], p["in_norm.weight"])
        y = np.broadcast_to(p["y0"], x.shape).copy()
        z = np.broadcast_to(p["z0"], x.shape).copy()
        for _ in range(c.n_sup * c.T):
            for _ in range(c.n):
                z = self._net(x + y + z)
            y = self._net(y + z)
        logits = y @ p["head.weight"].T + p["head.bias"]
        halt = (y @ p["halt.weight"].T + p["halt.bias"])[:, 0]
        return logits, halt


# -- safetensors without torch or MLX ------------------------------------------------------

_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read a safetensors file (8-byte header length, JSON header, raw little-endian data).
    Any inconsistency is a :class:`CheckpointError` naming the file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: {exc.strerror or exc}") from exc
    try:
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + n])
        base = 8 + n
        out: dict[str, np.ndarray] = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dtype = _DTYPES[info["dtype"]]
            a, b = info["data_offsets"]
            shape = tuple(info["shape"])
            arr = np.frombuffer(raw, dtype=dtype, count=(b - a) // np.dtype(dtype).itemsize, offset=base + a)
            out[name] = arr.reshape(shape).astype(np.float32)
        return out
    except (struct.error, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc.__class__.__name__}: {exc})") from exc


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header: dict[str, dict] = {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name], dtype=np.float32)
        data = arr.tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(head)))
        fh.write(head)
        for blob in blobs:
            fh.write(blob)
    tmp.replace(path)


# -- checkpoints ---------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """A trained model on disk: weights, config and metadata (dataset hash, metrics, version)."""

    config: TRMConfig
    params: dict[str, np.ndarray]
    temperature: float
    metadata: dict = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        write_safetensors(directory / WEIGHTS, self.params)
        cfg = asdict(self.config)
        cfg["actions"] = list(self.config.actions)
        (directory / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
        meta = {"format": FORMAT, **self.metadata, "temperature": self.temperature}
        (directory / METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: Path) -> Checkpoint:
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"{directory}: no model here (train one with `sreconsole train trm`)")
        try:
            raw_config = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
            meta = json.loads((directory / METADATA).read_text(encoding="utf-8"))
            if not isinstance(raw_config, dict) or not isinstance(meta, dict):
                raise CheckpointError(f"{directory}: config.json and metadata.json must each hold a JSON object")
            config = TRMConfig.from_dict(raw_config)
        except FileNotFoundError as exc:
            raise CheckpointError(f"{directory}: {Path(exc.filename).name} is missing") from exc
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"{directory}: config or metadata is not valid JSON ({exc})") from exc
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{directory}: format {meta.get('format')!r}, expected {FORMAT!r}")
        params = read_safetensors(directory / WEIGHTS)
        _check_shapes(directory, config, params)
        try:
            temp = float(meta.get("temperature", 1.0))
        except (TypeError, ValueError):
            raise CheckpointError(f"{directory}: metadata.json: temperature {meta.get('temperature')!r} is not a number") from None
        if not math.isfinite(temp) or temp <= 0:
            raise CheckpointError(f"{directory}: metadata.json: temperature {temp!r} is not a positive number")
        return cls(config, params, temp, meta)


def _expected_shapes(c: TRMConfig, layers: int = 2) -> dict[str, tuple[int, ...]]:
    hidden = c.width * c.expansion
    shapes = {
        "in_proj.weight": (c.width, c.input_dim),
        "in_proj.bias": (c.width,),
        "in_norm.weight": (c.width,),
        "y0": (c.width,),
        "z0": (c.width,),
        "net.norm.weight": (c.width,),
        "head.weight": (len(c.actions), c.width),
        "head.bias": (len(c.actions),),
        "halt.weight": (1, c.width),
        "halt.bias": (1,),
    }
    for i in range(layers):
        shapes[f"net.layers.{i}.norm.weight"] = (c.width,)
        shapes[f"net.layers.{i}.gate.weight"] = (hidden, c.width)
        shapes[f"net.layers.{i}.up.weight"] = (hidden, c.width)
        shapes[f"net.layers.{i}.down.weight"] = (c.width, hidden)
    return shapes


def _check_shapes(directory: Path, config: TRMConfig, params: dict[str, np.ndarray]) -> None:
    want = _expected_shapes(config)
    missing = sorted(set(want) - set(params))
    extra = sorted(set(params) - set(want))
    if missing or extra:
        raise CheckpointError(f"{directory}: weights do not match the config (missing {missing[:3]}, unexpected {extra[:3]})")
    for name, shape in want.items():
        if tuple(params[name].shape) != shape:
            raise CheckpointError(f"{directory}: {name} has shape {tuple(params[name].shape)}, the config says {shape}")
        if not np.all(np.isfinite(params[name])):
            raise CheckpointError(f"{directory}: {name} holds NaN or infinite values")


@dataclass(frozen=True)
class Prediction:
    action: str
    confidence: float  # calibrated P(this action is correct)
    probabilities: dict[str, float]  # the classifier's softmax over actions


class TRMRunner:
    """Inference with numpy from a checkpoint: no MLX import, sub-millisecond per alert."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.config = checkpoint.config
        self.model = NumpyTRM(checkpoint.config, checkpoint.params)

    @classmethod
    def load(cls, directory: Path) -> TRMRunner:
        return cls(Checkpoint.load(directory))

    @property
    def version(self) -> str:
        return self.checkpoint.version

    def predict_features(self, x: np.ndarray) -> list[Prediction]:
        logits, halt = self.model.forward(np.atleast_2d(x))
        probs = _softmax(logits)
        conf = 1.0 / (1.0 + np.exp(-halt / self.checkpoint.temperature))
        actions = self.config.actions
        return [
            Prediction(actions[int(np.argmax(p))], float(c), {a: float(v) for a, v in zip(actions, p)})
            for p, c in zip(probs, conf)
        ]


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# -- calibration and metrics -----------------------------------------------------------------


def fit_temperature(halt_logits: np.ndarray, correct: np.ndarray) -> float:
    """The temperature that minimises the binary NLL of sigmoid(halt/T) against "was the
    prediction right" on held-out data (a 1-D search is exact enough and never diverges)."""
    if len(correct) == 0 or correct.all() or not correct.any():
        return 1.0
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 400))
    y = correct.astype(np.float64)
    best, best_t = np.inf, 1.0
    for t in grid:
        s = halt_logits / t
        nll = np.mean(np.logaddexp(0, -s) * y + np.logaddexp(0, s) * (1 - y))
        if nll < best:
            best, best_t = nll, float(t)
    return best_t


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width bins: the sample-weighted mean |accuracy - confidence|."""
    if len(confidence) == 0:
        return 0.0
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() * abs(correct[m].mean() - confidence[m].mean())
    return float(total / len(confidence))
