"""Measuring proposals against expected actions, and reading the rows they are made from.

``sreconsole triage eval`` scores the engine's proposals with :func:`evaluate`; training
and the pipeline's evaluate step report :func:`balanced_accuracy` beside plain accuracy,
because the corpus is mostly ``escalate``. numpy loads on the first call, not at import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sreconsole.domain.alerts import Alert

if TYPE_CHECKING:
    import numpy as np


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean per-action recall: with 92 % ``escalate``, plain accuracy flatters any model."""
    import numpy as np

    classes = sorted(set(y.tolist()))
    return float(np.mean([(pred[y == c] == c).mean() for c in classes])) if classes else 0.0


COVERAGE_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(20))
"""Thresholds of the accuracy–coverage curve: 0.00, 0.05, … 0.95."""


def score(
    actions: Sequence[str],
    confidence: Sequence[float | None],
    expected: Sequence[Sequence[str]],
    to_human: Sequence[bool] | None = None,
    thresholds: Sequence[float] = COVERAGE_THRESHOLDS,
) -> dict:
    """Every figure of ``eval triage`` for one way of proposing, on labelled rows.

    A row is right when its action is any of its expected ids; its *class* (for per-action
    recall and balanced accuracy) is its first expected id. ``confidence`` None means
    "no calibrated probability": such rows count as 0 in the ECE and the curve (a
    proposal without a probability is never above a threshold). ``to_human`` is whether
    the proposal goes to a human; None leaves the human figures out.

    * ECE: 10 equal-width bins of confidence, ``[0, .1), [.1, .2) … [.9, 1]``; the
      row-weighted mean of |accuracy − mean confidence| per bin. ``reliability`` is the
      table of those bins (only bins with rows).
    * ``coverage``: for each threshold t, the share of rows with confidence ≥ t and the
      accuracy of those rows (None where no row is above).
    """
    import numpy as np

    from sreconsole.triage.trm import expected_calibration_error

    n = len(actions)
    correct = np.array([a in exp for a, exp in zip(actions, expected)], dtype=bool)
    scored = np.array([c is not None for c in confidence], dtype=bool)
    conf = np.array([c if c is not None else 0.0 for c in confidence], dtype=np.float64)
    classes = [exp[0] for exp in expected]
    recall = {}
    for a in sorted(set(classes)):
        m = np.array([c == a for c in classes])
        recall[a] = {"n": int(m.sum()), "recall": float(correct[m].mean())}
    labels = sorted(set(classes) | {a for exp in expected for a in exp} | set(actions))
    f1s = []
    for a in labels:
        tp = sum(1 for p, exp in zip(actions, expected) if p == a and a in exp)
        fp = sum(1 for p, exp in zip(actions, expected) if p == a and a not in exp)
        fn = sum(1 for p, exp in zip(actions, expected) if exp[0] == a and p not in exp)
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    bins = []
    edges = np.linspace(0, 1, 11)
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf >= lo) & ((conf < hi) if hi < 1 else (conf <= hi))
        if m.any():
            acc, mean = float(correct[m].mean()), float(conf[m].mean())
            bins.append({"from": round(float(lo), 1), "to": round(float(hi), 1), "n": int(m.sum()),
                         "confidence": mean, "accuracy": acc, "gap": acc - mean})
    curve = []
    for t in thresholds:
        m = scored & (conf >= t)
        curve.append({"threshold": float(t), "coverage": float(m.mean()) if n else 0.0,
                      "accuracy": float(correct[m].mean()) if m.any() else None})
    out: dict[str, Any] = {
        "n": n,
        "accuracy": float(correct.mean()) if n else 0.0,
        "balanced_accuracy": float(np.mean([r["recall"] for r in recall.values()])) if recall else 0.0,
        "recall_per_action": recall,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "ece": expected_calibration_error(conf, correct) if n else 0.0,
        "scored": int(scored.sum()),
        "reliability": bins,
        "coverage": curve,
    }
    if to_human is not None:
        human = np.array(list(to_human), dtype=bool)
        kept = ~human
        out["share_to_human"] = float(human.mean()) if n else 0.0
        out["not_to_human"] = {"share": float(kept.mean()) if n else 0.0, "n": int(kept.sum()),
                               "accuracy": float(correct[kept].mean()) if kept.any() else None}
    return out


def evaluate(proposals: Sequence, expected: Sequence[Sequence[str]], thresholds: Sequence[float] = COVERAGE_THRESHOLDS) -> dict:
    """:func:`score` for the engine's proposals (a human gets those that require review),
    with how many each method made. ``thresholds`` (the old name of the curve) is kept as
    the curve at 0.5 … 0.9 for readers of the first JSON shape."""
    out = score([p.action for p in proposals], [p.confidence for p in proposals], expected,
                [p.requires_human_review for p in proposals], thresholds)
    methods: dict[str, int] = {}
    for p in proposals:
        methods[p.method] = methods.get(p.method, 0) + 1
    out["methods"] = methods
    out["requires_human_review"] = out["share_to_human"]
    out["thresholds"] = [c for c in out["coverage"] if c["threshold"] in (0.5, 0.6, 0.7, 0.8, 0.9)]
    return out


def pick_thresholds(confidence: Sequence[float], correct: Sequence[bool], target: float = 0.97, min_rows: int = 20) -> dict:
    """The lowest threshold whose proposals at or above it are right at least ``target`` of
    the time (on these rows), and what that costs: the share below it goes to a human.

    Searched over the distinct confidences (every place the curve can change), from the
    highest down, keeping the lowest threshold that still meets the target with at least
    ``min_rows`` rows above it, so a lucky handful does not decide. None when no threshold
    meets it. This is what the training board's threshold tuning proposes as the low
    threshold; the high threshold (where retrieval stops being added) is kept at least as
    high.
    """
    import numpy as np

    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    best = None
    for t in sorted(set(np.round(conf, 4).tolist()), reverse=True):
        m = conf >= t
        if m.sum() < min_rows:
            continue
        acc = float(ok[m].mean())
        if acc >= target:
            best = {"threshold": float(t), "accuracy": acc, "coverage": float(m.mean()), "to_human": float(1 - m.mean()), "n": int(m.sum())}
    return {"target": target, "rows": int(len(conf)), "found": best is not None, **(best or {})}


def alert_from_row(row: Mapping[str, Any]) -> Alert:
    """The ``"alert"`` of an input row as an :class:`Alert` (Alertmanager v2 shape)."""
    from sreconsole.sources.alertmanager import parse_alert

    if not isinstance(row, Mapping) or "alert" not in row:
        raise ValueError('the row has no "alert" key')
    alert = parse_alert(row["alert"])
    if alert is None:
        raise ValueError('"alert" is not an Alertmanager v2 alert (it needs a labels object with an alertname)')
    return alert


def read_rows(path: Path) -> Iterable[tuple[int, Any]]:
    """(line number, parsed JSON or the error) for each non-empty line of a JSONL file."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except ValueError as exc:
                yield n, exc
