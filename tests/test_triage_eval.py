"""``sreconsole eval triage``: every figure against a hand computation, and the floors beside it.

The unit tests feed :func:`evaluation.score` rows whose answers are written out below and
compare with ECE (10 equal-width bins), the coverage curve and balanced accuracy computed by
hand in the comments. The end-to-end test trains a real tiny model (MLX on CPU) over the real
MiniLM features, runs the CLI as a subprocess, and recomputes ECE and the curve by hand from
the confidences ``sreconsole triage --batch`` prints for the same rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sreconsole.triage.evaluation import pick_thresholds, score

# action, confidence, expected
ROWS = [
    ("pod-restart", 0.95, ["pod-restart"]),                    # right, bin 9
    ("pod-restart", 0.85, ["pod-restart", "pod-check-status"]),  # right, bin 8
    ("scale-deployment", 0.72, ["escalate"]),                  # wrong, bin 7
    ("cordon-node", 0.65, ["cordon-node"]),                    # right, bin 6
    ("pod-restart", 0.35, ["rollout-restart"]),                # wrong, bin 3
    ("escalate", None, ["escalate"]),                          # right, no probability: counts as 0, bin 0
]


def test_score_by_hand():
    r = score([a for a, _, _ in ROWS], [c for _, c, _ in ROWS], [e for _, _, e in ROWS], [c is None or c < 0.5 for _, c, _ in ROWS])
    assert r["n"] == 6 and r["accuracy"] == pytest.approx(4 / 6)
    # ECE: one row per bin, so each bin's gap is |right - confidence|:
    # (0.05 + 0.15 + 0.72 + 0.35 + 0.35 + 1.0) / 6 = 2.62 / 6
    assert r["ece"] == pytest.approx(2.62 / 6)
    assert [(b["from"], b["n"], b["accuracy"]) for b in r["reliability"]] == [(0.0, 1, 1.0), (0.3, 1, 0.0), (0.6, 1, 1.0), (0.7, 1, 0.0), (0.8, 1, 1.0), (0.9, 1, 1.0)]
    assert r["reliability"][3]["gap"] == pytest.approx(-0.72)
    curve = {c["threshold"]: c for c in r["coverage"]}
    # At 0.7: 0.95, 0.85, 0.72 are at or above it: 3 of 6, two right. At 0.0 every *scored*
    # row counts (5 of 6: the row without a probability is never above a threshold).
    assert curve[0.7]["coverage"] == pytest.approx(0.5) and curve[0.7]["accuracy"] == pytest.approx(2 / 3)
    assert curve[0.0]["coverage"] == pytest.approx(5 / 6) and curve[0.0]["accuracy"] == pytest.approx(3 / 5)
    assert curve[0.9]["coverage"] == pytest.approx(1 / 6) and curve[0.9]["accuracy"] == 1.0
    assert curve[0.95]["coverage"] == pytest.approx(1 / 6)  # 0.95 >= 0.95
    # Classes by first expected id: pod-restart 2/2, escalate 1/2, cordon-node 1/1, rollout-restart 0/1.
    assert r["recall_per_action"]["escalate"] == {"n": 2, "recall": 0.5}
    assert r["balanced_accuracy"] == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    # To a human: the 0.35 row and the unscored one; the other four are right 3 times.
    assert r["share_to_human"] == pytest.approx(2 / 6)
    assert r["not_to_human"] == {"share": pytest.approx(4 / 6), "n": 4, "accuracy": pytest.approx(3 / 4)}


def test_pick_thresholds_by_hand():
    conf = [0.99] * 10 + [0.9] * 10 + [0.6] * 10
    right = [True] * 10 + [True] * 9 + [False] + [True] * 5 + [False] * 5
    # >= 0.99: 10/10; >= 0.9: 19/20 = 0.95; >= 0.6: 24/30 = 0.8. With at least 10 rows above:
    r = pick_thresholds(conf, right, target=0.95, min_rows=10)
    assert r["found"] and r["threshold"] == 0.9 and r["accuracy"] == pytest.approx(0.95)
    assert r["coverage"] == pytest.approx(20 / 30) and r["to_human"] == pytest.approx(10 / 30)
    assert pick_thresholds(conf, right, target=0.97, min_rows=10)["threshold"] == 0.99
    assert not pick_thresholds(conf, right, target=0.97, min_rows=11)["found"]  # 10 rows are too few


# -- end to end ----------------------------------------------------------------------------------

EVAL_ROWS = [
    ({"alertname": "PaymentsWorkerCrashLoop", "namespace": "payments", "pod": "payments-worker-5c7d9f6b8-qk2zt"}, "payments-worker keeps restarting", ["pod-restart"]),
    ({"alertname": "PodsStuckPending", "namespace": "ai", "pod": "embedder-6d7c8b9f5-qq9wz"}, "Pod has been Pending for 25 minutes", ["pod-check-status"]),
    ({"alertname": "NodeUnhealthyKubeletDown", "node": "worker-7"}, "node NotReady for 5 minutes", ["cordon-node"]),
    ({"alertname": "CertExpiresIn7Days", "namespace": "ingress"}, "TLS certificate expires in 7 days", ["escalate"]),
    ({"alertname": "PVCAlmostFull", "namespace": "search", "persistentvolumeclaim": "data-0"}, "PVC is 91% full", ["expand-pvc"]),
    ({"alertname": "KustomizationNotReady", "namespace": "flux-system", "name": "apps"}, "Kustomization apps not ready", ["flux-reconcile-kustomization"]),
    ({"alertname": "CPUSaturatedDeployment", "namespace": "search", "deployment": "search-api"}, "CPU at 96% on all replicas", ["scale-deployment"]),
    ({"alertname": "OrdersReadReplicaBehind", "namespace": "data", "pod": "orders-db-1"}, "replica 14 minutes behind", ["escalate"]),
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A data dir whose active model is a real tiny TRM + logistic regression, trained with
    MLX on random but separable features of the real input width (384 + 64)."""
    from sreconsole.triage.catalog import load_catalog
    from sreconsole.triage.logreg import fit_logreg
    from sreconsole.triage.trm import TrainConfig, TRMConfig, train

    d = tmp_path_factory.mktemp("eval-data")
    cfg = TRMConfig(actions=load_catalog().ids, hash_dim=64, width=32, n=2, T=2, n_sup=2)
    rng = np.random.default_rng(5)
    centers = rng.normal(size=(len(cfg.actions), cfg.input_dim)).astype(np.float32)
    y = rng.integers(0, len(cfg.actions), 300)
    x = (centers[y] + rng.normal(scale=0.5, size=(300, cfg.input_dim))).astype(np.float32)
    res = train(cfg, x[:200], y[:200], x[200:], y[200:], TrainConfig(epochs=2, batch_size=32, lr=3e-3, ema=0.5))
    ck = res.checkpoint
    w, b = fit_logreg(x[:200], y[:200], len(cfg.actions), max_iter=50)
    ck.extras = {"logreg.weight": w, "logreg.bias": b, "novelty.embeddings": x[:200, : cfg.embed_dim]}
    target = ck.save(d / "models" / "trm" / ck.version)
    (d / "models" / "trm" / "active").symlink_to(target.name)
    return d


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SRECONSOLE_DATA_DIR": str(data_dir), "SRECONSOLE_KNOWLEDGE_ENABLED": "0", "SRECONSOLE_TRIAGE_MODEL": "trm"}
    return subprocess.run([sys.executable, "-m", "sreconsole", *args], capture_output=True, text=True, env=env, timeout=300)


def test_eval_triage_matches_a_hand_computation_of_its_own_proposals(data_dir, tmp_path):
    rows = [{"alert": {"labels": labels, "annotations": {"summary": summary}, "startsAt": "2026-12-01T06:00:00Z"}, "expected": exp,
             "split": "test" if i % 2 else "dev"} for i, (labels, summary, exp) in enumerate(EVAL_ROWS)]
    f = tmp_path / "heldout.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = cli(data_dir, "eval", "triage", str(f), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    batch = cli(data_dir, "triage", "--batch", str(f), "--json")
    assert batch.returncode == 0, batch.stderr
    proposals = [json.loads(line) for line in batch.stdout.splitlines()]
    assert len(proposals) == len(rows) and all(p["method"] in ("trm", "trm+rag") for p in proposals)

    # By hand: right or wrong, and ECE over 10 equal-width bins [0, .1) … [.9, 1].
    right = [p["action"] in row["expected"] for p, row in zip(proposals, rows)]
    conf = [p["confidence"] for p in proposals]
    bins: dict[int, list[tuple[float, bool]]] = {}
    for c, ok in zip(conf, right):
        bins.setdefault(min(int(c * 10), 9), []).append((c, ok))
    ece = sum(len(v) * abs(sum(ok for _, ok in v) / len(v) - sum(c for c, _ in v) / len(v)) for v in bins.values()) / len(conf)
    assert out["ece"] == pytest.approx(ece, abs=1e-3)  # the JSON of triage rounds confidences to 4 places
    assert out["accuracy"] == pytest.approx(sum(right) / len(right))
    for point in out["coverage"]:
        above = [ok for c, ok in zip(conf, right) if c >= point["threshold"]]
        assert point["coverage"] == pytest.approx(len(above) / len(rows))
        assert point["accuracy"] == (pytest.approx(sum(above) / len(above)) if above else None)
    human = [p["requires_human_review"] for p in proposals]
    assert out["share_to_human"] == pytest.approx(sum(human) / len(human))
    kept = [ok for ok, h in zip(right, human) if not h]
    assert out["not_to_human"]["accuracy"] == (pytest.approx(sum(kept) / len(kept)) if kept else None)

    # Every floor on the same rows: the majority baseline, the rules, both classifiers bare.
    base = out["baselines"]
    assert set(base) == {"majority", "rules", "trm", "logreg"}
    assert base["majority"]["accuracy"] == pytest.approx(2 / 8)  # two rows expect escalate
    assert base["majority"]["share_to_human"] == 1.0
    assert 0.0 <= base["rules"]["accuracy"] <= 1.0 and base["rules"]["scored"] == 0
    assert out["model"] == "trm" and -1.0 <= out["similarity"]["p10"] <= out["similarity"]["median"] <= out["similarity"]["p90"] <= 1.0

    # --split keeps only those rows; the text report prints the table with its floors.
    half = json.loads(cli(data_dir, "eval", "triage", str(f), "--split", "test", "--json").stdout)
    assert half["n"] == 4 and half["split"] == "test"
    text = cli(data_dir, "eval", "triage", str(f))
    assert text.returncode == 0, text.stderr
    for words in ("majority baseline", "labelling rules alone", "logistic regression", "reliability", "accuracy–coverage", "not to a human"):
        assert words in text.stdout


def test_train_calibrate_refits_the_flow_and_records_its_inputs(data_dir, tmp_path):
    """``train calibrate`` through the CLI on the real tiny model: every classifier's
    re-scorer entry names the rows and the store it was fitted with (knowledge is off here,
    so there is no evidence and it is left unused, which the entry says), and the model
    still loads and proposes afterwards."""
    import shutil

    d = tmp_path / "data"
    shutil.copytree(data_dir, d, symlinks=True)
    rows = [{"alert": {"labels": labels, "annotations": {"summary": summary}, "startsAt": "2026-12-01T06:00:00Z"}, "expected": exp,
             "split": "dev" if i % 2 else "test"} for i, (labels, summary, exp) in enumerate(EVAL_ROWS)]
    f = tmp_path / "cal.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = cli(d, "train", "calibrate", "--file", str(f), "--split", "dev", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    meta = json.loads((d / "models" / "trm" / "active" / "metadata.json").read_text())
    for kind in ("trm", "logreg"):
        entry = meta["rescorers"][kind]
        assert entry == out[kind]
        assert entry["calibration_rows"] == 4 and entry["fitted_on"] == 0 and entry["store"].startswith("none")
        assert entry["weights"] == [1.0, 0.0, 0.0, 0.0] and entry["beta"] == 0.0
        assert 0.0 <= entry["on_calibration"]["accuracy"] <= 1.0
    again = cli(d, "eval", "triage", str(f), "--json")
    assert again.returncode == 0, again.stderr
    missing = cli(d, "train", "calibrate", "--file", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "not a file" in missing.stderr
