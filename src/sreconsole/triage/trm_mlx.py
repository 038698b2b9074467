"""Training the Tiny Recursive Model with MLX (``mlx[cpu]`` here, unchanged on CUDA and
Apple silicon): deep supervision, an exponential moving average of the weights, and the
confidence temperature fitted on the validation split.

MLX is imported inside the functions: the TUI never pays for it at start-up. The trained
weights are handed to :mod:`sreconsole.triage.trm_numpy` for validation and shipping, so
what is measured here is what inference runs.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import numpy as np

from sreconsole.triage.trm_numpy import Checkpoint, NumpyTRM, TRMConfig, expected_calibration_error, fit_temperature


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 12
    batch_size: int = 128
    lr: float = 5e-4  # 2e-3 oscillated and collapsed to the majority class (measured)
    weight_decay: float = 0.05
    ema: float = 0.99
    seed: int = 0


@dataclass
class TrainResult:
    checkpoint: Checkpoint
    seconds: float
    history: list[dict] = field(default_factory=list)


Progress = Callable[[dict], None]


def build_mlx_model(config: TRMConfig):
    """The MLX module (imported lazily: the TUI never pays for MLX at start-up)."""
    import mlx.core as mx
    import mlx.nn as nn

    class Layer(nn.Module):
        def __init__(self, width: int, hidden: int) -> None:
            super().__init__()
            self.norm = nn.RMSNorm(width)
            self.gate = nn.Linear(width, hidden, bias=False)
            self.up = nn.Linear(width, hidden, bias=False)
            self.down = nn.Linear(hidden, width, bias=False)

        def __call__(self, h):
            n = self.norm(h)
            return h + self.down(nn.silu(self.gate(n)) * self.up(n))

    class Net(nn.Module):
        def __init__(self, width: int, hidden: int) -> None:
            super().__init__()
            self.layers = [Layer(width, hidden), Layer(width, hidden)]
            self.norm = nn.RMSNorm(width)

        def __call__(self, h):
            for layer in self.layers:
                h = layer(h)
            return self.norm(h)

    class TRM(nn.Module):
        def __init__(self, c: TRMConfig) -> None:
            super().__init__()
            self.c = c
            self.in_proj = nn.Linear(c.input_dim, c.width)
            # The input is normalised like y and z: a projected unit vector is ~30x smaller
            # than them, and x + y + z would otherwise drown the alert in the carried state.
            self.in_norm = nn.RMSNorm(c.width)
            self.net = Net(c.width, c.width * c.expansion)
            self.head = nn.Linear(c.width, len(c.actions))
            self.halt = nn.Linear(c.width, 1)
            self.y0 = mx.random.normal((c.width,)) * 0.02
            self.z0 = mx.random.normal((c.width,)) * 0.02

        def embed(self, x_in):
            return self.in_norm(self.in_proj(x_in))

        def start(self, x_in):
            x = self.embed(x_in)
            return x, mx.broadcast_to(self.y0, x.shape), mx.broadcast_to(self.z0, x.shape)

        def _recursion(self, x, y, z):
            for _ in range(self.c.n):
                z = self.net(x + y + z)
            y = self.net(y + z)
            return y, z

        def step(self, x, y, z):
            """One supervision step: T recursions, gradients through the last only."""
            for _ in range(self.c.T - 1):
                y, z = self._recursion(x, y, z)
            y, z = mx.stop_gradient(y), mx.stop_gradient(z)
            y, z = self._recursion(x, y, z)
            return y, z, self.head(y), self.halt(y)[..., 0]

    return TRM(config)


def _flatten(params, prefix: str = "") -> dict:
    out = {}
    if isinstance(params, dict):
        for k, v in params.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif isinstance(params, list):
        for i, v in enumerate(params):
            out.update(_flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = params
    return out


def train(
    config: TRMConfig,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    train_config: TrainConfig = TrainConfig(),
    progress: Progress | None = None,
    metadata: dict | None = None,
    sample_weight: np.ndarray | None = None,
) -> TrainResult:
    """Train with deep supervision, keep an EMA of the weights, fit the confidence
    temperature on the validation split; returns the checkpoint (not yet saved).

    ``sample_weight`` (one per training row, e.g. class balance times the weight of an
    operator's decision) replaces the default square-root inverse class frequency."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.utils import tree_map

    started = time.perf_counter()
    mx.random.seed(train_config.seed)
    rng = np.random.default_rng(train_config.seed)
    model = build_mlx_model(config)
    mx.eval(model.parameters())
    steps_per_epoch = max(1, math.ceil(len(x_train) / train_config.batch_size))
    total = train_config.epochs * steps_per_epoch * config.n_sup
    schedule = optim.cosine_decay(train_config.lr, total, train_config.lr * 0.05)
    opt = optim.AdamW(learning_rate=schedule, weight_decay=train_config.weight_decay)
    if sample_weight is None:
        # Rarer actions weigh more (square-root inverse frequency): escalate dominates the data.
        counts = np.bincount(y_train, minlength=len(config.actions)).astype(np.float32)
        per_class = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
        row_weight = (per_class / np.mean(per_class[counts > 0]))[y_train].astype(np.float32)
    else:
        row_weight = np.asarray(sample_weight, dtype=np.float32)
        row_weight = row_weight / (row_weight.mean() if len(row_weight) else 1.0)

    def loss_fn(m, x_in, y, z, labels, w):
        y, z, logits, halt = m.step(m.embed(x_in), y, z)
        ce = nn.losses.cross_entropy(logits, labels, reduction="none") * w
        correct = mx.stop_gradient((mx.argmax(logits, axis=-1) == labels).astype(mx.float32))
        bce = nn.losses.binary_cross_entropy(halt, correct, with_logits=True, reduction="mean")
        return ce.mean() + bce, (y, z, correct.mean())

    grad_fn = nn.value_and_grad(model, loss_fn)
    ema = tree_map(lambda p: p, model.parameters())
    history: list[dict] = []
    for epoch in range(train_config.epochs):
        order = rng.permutation(len(x_train))
        losses, accs = [], []
        for b in range(steps_per_epoch):
            idx = order[b * train_config.batch_size : (b + 1) * train_config.batch_size]
            xb, lb, wb = mx.array(x_train[idx]), mx.array(y_train[idx]), mx.array(row_weight[idx])
            _, y, z = model.start(xb)
            for _ in range(config.n_sup):
                (loss, (y, z, acc)), grads = grad_fn(model, xb, y, z, lb, wb)
                opt.update(model, grads)
                y, z = mx.stop_gradient(y), mx.stop_gradient(z)
                d = train_config.ema
                ema = tree_map(lambda e, p: d * e + (1 - d) * p, ema, model.parameters())
                mx.eval(model.parameters(), opt.state, ema, y, z)
            losses.append(loss.item())
            accs.append(acc.item())
        event = {"epoch": epoch + 1, "epochs": train_config.epochs, "loss": float(np.mean(losses)), "train_acc": float(np.mean(accs))}
        history.append(event)
        if progress:
            progress(event)

    params = {k: np.array(v) for k, v in _flatten(ema).items()}
    runner_cfg = config
    np_model = NumpyTRM(runner_cfg, params)
    logits, halt = np_model.forward(x_val) if len(x_val) else (np.zeros((0, len(config.actions))), np.zeros(0))
    correct = np.argmax(logits, axis=1) == y_val if len(x_val) else np.zeros(0, dtype=bool)
    temperature = fit_temperature(halt, correct)
    weights_hash = hashlib.sha256(b"".join(params[k].tobytes() for k in sorted(params))).hexdigest()
    meta = dict(metadata or {})
    meta.setdefault("version", f"v{datetime.now(timezone.utc):%Y%m%d}-{weights_hash[:7]}")
    meta["weights_sha256"] = weights_hash
    meta["trained_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta["train"] = asdict(train_config)
    meta["parameters"] = int(sum(p.size for p in params.values()))
    if len(x_val):
        conf = 1 / (1 + np.exp(-halt / temperature))
        meta.setdefault("metrics", {})["validation"] = {
            "accuracy": float(correct.mean()),
            "ece": expected_calibration_error(conf, correct),
            "n": int(len(y_val)),
        }
    return TrainResult(Checkpoint(config, params, temperature, meta), time.perf_counter() - started, history)
