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
import os
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from sreconsole.knowledge.textindex import Tokenizer

FORMAT = "sreconsole-trm/1"
WEIGHTS = "model.safetensors"
EXTRAS = "extras.safetensors"
"""Tensors trained beside the TRM on the same rows: the logistic-regression classifier
(``logreg.weight``, ``logreg.bias``) and the training set's embeddings
(``novelty.embeddings``) that novelty-aware confidence compares an alert against.
Optional: a checkpoint without it is a TRM with its plain calibrated confidence."""
CONFIG = "config.json"
METADATA = "metadata.json"
MODEL_KINDS = ("trm", "logreg")
"""The classifiers a checkpoint can hold; ``triage.model`` picks the one that proposes."""


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


def features(texts: Sequence[str], embed: Callable[..., np.ndarray], hash_dim: int, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The model input for these alert texts: [embedding ; hashed tokens]. ``progress`` is
    handed to the embedder (the cache reports its misses as it embeds them)."""
    emb = np.asarray(embed(list(texts), progress) if progress is not None else embed(list(texts)), dtype=np.float32)
    return np.concatenate([emb, hashed_tokens(texts, hash_dim)], axis=1)


# -- numpy inference -----------------------------------------------------------------------


def _rms_norm(h: np.ndarray, weight: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    # A sum times 1/d, not np.mean: the same value without np.mean's Python-level overhead,
    # which was a fifth of a one-alert prediction (55 norms per alert).
    return h * (weight / np.sqrt(np.add.reduce(h * h, axis=-1, keepdims=True) * (1.0 / h.shape[-1]) + eps))


def _silu(a: np.ndarray) -> np.ndarray:
    return a / (1.0 + np.exp(-a))


class NumpyTRM:
    """The forward pass with numpy, from the same parameter names as the MLX model."""

    def __init__(self, config: TRMConfig, params: dict[str, np.ndarray]) -> None:
        self.config = config
        self.p = params
        self._layers = sorted({k.split(".")[2] for k in params if k.startswith("net.layers.")}, key=int)
        # Each layer's weights looked up and transposed once (the recursion runs the net 18
        # times per alert), gate and up as one matrix: one product where there were two.
        self._weights = []
        for i in self._layers:
            pre = f"net.layers.{i}."
            gate_up = np.ascontiguousarray(np.concatenate([params[pre + "gate.weight"], params[pre + "up.weight"]], axis=0).T)
            self._weights.append((params[pre + "norm.weight"], gate_up, np.ascontiguousarray(params[pre + "down.weight"].T)))

    def _net(self, h: np.ndarray) -> np.ndarray:
        for norm, gate_up, down in self._weights:
            both = _rms_norm(h, norm) @ gate_up
            half = both.shape[-1] // 2
            h = h + (_silu(both[..., :half]) * both[..., half:]) @ down
        return _rms_norm(h, self.p["net.norm.weight"])

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
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    """See :data:`EXTRAS`."""

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unversioned"))

    @property
    def kinds(self) -> tuple[str, ...]:
        """The classifiers this checkpoint holds."""
        return ("trm", "logreg") if "logreg.weight" in self.extras else ("trm",)

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        write_safetensors(directory / WEIGHTS, self.params)
        if self.extras:
            write_safetensors(directory / EXTRAS, self.extras)
        cfg = asdict(self.config)
        cfg["actions"] = list(self.config.actions)
        (directory / CONFIG).write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
        meta = {"format": FORMAT, **self.metadata, "temperature": self.temperature}
        (directory / METADATA).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return directory

    def save_metadata(self, directory: Path) -> Path:
        """Rewrite only ``metadata.json`` (a calibration refitted in place), atomically: a
        console loading the model meanwhile reads the old file or the new, never half."""
        path = Path(directory) / METADATA
        meta = {"format": FORMAT, **self.metadata, "temperature": self.temperature}
        tmp = path.with_name(f".{METADATA}.{os.getpid()}")
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path

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
        extras = read_safetensors(directory / EXTRAS) if (directory / EXTRAS).exists() else {}
        _check_extras(directory, config, extras)
        try:
            temp = float(meta.get("temperature", 1.0))
        except (TypeError, ValueError):
            raise CheckpointError(f"{directory}: metadata.json: temperature {meta.get('temperature')!r} is not a number") from None
        if not math.isfinite(temp) or temp <= 0:
            raise CheckpointError(f"{directory}: metadata.json: temperature {temp!r} is not a positive number")
        return cls(config, params, temp, meta, extras)


def _check_extras(directory: Path, config: TRMConfig, extras: dict[str, np.ndarray]) -> None:
    want = {"logreg.weight": (len(config.actions), config.input_dim), "logreg.bias": (len(config.actions),)}
    unknown = sorted(set(extras) - set(want) - {"novelty.embeddings"})
    if unknown:
        raise CheckpointError(f"{directory}: {EXTRAS} holds unknown tensors {unknown[:3]}")
    if ("logreg.weight" in extras) != ("logreg.bias" in extras):
        raise CheckpointError(f"{directory}: {EXTRAS} holds half a logistic regression")
    for name, shape in want.items():
        if name in extras and tuple(extras[name].shape) != shape:
            raise CheckpointError(f"{directory}: {name} has shape {tuple(extras[name].shape)}, the config says {shape}")
    emb = extras.get("novelty.embeddings")
    if emb is not None and (emb.ndim != 2 or emb.shape[1] != config.embed_dim):
        raise CheckpointError(f"{directory}: novelty.embeddings has shape {tuple(emb.shape)}, expected (rows, {config.embed_dim})")
    for name, arr in extras.items():
        if not np.all(np.isfinite(arr)):
            raise CheckpointError(f"{directory}: {name} holds NaN or infinite values")


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
    confidence: float  # calibrated P(this action is correct), novelty included where fitted
    probabilities: dict[str, float]  # the classifier's softmax over actions
    raw_confidence: float | None = None  # before the novelty-aware calibration
    similarity: float | None = None  # cosine to the nearest training alert (embedding)


@dataclass(frozen=True)
class Calibration:
    """``P(correct) = sigmoid(a·logit(raw) + b·similarity + d·agree + c)``: the classifier's
    own confidence, corrected by how familiar the alert is (cosine to the nearest training
    alert) and by whether the classifier agrees with the labelling rules. Fitted by
    :func:`fit_calibration` on labelled alerts the classifier never trained on, from other
    sources and families than its training rows (``triage.training`` says which)."""

    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    d: float = 0.0

    def apply(self, raw: np.ndarray, similarity: np.ndarray | None, agree: np.ndarray | None = None) -> np.ndarray:
        r = np.clip(np.asarray(raw, dtype=np.float64), 1e-6, 1 - 1e-6)
        z = self.a * np.log(r / (1 - r)) + self.c
        if similarity is not None:
            z = z + self.b * np.asarray(similarity, dtype=np.float64)
        if agree is not None:
            z = z + self.d * np.asarray(agree, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-z))

    def as_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "c": self.c, "d": self.d}

    @classmethod
    def from_dict(cls, data) -> Calibration | None:
        if not data:
            return None
        try:
            values = [float(data[k]) for k in ("a", "b", "c")] + [float(data.get("d", 0.0))]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise CheckpointError("metadata.json: a calibration needs numbers a, b and c") from None
        if not all(math.isfinite(v) for v in values):
            raise CheckpointError("metadata.json: calibration numbers must be finite")
        return cls(*values)


def fit_calibration(
    raw: np.ndarray, similarity: np.ndarray | None, correct: np.ndarray, agree: np.ndarray | None = None, l2: float = 3e-2,
) -> Calibration:
    """Logistic regression of "was right" on (logit(raw), similarity, agree), by Newton
    steps with a little L2 (a few hundred rows or fewer): converges in a dozen iterations."""
    r = np.clip(np.asarray(raw, dtype=np.float64), 1e-6, 1 - 1e-6)
    y = np.asarray(correct, dtype=np.float64)
    if len(y) == 0 or y.all() or not y.any():
        return Calibration()
    names = ["a"] + (["b"] if similarity is not None else []) + (["d"] if agree is not None else []) + ["c"]
    cols = [np.log(r / (1 - r))]
    if similarity is not None:
        cols.append(np.asarray(similarity, dtype=np.float64))
    if agree is not None:
        cols.append(np.asarray(agree, dtype=np.float64))
    X = np.stack(cols + [np.ones(len(r))], axis=1)
    reg = np.full(X.shape[1], l2)
    reg[-1] = 0.0

    def loss(w: np.ndarray) -> float:
        z = X @ w
        return float(np.mean(np.logaddexp(0, z) - y * z) + 0.5 * np.sum(reg * w * w))

    # Damped Newton: a feature that almost separates right from wrong (agreement with the
    # rules, on a small set) would send plain Newton steps to infinity; halving a step
    # until the loss falls keeps the fit finite, and the L2 term keeps it bounded.
    w = np.zeros(X.shape[1])
    w[0] = 1.0
    current = loss(w)
    for _ in range(100):
        p = 0.5 * (1 + np.tanh(0.5 * (X @ w)))
        g = X.T @ (p - y) / len(y) + reg * w
        H = (X * (p * (1 - p))[:, None]).T @ X / len(y) + np.diag(reg) + 1e-6 * np.eye(X.shape[1])
        step = np.linalg.solve(H, g)
        t = 1.0
        while t > 1e-4 and loss(w - t * step) > current:
            t /= 2
        if t <= 1e-4:
            break
        w = w - t * step
        new = loss(w)
        if current - new < 1e-10:
            current = new
            break
        current = new
    return Calibration(**{name: float(v) for name, v in zip(names, w)})


NOVELTY_WIDTH = 0.1
"""Below the novelty floor (the similarity of all but the least familiar few calibration
alerts), confidence falls linearly to 0 over this much cosine: there the calibration has
no evidence that the number means anything."""


def novelty_factor(similarity: np.ndarray | None, floor: float | None) -> np.ndarray | None:
    if similarity is None or floor is None:
        return None
    return np.clip(1.0 - (floor - np.asarray(similarity, dtype=np.float64)) / NOVELTY_WIDTH, 0.0, 1.0)


def nearest_similarity(x: np.ndarray, bank: np.ndarray | None, embed_dim: int) -> np.ndarray | None:
    """Cosine of each row's embedding (the first ``embed_dim`` features) to its nearest row
    of ``bank`` (training embeddings, unit length): how familiar the alert is."""
    if bank is None or not len(bank):
        return None
    e = np.atleast_2d(x)[:, :embed_dim].astype(np.float32)
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    e = e / np.where(norms > 0, norms, 1.0)
    return (e @ bank.T).max(axis=1)


class TRMRunner:
    """Inference with numpy from a checkpoint: no MLX import, sub-millisecond per alert.

    ``kind`` picks the classifier of the checkpoint that proposes (``trm`` or ``logreg``);
    both read the same features and share the calibration machinery: the classifier's
    temperature-scaled confidence, then, where the checkpoint carries them, the
    novelty-aware calibration over the similarity to the nearest training alert."""

    def __init__(self, checkpoint: Checkpoint, kind: str = "trm") -> None:
        if kind not in MODEL_KINDS:
            raise CheckpointError(f"unknown model kind {kind!r} (known: {', '.join(MODEL_KINDS)})")
        if kind not in checkpoint.kinds:
            raise CheckpointError(f"model {checkpoint.version} has no {kind} classifier (it holds {', '.join(checkpoint.kinds)}): retrain it, or set triage.model = \"trm\"")
        self.checkpoint = checkpoint
        self.config = checkpoint.config
        self.kind = kind
        self.model = NumpyTRM(checkpoint.config, checkpoint.params)
        meta = checkpoint.metadata
        self.temperature = checkpoint.temperature if kind == "trm" else _positive(meta.get("logreg", {}).get("temperature", 1.0) if isinstance(meta.get("logreg"), dict) else 1.0)
        calibrations = meta.get("calibration") if isinstance(meta.get("calibration"), dict) else {}
        fitted = calibrations.get(kind) if isinstance(calibrations.get(kind), dict) else {}
        self.calibration = Calibration.from_dict(fitted.get("weights") if "weights" in fitted else fitted)
        self.rules_weight = _finite(fitted.get("rules_weight", 0.0), "rules_weight")
        """How much the labelling rules' action adds to the classifier's log-probability (a
        second expert; 0 when no calibration set said it helps)."""
        floor = fitted.get("novelty_floor")
        self.novelty_floor = None if floor is None else _finite(floor, "novelty_floor")
        bank = checkpoint.extras.get("novelty.embeddings")
        if bank is not None:
            norms = np.linalg.norm(bank, axis=1, keepdims=True)
            bank = (bank / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        self.bank = bank

    @classmethod
    def load(cls, directory: Path, kind: str = "trm") -> TRMRunner:
        return cls(Checkpoint.load(directory), kind)

    @property
    def version(self) -> str:
        return self.checkpoint.version

    def raw(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities [B, C], the classifier's own confidence [B]) before novelty."""
        x = np.atleast_2d(x)
        if self.kind == "logreg":
            from sreconsole.triage.logreg import logreg_logits

            probs = _softmax(logreg_logits(self.checkpoint.extras["logreg.weight"], self.checkpoint.extras["logreg.bias"], x) / self.temperature)
            return probs, probs.max(axis=1)
        logits, halt = self.model.forward(x)
        return _softmax(logits), 1.0 / (1.0 + np.exp(-halt / self.temperature))

    def scored(self, x: np.ndarray, rules: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(probabilities, uncalibrated confidence, similarity, agreement with the rules):
        what the calibration is fitted on (``triage.training``) and applied to (below)."""
        x = np.atleast_2d(x)
        probs, raw = self.raw(x)
        agree = None
        if rules is not None:
            actions = self.config.actions
            vote = np.array([[1.0 if a == r else 0.0 for a in actions] for r in rules]).reshape(len(x), len(actions))
            agree = (vote[np.arange(len(x)), probs.argmax(axis=1)] > 0).astype(np.float64)
            if self.rules_weight:
                probs = _softmax(np.log(probs + 1e-9) + self.rules_weight * vote)
                raw = probs.max(axis=1)
        return probs, raw, nearest_similarity(x, self.bank, self.config.embed_dim), agree

    def predict_features(self, x: np.ndarray, rules: Sequence[str] | None = None) -> list[Prediction]:
        """One prediction per row. ``rules`` (the labelling rules' action for each row, see
        :func:`sreconsole.triage.label_rules.rule_label`) enters as a second expert with the
        weight the calibration set gave it, and its agreement with the classifier as a
        calibration feature; without it the classifier speaks alone."""
        probs, raw, sim, agree = self.scored(x, rules)
        cal = self.calibration
        conf = cal.apply(raw, sim, agree if cal.d else None) if cal is not None else raw
        factor = novelty_factor(sim, self.novelty_floor)
        if factor is not None:
            conf = conf * factor
        actions = self.config.actions
        return [
            Prediction(actions[int(np.argmax(p))], float(c), {a: float(v) for a, v in zip(actions, p)},
                       float(r), None if sim is None else float(sv))
            for p, c, r, sv in zip(probs, conf, raw, sim if sim is not None else [None] * len(raw))
        ]


def _finite(value, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise CheckpointError(f"metadata.json: {name} {value!r} is not a number") from None
    if not math.isfinite(v):
        raise CheckpointError(f"metadata.json: {name} must be finite")
    return v


def _positive(value) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise CheckpointError(f"metadata.json: temperature {value!r} is not a number") from None
    if not math.isfinite(t) or t <= 0:
        raise CheckpointError(f"metadata.json: temperature {t!r} is not a positive number")
    return t


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
