"""Triage for the TUI and the CLI: the engine built from settings, once per process.

Training and evaluation live in :mod:`sreconsole.triage.training` and
:mod:`sreconsole.triage.evaluation`; the names the CLI calls are re-exported here so that
the command line reaches triage through this facade like the panes do. Heavy pieces (the
embedding model, MLX, DuckDB) load on first use, never at import.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from sreconsole.config import Settings
from sreconsole.domain.alerts import Alert
__all__ = ["TrainReport", "TriageService", "alert_from_row", "evaluate", "read_rows", "train_trm"]

_LAZY = {"alert_from_row": "evaluation", "evaluate": "evaluation", "read_rows": "evaluation", "TrainReport": "training", "train_trm": "training"}


def __getattr__(name: str):
    """The CLI's names, imported when first asked for: the console builds a TriageService
    at start-up and needs neither training nor evaluation for its first paint."""
    if name not in _LAZY:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"sreconsole.triage.{_LAZY[name]}"), name)


FLOORS = ("majority", "rules")
"""Baselines every figure of ``eval triage`` is printed beside: always ``escalate``, and the
labelling rules alone (``rule_label``, the regexes that labelled most training rows)."""


class TriageService:
    """One engine per process, built lazily in a worker (loading the model takes seconds)."""

    def __init__(self, settings: Settings, knowledge=None, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.settings = settings
        self.knowledge = knowledge
        self.clock = clock
        self._engine = None
        self._lock = threading.Lock()
        self.error = ""

    def engine(self):
        from sreconsole.knowledge.embed_cache import make_embed
        from sreconsole.services.knowledge import trust_predicate
        from sreconsole.triage.engine import TriageEngine
        from sreconsole.triage.models import load_catalog_for, model_dir

        with self._lock:
            if self._engine is None:
                store = None
                if self.knowledge is not None and self.settings.knowledge.enabled:
                    try:
                        self.knowledge.prepare()
                        if self.knowledge.path.exists():
                            store = self.knowledge.knowledge_base()
                    except Exception as exc:  # noqa: BLE001 - triage works without retrieval
                        self.error = f"knowledge base unavailable: {exc}"
                self._engine = TriageEngine.load(
                    load_catalog_for(self.settings),
                    model_dir(self.settings),
                    self.settings.triage.model,
                    embed=make_embed(self.settings),
                    trusted=trust_predicate(self.settings),
                    store=store,
                    high=self.settings.triage.high_threshold,
                    low=self.settings.triage.low_threshold,
                    clock=self.clock,
                )
            return self._engine

    def model_version(self) -> str:
        """The version of the model proposals are made with now ('' without one); a
        proposal made with another is stale. Loads the engine on first use."""
        return self.engine().model_version

    def propose(self, alerts: Sequence[Alert]):
        return self.engine().propose_many(alerts)

    def reload(self) -> None:
        """Drop the engine: the next call loads the (possibly newly promoted) model."""
        with self._lock:
            self._engine = None


def evaluate_rows(service: TriageService, alerts: Sequence[Alert], expected: Sequence[Sequence[str]]) -> dict:
    """``eval triage``: the engine's full flow on labelled alerts, and on the same rows, under
    the same review policy, every floor: the majority baseline, the labelling rules alone,
    and each classifier of the model bare (the logistic regression and the TRM, the rules as
    the second expert the calibration fitted). Plus how far the rows are from the training
    set (cosine to the nearest training alert)."""
    import numpy as np

    from sreconsole.triage.dataset import alert_text, rule_label
    from sreconsole.triage.trm import CheckpointError, TRMRunner, features
    from sreconsole.triage.evaluation import evaluate

    engine = service.engine()
    proposals = service.propose(alerts) if alerts else []
    flow = evaluate(proposals, expected)
    out: dict = {"n": len(alerts), "model_version": engine.model_version, "model": getattr(engine.runner, "kind", "") if engine.runner else "",
                 "flow": flow, "baselines": {}}
    rules = [rule_label(a.alertname, a.annotations.get("summary", ""), a.annotations.get("description", "")).action for a in alerts]
    rows = {"majority": [engine.proposal_for(a, "escalate", None, "none") for a in alerts],
            "rules": [engine.proposal_for(a, r, None, "rules") for a, r in zip(alerts, rules)]}
    if engine.runner is not None and alerts:
        x = features([alert_text(a.alertname, a.labels, a.annotations) for a in alerts], engine.embed, engine.runner.config.hash_dim)
        for kind in engine.runner.checkpoint.kinds:
            try:
                runner = engine.runner if kind == engine.runner.kind else TRMRunner(engine.runner.checkpoint, kind)
            except CheckpointError:
                continue
            preds = runner.predict_features(x, rules)
            rows[kind] = [engine.proposal_for(a, p.action, p.confidence) for a, p in zip(alerts, preds)]
            sims = [p.similarity for p in preds if p.similarity is not None]
            if sims and "similarity" not in out:
                s = np.array(sims)
                out["similarity"] = {"median": float(np.median(s)), "p10": float(np.percentile(s, 10)), "p90": float(np.percentile(s, 90)),
                                     "mean": float(s.mean()), "novelty_floor": runner.novelty_floor}
    for name, props in rows.items():
        out["baselines"][name] = evaluate(props, expected)
    return out


def evaluate_recording(service: TriageService, labels) -> dict:
    """``eval triage --from-recording``: :func:`evaluate_rows` on the alerts an operator
    approved (the proposed action is right) or rejected naming the right one, and for the
    rejections that named none, how often each way of proposing proposes the rejected
    action again (lower is better). The alerts nobody decided are proposed for too: how
    many, how many of those go to a human, and which actions (no label, so no score).
    ``labels``: a :class:`~sreconsole.services.recording.RecordedLabels`."""
    from sreconsole.triage.dataset import rule_label

    out = evaluate_rows(service, list(labels.alerts), [list(e) for e in labels.expected])
    rejected_alerts = [a for a, _ in labels.rejected]
    wrong = [action for _, action in labels.rejected]
    ways = {
        "flow": [p.action for p in service.propose(rejected_alerts)] if rejected_alerts else [],
        "majority": ["escalate"] * len(rejected_alerts),
        "rules": [rule_label(a.alertname, a.annotations.get("summary", ""), a.annotations.get("description", "")).action
                  for a in rejected_alerts],
    }
    out["rejected"] = {
        "n": len(wrong),
        "proposed_again": {name: sum(1 for got, bad in zip(actions, wrong) if got == bad) for name, actions in ways.items()},
    }
    proposals = service.propose(list(labels.unlabelled)) if labels.unlabelled else []
    actions: dict[str, int] = {}
    for p in proposals:
        actions[p.action] = actions.get(p.action, 0) + 1
    out["unlabelled"] = {
        "n": len(proposals),
        "to_human": sum(1 for p in proposals if p.requires_human_review),
        "actions": dict(sorted(actions.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    out["decisions"] = dict(labels.decisions)
    return out


def calibrate_model(service: TriageService, model_path=None, file=None, split: str = "") -> dict:
    """``train calibrate`` (and the end of ``train trm``): refit how evidence re-scores each
    classifier of the model at ``model_path`` (default: the active one) on the calibration
    alerts of ``file`` (default: the shipped set, the dev half of the held-out set), with
    the evidence *this console's* store retrieves for them (its knowledge base and incident
    history, as ``eval triage`` and the Alerts pane see them), and save it in the model's
    metadata with what it was fitted on. The ``trm+rag`` confidence is the flow's, and it
    must be calibrated on alerts like the ones it will score, through the same store.

    Returns {kind: metadata entry} and "model_dir"; raises ValueError when there is no
    model or no calibration row."""
    from pathlib import Path

    from sreconsole.triage.engine import TriageEngine
    from sreconsole.triage.models import model_dir
    from sreconsole.triage.training import SHIPPED_CALIBRATION, calibrate_flow, labelled_from_file
    from sreconsole.triage.trm import CheckpointError, TRMRunner

    base = service.engine()
    target = Path(model_path) if model_path is not None else model_dir(service.settings)
    try:
        runner = TRMRunner.load(target, service.settings.triage.model)
    except CheckpointError as exc:
        raise ValueError(f"no model to calibrate: {exc}") from None
    cal = labelled_from_file(Path(file) if file else SHIPPED_CALIBRATION, split)
    if not len(cal):
        raise ValueError(f"no calibration rows in {file or SHIPPED_CALIBRATION}{f' (split {split})' if split else ''}")
    store = "none (knowledge disabled or not indexed)" if base.store is None else f"knowledge base {service.knowledge.path} ({service.settings.environment_name})"
    ck = runner.checkpoint
    out: dict = {"model_dir": str(target.resolve()), "version": ck.version}
    for kind in ck.kinds:
        engine = TriageEngine(base.catalog, runner=runner if kind == runner.kind else TRMRunner(ck, kind), embed=base.embed, store=base.store,
                              trusted=base.trusted, high=base.high, low=base.low, clock=base.clock)
        out[kind] = calibrate_flow(engine, cal, store)
    ck.metadata["rescorer"] = ck.metadata["rescorers"]["trm"]  # the first format's key, read by older code
    ck.save_metadata(target.resolve())
    service.reload()
    return out
