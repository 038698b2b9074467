"""Training the TRM from the shipped corpus (plus any decision exports): build the dataset,
embed it through the cache, train, calibrate, fit how runbook evidence re-scores the model,
measure it on the held-out test split, save it, and make it the active model.

``sreconsole train trm`` runs :func:`train_trm` in one process; the pipeline's steps
(:mod:`sreconsole.pipeline.steps`) run the same parts one step at a time, so both produce a
model that behaves alike once promoted. MLX and numpy load on the first call, not at import.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sreconsole.config import Settings
from sreconsole.knowledge.embed_cache import make_embed
from sreconsole.triage.evaluation import balanced_accuracy
from sreconsole.triage.models import activate_model, load_catalog_for, models_root


# -- runbook sections without a knowledge base -----------------------------------------------


class SectionIndex:
    """Alert-keyed runbook parts read straight from files: what ``train`` uses to fit how
    evidence re-scores the model, with no knowledge base needed."""

    def __init__(self, files: Iterable[Path]) -> None:
        from sreconsole.knowledge.chunking import alert_sections
        from sreconsole.knowledge.search import RunbookPassage

        self.by_alert: dict[str, list[RunbookPassage]] = {}
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            for sec in alert_sections(text):
                for part, body in sec.parts.items():
                    first, last = sec.part_lines.get(part, (sec.start_line, sec.end_line))
                    self.by_alert.setdefault(sec.alertname.lower(), []).append(
                        RunbookPassage(str(path), sec.alertname, sec.format, part, first, last, body)
                    )

    def runbook_sections(self, alertname: str) -> list:
        return self.by_alert.get(alertname.lower(), [])

    def similar_incidents(self, *args: Any, **kwargs: Any) -> list:
        return []


def runbook_files(corpus_dir: Path | None) -> list[Path]:
    from sreconsole.triage.dataset import SHIPPED_RUNBOOK

    files = [SHIPPED_RUNBOOK]
    if corpus_dir is not None and (corpus_dir / "runbooks").is_dir():
        files += sorted((corpus_dir / "runbooks").rglob("*.md"))
    return files


# -- training ----------------------------------------------------------------------------------


@dataclass
class TrainReport:
    version: str
    path: Path
    seconds_train: float
    seconds_embed: float
    rows: dict[str, int]
    metrics: dict[str, Any]
    dataset_hash: str
    embed_cache: tuple[int, int] = (0, 0)
    history: list[dict] = field(default_factory=list)


def default_corpus() -> Path | None:
    from sreconsole.triage.dataset import DEFAULT_CORPUS

    env = os.environ.get("SRECONSOLE_CORPUS")
    if env:
        # Named explicitly: used even when missing, so the dataset lists what it skipped
        # instead of silently falling back to the default location.
        return Path(env).expanduser().resolve()
    return DEFAULT_CORPUS.resolve() if DEFAULT_CORPUS.is_dir() else None


def train_trm(
    settings: Settings,
    extra_data: Sequence[Path] = (),
    corpus_dir: Path | None = None,
    epochs: int | None = None,
    progress: Callable[[str, dict], None] | None = None,
    activate: bool = True,
) -> TrainReport:
    """Build the dataset, embed it (cached), train the TRM, calibrate, fit the evidence
    re-scorer, evaluate on the held-out test split, save, and make it the active model."""
    from sreconsole.triage.dataset import build_dataset, dataset_hash, read_jsonl, split_by_group
    from sreconsole.triage.engine import fit_rescorer
    from sreconsole.triage.trm import TRMConfig, TrainConfig, TRMRunner, expected_calibration_error, features, train

    import numpy as np

    def say(stage: str, **info: Any) -> None:
        if progress:
            progress(stage, info)

    corpus_dir = corpus_dir if corpus_dir is not None else default_corpus()
    catalog = load_catalog_for(settings)
    say("dataset", corpus=str(corpus_dir) if corpus_dir else "")
    ds = build_dataset(corpus_dir)
    examples = list(ds.examples)
    for path in extra_data:
        examples += read_jsonl(path)
    unknown = sorted({e.action for e in examples} - set(catalog.ids))
    if unknown:
        raise ValueError(f"the dataset uses actions the catalog lacks: {', '.join(unknown)}")
    splits = split_by_group(examples)
    splits["train"] = thin_majority(splits["train"])
    actions = tuple(catalog.ids)
    index = {a: i for i, a in enumerate(actions)}
    embed = make_embed(settings)
    say("embed", texts=len(examples))
    t = time.perf_counter()
    xs = {name: features([e.text() for e in rows], embed, TRMConfig(actions).hash_dim) for name, rows in splits.items()}
    ys = {name: np.array([index[e.action] for e in rows], dtype=np.int64) for name, rows in splits.items()}
    embed_s = time.perf_counter() - t
    config = TRMConfig(actions=actions, embed_model=embed.embedder.model_id)
    tc = TrainConfig(epochs=epochs) if epochs else TrainConfig()
    say("train", epochs=tc.epochs, rows=len(ys["train"]))
    h = dataset_hash(examples)
    result = train(
        config, xs["train"], ys["train"], xs["validation"], ys["validation"], tc,
        progress=(lambda ev: say("epoch", **ev)), metadata={"dataset_hash": h, "dataset_rows": {k: len(v) for k, v in splits.items()}},
    )
    ck = result.checkpoint
    runner = TRMRunner(ck)

    # Evidence re-scoring, fitted on validation with the runbook sections of the corpus.
    sections = SectionIndex(runbook_files(corpus_dir))

    vp, vc, vv = score_with_evidence(runner, xs["validation"], splits["validation"], sections)
    rescorer, fit_info = fit_rescorer(vp, vc, vv, ys["validation"])
    ck.metadata["rescorer"] = {**rescorer.as_dict(), **fit_info}
    tp, tcf, tv = score_with_evidence(runner, xs["test"], splits["test"], sections)
    y = ys["test"]
    pred = tp.argmax(axis=1)
    correct = pred == y
    metrics = ck.metadata.setdefault("metrics", {})
    low, high = settings.triage.low_threshold, settings.triage.high_threshold
    test = {
        "n": int(len(y)),
        "accuracy": float(correct.mean()) if len(y) else 0.0,
        "ece": expected_calibration_error(tcf, correct),
        "share_below_low": float((tcf < low).mean()) if len(y) else 0.0,
        "share_below_high": float((tcf < high).mean()) if len(y) else 0.0,
        "majority_baseline": float((y == index["escalate"]).mean()) if len(y) else 0.0,
        "balanced_accuracy": balanced_accuracy(y, pred),
        "recall_per_action": {actions[a]: float((pred[y == a] == a).mean()) for a in sorted(set(y.tolist()))},
    }
    # The tiered flow on the test split: below the high threshold, re-score with evidence.
    final_pred, final_conf = pred.copy(), tcf.copy()
    for i in range(len(y)):
        if tcf[i] < high and tv[i].sum() > 0:
            c = rescorer.combine(tp[i], tv[i])
            final_pred[i] = c
            final_conf[i] = rescorer.confidence(float(tcf[i]), float(tv[i][c]), c == pred[i])
    fc = final_pred == y
    test["tiered"] = {
        "accuracy": float(fc.mean()) if len(y) else 0.0,
        "ece": expected_calibration_error(final_conf, fc),
        "share_to_human": float((final_conf < low).mean()) if len(y) else 0.0,
        "rescored": int(((tcf < high) & (tv.sum(axis=1) > 0)).sum()),
        "balanced_accuracy": balanced_accuracy(y, final_pred),
    }
    metrics["test"] = test
    ck.metadata["training_seconds"] = round(result.seconds, 2)
    root = models_root(settings)
    target = root / ck.version
    ck.save(target)
    if activate:
        activate_model(settings, target)
    return TrainReport(ck.version, target, result.seconds, embed_s, {k: len(v) for k, v in splits.items()}, metrics, h, (embed.hits, embed.misses), result.history)


def thin_majority(rows: list, action: str = "escalate") -> list:
    """Keep one variant per group of the majority action in training: 92 % of the corpus is
    ``escalate`` (database and exporter rules), and its label variants teach nothing new
    while costing most of the training time. Validation and test keep every row."""
    seen: set[str] = set()
    out = []
    for e in rows:
        if e.action == action:
            if e.group in seen:
                continue
            seen.add(e.group)
        out.append(e)
    return out


def score_with_evidence(runner, x, rows: Sequence, sections) -> tuple:
    """For each example: the model's probabilities over its actions, its confidence, and the
    normalised vote of the alert's runbook sections — what the evidence re-scorer is fitted
    on (validation) and measured on (test), by `train trm` and the pipeline alike."""
    import numpy as np

    from sreconsole.triage.engine import normalise, runbook_evidence

    actions = runner.config.actions
    preds = runner.predict_features(x) if len(rows) else []
    probs = np.array([[p.probabilities[a] for a in actions] for p in preds]).reshape(len(preds), len(actions))
    conf = np.array([p.confidence for p in preds])
    votes = (np.stack([normalise(runbook_evidence(e.alertname, sections.runbook_sections(e.alertname), actions)[0]) for e in rows])
             if len(rows) else np.zeros((0, len(actions))))
    return probs, conf, votes
