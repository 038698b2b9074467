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


def evaluate(proposals: Sequence, expected: Sequence[Sequence[str]], thresholds: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9)) -> dict:
    """Accuracy, macro-F1, ECE, a reliability table, and accuracy/coverage per threshold.
    A row is correct when the proposed action is any of its expected ids."""
    import numpy as np

    from sreconsole.triage.trm import expected_calibration_error

    n = len(proposals)
    correct = np.array([p.action in exp for p, exp in zip(proposals, expected)], dtype=bool)
    conf = np.array([p.confidence if p.confidence is not None else 0.0 for p in proposals], dtype=np.float64)
    labels = sorted({a for exp in expected for a in exp} | {p.action for p in proposals})
    f1s = []
    for a in labels:
        tp = sum(1 for p, exp in zip(proposals, expected) if p.action == a and a in exp)
        fp = sum(1 for p, exp in zip(proposals, expected) if p.action == a and a not in exp)
        fn = sum(1 for p, exp in zip(proposals, expected) if a in exp and p.action not in exp and exp[0] == a)
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    bins = []
    edges = np.linspace(0, 1, 11)
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf >= lo) & ((conf < hi) if hi < 1 else (conf <= hi))
        if m.any():
            bins.append({"from": round(float(lo), 1), "to": round(float(hi), 1), "n": int(m.sum()), "confidence": float(conf[m].mean()), "accuracy": float(correct[m].mean())})
    at = []
    for t in thresholds:
        m = conf >= t
        at.append({"threshold": t, "coverage": float(m.mean()) if n else 0.0, "accuracy": float(correct[m].mean()) if m.any() else None})
    methods: dict[str, int] = {}
    for p in proposals:
        methods[p.method] = methods.get(p.method, 0) + 1
    return {
        "n": n,
        "accuracy": float(correct.mean()) if n else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "ece": expected_calibration_error(conf, correct) if n else 0.0,
        "requires_human_review": float(np.mean([p.requires_human_review for p in proposals])) if n else 0.0,
        "methods": methods,
        "reliability": bins,
        "thresholds": at,
    }


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
