"""Triage for the TUI and the CLI: the engine built from settings, training, evaluation.

Heavy pieces (the embedding model, MLX, DuckDB) load on first use, never at import.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


from sreconsole.config import Settings
from sreconsole.domain.alerts import Alert

ACTIVE = "active"


def models_root(settings: Settings) -> Path:
    return settings.data_path / "models" / "trm"


def model_dir(settings: Settings) -> Path:
    if settings.triage.model_dir:
        return Path(settings.triage.model_dir).expanduser()
    return models_root(settings) / ACTIVE


def load_catalog_for(settings: Settings):
    from sreconsole.triage.catalog import load_catalog

    return load_catalog(Path(settings.triage.catalog).expanduser() if settings.triage.catalog else None)


class CachedEmbed:
    """The embedder behind a content-hash cache (SQLite, WAL) under the data dir, so that a
    retrain or a cold process embeds only texts it has never seen."""

    def __init__(self, embedder, path: Path) -> None:
        self.embedder = embedder
        self.path = path
        self._local = threading.local()
        self.hits = 0
        self.misses = 0

    def _con(self) -> sqlite3.Connection | None:
        con = getattr(self._local, "con", None)
        if con is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                con = sqlite3.connect(self.path, timeout=2.0)
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("CREATE TABLE IF NOT EXISTS e (key TEXT PRIMARY KEY, vec BLOB)")
            except sqlite3.Error:
                return None
            self._local.con = con
        return con

    def __call__(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        from sreconsole.knowledge.store import key_for
        from sreconsole.knowledge.textindex import clean_text

        texts = [clean_text(t) for t in texts]
        model = self.embedder.model_id
        keys = [key_for(model, t) for t in texts]
        found: dict[str, np.ndarray] = {}
        con = self._con()
        if con is not None:
            try:
                for a in range(0, len(keys), 500):
                    part = keys[a : a + 500]
                    q = f"SELECT key, vec FROM e WHERE key IN ({','.join('?' * len(part))})"
                    for key, blob in con.execute(q, part):
                        found[key] = np.frombuffer(blob, dtype=np.float32)
            except sqlite3.Error:
                pass
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items())
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        if todo:
            vecs = self.embedder.embed([t for _, t in todo])
            for (key, _), vec in zip(todo, vecs):
                found[key] = vec
            if con is not None:
                try:
                    with con:
                        con.executemany("INSERT OR REPLACE INTO e VALUES (?, ?)", [(k, v.astype(np.float32).tobytes()) for (k, _), v in zip(todo, vecs)])
                except sqlite3.Error:
                    pass
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)


def make_embed(settings: Settings) -> CachedEmbed:
    from sreconsole.services.knowledge import make_embedder

    return CachedEmbed(make_embedder(settings), settings.data_path / "cache" / "text-embeddings.sqlite")


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
        from sreconsole.triage.engine import TriageEngine

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
                    embed=make_embed(self.settings),
                    store=store,
                    high=self.settings.triage.high_threshold,
                    low=self.settings.triage.low_threshold,
                    clock=self.clock,
                )
            return self._engine

    def propose(self, alerts: Sequence[Alert]):
        return self.engine().propose_many(alerts)

    def reload(self) -> None:
        """Drop the engine: the next call loads the (possibly newly promoted) model."""
        with self._lock:
            self._engine = None


# -- runbook sections without a knowledge base (for training) --------------------------------


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


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean per-action recall: with 92 % ``escalate``, plain accuracy flatters any model."""
    import numpy as np

    classes = sorted(set(y.tolist()))
    return float(np.mean([(pred[y == c] == c).mean() for c in classes])) if classes else 0.0


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


def activate_model(settings: Settings, target: Path) -> Path:
    """Point ``models/trm/active`` at ``target`` atomically (a symlink swapped by rename), so
    a running TUI never sees half a model."""
    link = models_root(settings) / ACTIVE
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{ACTIVE}.{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target.name if target.parent == link.parent else str(target), tmp)
    os.replace(tmp, link)
    return link


# -- evaluation ---------------------------------------------------------------------------------


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
