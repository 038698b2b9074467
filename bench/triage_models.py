#!/usr/bin/env python3
"""The TRM against a logistic regression and a plain MLP of the same parameter count, on
the same inputs and the same group-wise split, in one run; plus inference latency and
the tiered flow's latency with retrieval.

All three train with MLX (the same optimiser, class weights and epochs budget); each
one's confidence is temperature-calibrated on the validation split (the TRM's from its
halting head, the baselines' from their max softmax probability). Accuracy alone is
flattering here — 91 % of the test split is ``escalate`` — so balanced accuracy (mean
per-action recall) and macro-F1 are reported beside it, and the majority baseline.

Run: ``.venv/bin/python bench/triage_models.py [--epochs 12]`` (the first run embeds ~5,800
alert texts, ~2.5 min here; later runs read them from the cache under the data dir).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def metrics(name, y, pred, conf, majority, secs, lat):
    from sreconsole.triage.evaluation import balanced_accuracy
    from sreconsole.triage.trm import expected_calibration_error

    correct = pred == y
    f1 = []
    for c in sorted(set(y.tolist()) | set(pred.tolist())):
        tp = int(((pred == c) & (y == c)).sum())
        fp = int(((pred == c) & (y != c)).sum())
        fn = int(((pred != c) & (y == c)).sum())
        f1.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    print(
        f"{name:22s} acc {correct.mean():.3f}  balanced {balanced_accuracy(y, pred):.3f}  macro-F1 {np.mean(f1):.3f}  "
        f"ECE {expected_calibration_error(conf, correct):.3f}  to human(<0.5) {np.mean(conf < 0.5):5.1%}  "
        f"train {secs:5.1f}s  infer p50 {statistics.median(lat) * 1e3:.2f} ms p99 {pct(lat, 99) * 1e3:.2f} ms"
    )


def train_baseline(kind, x_tr, y_tr, n_classes, target_params, epochs, batch, lr, seed=0):
    """Logistic regression or a 2-hidden-layer MLP sized to ``target_params``; numpy weights out."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    mx.random.seed(seed)
    d = x_tr.shape[1]
    if kind == "logreg":
        model = nn.Sequential(nn.Linear(d, n_classes))
    else:
        # h chosen so that d*h + h*h + h*C ≈ target_params
        a, b, c = 1.0, d + n_classes + 2, -float(target_params)
        h = int((-b + (b * b - 4 * a * c) ** 0.5) / (2 * a))
        model = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, n_classes))
    mx.eval(model.parameters())
    counts = np.bincount(y_tr, minlength=n_classes).astype(np.float32)
    inv = np.where(counts > 0, 1 / np.sqrt(np.maximum(counts, 1)), 0)
    w = mx.array(inv / inv[counts > 0].mean())
    opt = optim.AdamW(learning_rate=lr, weight_decay=0.05)

    def loss_fn(m, x, y):
        return (nn.losses.cross_entropy(m(x), y, reduction="none") * w[y]).mean()

    grad = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    for _ in range(epochs):
        order = rng.permutation(len(x_tr))
        for a in range(0, len(order), batch):
            idx = order[a : a + batch]
            _, g = grad(model, mx.array(x_tr[idx]), mx.array(y_tr[idx]))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
    secs = time.perf_counter() - t
    layers = [(np.array(l.weight), np.array(l.bias)) for l in model.layers if isinstance(l, nn.Linear)]
    n_params = sum(wt.size + bs.size for wt, bs in layers)
    return layers, secs, n_params


def np_forward(layers, x):
    for i, (wt, bs) in enumerate(layers):
        x = x @ wt.T + bs
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
    return x


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fit_softmax_temperature(logits, y):
    best, bt = np.inf, 1.0
    for t in np.exp(np.linspace(np.log(0.05), np.log(20), 300)):
        p = softmax(logits / t)
        nll = -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12))
        if nll < best:
            best, bt = nll, t
    return bt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--data-dir", default=os.environ.get("SRECONSOLE_DATA_DIR", str(Path(tempfile.gettempdir()) / "sreconsole-bench")))
    args = ap.parse_args()
    os.environ["SRECONSOLE_DATA_DIR"] = args.data_dir

    from sreconsole.config import load_settings
    from sreconsole.knowledge.embed_cache import make_embed
    from sreconsole.triage.models import load_catalog_for
    from sreconsole.triage.training import SectionIndex, default_corpus, runbook_files, thin_majority
    from sreconsole.triage.dataset import alert_text, build_dataset, split_by_group
    from sreconsole.triage.engine import fit_rescorer, normalise, runbook_evidence
    from sreconsole.triage.trm import TRMConfig, TrainConfig, TRMRunner, features, train

    print(f"# triage models — {date.today()} — {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    settings = load_settings(None)
    catalog = load_catalog_for(settings)
    actions = tuple(catalog.ids)
    idx = {a: i for i, a in enumerate(actions)}
    corpus = default_corpus()
    ds = build_dataset(corpus)
    splits = split_by_group(ds.examples)
    splits["train"] = thin_majority(splits["train"])
    embed = make_embed(settings)
    cfg = TRMConfig(actions=actions, embed_model=embed.embedder.model_id)
    t = time.perf_counter()
    X = {k: features([e.text() for e in v], embed, cfg.hash_dim) for k, v in splits.items()}
    Y = {k: np.array([idx[e.action] for e in v]) for k, v in splits.items()}
    print(f"rows: train {len(Y['train'])}, validation {len(Y['validation'])}, test {len(Y['test'])}; features in {time.perf_counter() - t:.1f}s "
          f"(embedding cache: {embed.hits} hits, {embed.misses} new)")
    majority = float((Y["test"] == idx["escalate"]).mean())
    print(f"majority baseline (always escalate) on test: accuracy {majority:.3f}, balanced accuracy {1 / len(set(Y['test'].tolist())):.3f}")

    res = train(cfg, X["train"], Y["train"], X["validation"], Y["validation"], TrainConfig(epochs=args.epochs))
    runner = TRMRunner(res.checkpoint)
    preds = runner.predict_features(X["test"])
    pred = np.array([idx[p.action] for p in preds])
    conf = np.array([p.confidence for p in preds])
    lat = []
    for i in range(min(300, len(X["test"]))):
        t0 = time.perf_counter()
        runner.predict_features(X["test"][i : i + 1])
        lat.append(time.perf_counter() - t0)
    n_trm = res.checkpoint.metadata["parameters"]
    metrics(f"TRM ({n_trm / 1e6:.2f}M params)", Y["test"], pred, conf, majority, res.seconds, lat)

    for kind in ("logreg", "mlp"):
        layers, secs, n = train_baseline(kind, X["train"], Y["train"], len(actions), n_trm, args.epochs * cfg.n_sup, 128, 2e-3)
        temp = fit_softmax_temperature(np_forward(layers, X["validation"]), Y["validation"])
        p = softmax(np_forward(layers, X["test"]) / temp)
        lat = []
        for i in range(min(300, len(X["test"]))):
            t0 = time.perf_counter()
            softmax(np_forward(layers, X["test"][i : i + 1]) / temp)
            lat.append(time.perf_counter() - t0)
        metrics(f"{kind} ({n / 1e6:.2f}M params)", Y["test"], p.argmax(1), p.max(1), majority, secs, lat)

    # The embedding's share of a single alert's latency (model warm, text not cached).
    emb = embed.embedder
    texts = [alert_text(e.alertname, e.labels, e.annotations) + f" #{i}" for i, e in enumerate(splits["test"][:60])]
    emb.embed(texts[:2])
    lat_e = []
    for tx in texts:
        t0 = time.perf_counter()
        runner.predict_features(features([tx], emb.embed, cfg.hash_dim))
        lat_e.append(time.perf_counter() - t0)
    print(f"TRM incl. text embedding (uncached): p50 {statistics.median(lat_e) * 1e3:.2f} ms  p99 {pct(lat_e, 99) * 1e3:.2f} ms")

    # Evidence: does re-scoring with the runbook section help where the TRM is unsure?
    sections = SectionIndex(runbook_files(corpus))

    def votes(rows):
        return np.stack([normalise(runbook_evidence(e.alertname, sections.runbook_sections(e.alertname), actions)[0]) for e in rows])

    vp = runner.predict_features(X["validation"])
    rescorer, info = fit_rescorer(np.array([[q.probabilities[a] for a in actions] for q in vp]), np.array([q.confidence for q in vp]), votes(splits["validation"]), Y["validation"])
    tv = votes(splits["test"])
    probs = np.array([[q.probabilities[a] for a in actions] for q in preds])
    unsure = (conf < 0.8) & (tv.sum(axis=1) > 0)
    final = pred.copy()
    for i in np.flatnonzero(unsure):
        final[i] = rescorer.combine(probs[i], tv[i])
    print(f"evidence re-scoring (beta {rescorer.beta}): {int(unsure.sum())} unsure test alerts had a runbook section; "
          f"accuracy on them {np.mean(pred[unsure] == Y['test'][unsure]) if unsure.any() else float('nan'):.3f} → "
          f"{np.mean(final[unsure] == Y['test'][unsure]) if unsure.any() else float('nan'):.3f}; overall {np.mean(pred == Y['test']):.3f} → {np.mean(final == Y['test']):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
