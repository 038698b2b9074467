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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sreconsole.config import Settings
from sreconsole.knowledge.embed_cache import make_embed
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


@dataclass(frozen=True)
class TrainOptions:
    """How a model is trained; every default was chosen on the dev half of the held-out set
    (bench/README.md, "Triage on alerts it never saw", has the measurement of each)."""

    balance: float = 1.0
    """Class weight ∝ count^-balance: 1.0 weighs every action alike (0.5, the first
    version's square root, left the rare actions under-learnt)."""
    phrasings: int = 4
    """Extra rows per non-escalate source alert, renamed and described in other words
    (:mod:`sreconsole.triage.phrasings`)."""
    decision_weight: float = 3.0
    """An operator's decision counts this many rule-labelled rows: it is a real alert of this
    team, labelled by the person who acted on it."""
    l2: float = 1e-3
    """The logistic regression's L2 penalty."""
    calibration: str = "shipped"
    """Which labelled alerts calibrate the confidence: ``shipped`` (the calibration set in
    the package, plus operators' decisions that fell in the validation split) or
    ``validation`` (the family-held-out validation split alone, as the first version did)."""
    rules: bool = True
    """Fit a weight for the labelling rules as a second expert on the calibration rows."""
    novelty: bool = True
    """Use the similarity to the nearest training alert in the calibration (and the floor
    below which confidence falls to 0)."""


SHIPPED_CALIBRATION = Path(__file__).resolve().parent / "calibration.jsonl"
"""Hand-written alerts, each with every acceptable action: the dev half of
``bench/data/triage_heldout.jsonl`` (whose test half is never used for anything but the
report). Real-style alerts of sources and families the training corpora lack, which is
what the confidence must be calibrated against."""


@dataclass
class LabelledAlerts:
    """Alerts with every acceptable action: what calibrates and what evaluates."""

    texts: list[str]
    rules: list[str]
    expected: list[list[str]]
    origin: list[str]
    alerts: list = field(default_factory=list)
    """The alerts themselves (:class:`~sreconsole.domain.alerts.Alert` or training
    :class:`~sreconsole.triage.examples.Example`), where known: what evidence is retrieved
    for when the re-scorer is fitted on these rows."""

    def __len__(self) -> int:
        return len(self.texts)

    def __add__(self, other: LabelledAlerts) -> LabelledAlerts:
        alerts = self.alerts + other.alerts if len(self.alerts) == len(self) and len(other.alerts) == len(other) else []
        return LabelledAlerts(self.texts + other.texts, self.rules + other.rules, self.expected + other.expected, self.origin + other.origin, alerts)


def labelled_from_examples(rows: Sequence, origin: str) -> LabelledAlerts:
    from sreconsole.triage.dataset import rule_label

    return LabelledAlerts([e.text() for e in rows],
                          [rule_label(e.alertname, e.annotations.get("summary", ""), e.annotations.get("description", "")).action for e in rows],
                          [[e.action] for e in rows], [origin] * len(rows), list(rows))


def labelled_from_file(path: Path, split: str = "") -> LabelledAlerts:
    """Rows ``{"alert", "expected"}`` of an evaluation file (``split``: only those rows)."""
    from sreconsole.triage.dataset import rule_label
    from sreconsole.triage.evaluation import alert_from_row, read_rows
    from sreconsole.triage.examples import alert_text

    out = LabelledAlerts([], [], [], [])
    for n, row in read_rows(path):
        if isinstance(row, Exception):
            raise ValueError(f"{path}:{n}: not JSON: {row}")
        if split and row.get("split") != split:
            continue
        alert = alert_from_row(row)
        exp = row.get("expected")
        exp = [exp] if isinstance(exp, str) else list(exp or [])
        if not exp:
            raise ValueError(f"{path}:{n}: no expected action")
        out.alerts.append(alert)
        out.texts.append(alert_text(alert.alertname, alert.labels, alert.annotations))
        out.rules.append(rule_label(alert.alertname, alert.annotations.get("summary", ""), alert.annotations.get("description", "")).action)
        out.expected.append(exp)
        out.origin.append(str(path.name))
    return out


def row_weights(rows: Sequence, y, n_classes: int, options: TrainOptions):
    """Per training row: the class weight (count^-balance, mean 1) times the decision weight."""
    import numpy as np

    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    per_class = np.where(counts > 0, 1.0 / np.maximum(counts, 1) ** options.balance, 0.0)
    w = per_class[y]
    w = w * np.array([options.decision_weight if e.source == "decision" else 1.0 for e in rows])
    return w / w.mean() if len(w) else w


def softmax_temperature(logits, y) -> float:
    """The temperature minimising the NLL of the softmax on held-out rows (1-D grid)."""
    import numpy as np

    from sreconsole.triage.logreg import softmax

    if len(y) == 0:
        return 1.0
    best, best_t = np.inf, 1.0
    for t in np.exp(np.linspace(np.log(0.05), np.log(20.0), 240)):
        p = softmax(logits / t)
        nll = -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12))
        if nll < best:
            best, best_t = nll, float(t)
    return best_t


RULES_WEIGHTS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
NOVELTY_PERCENTILE = 5
"""Below the similarity of all but this percentage of the calibration alerts, confidence
falls (``trm_numpy.novelty_factor``): there the calibration has too little evidence."""


def calibrate(ck, kind: str, x, cal: LabelledAlerts, options: TrainOptions) -> dict:
    """Fit, for one classifier of ``ck``, the rules' weight (the grid value with the best
    accuracy on the calibration rows, ties to the smaller), then the confidence calibration
    on the same rows, and the novelty floor (their lowest similarity). Stored in the
    checkpoint's metadata; the runner reads it back."""
    import numpy as np

    from sreconsole.triage.trm import TRMRunner, fit_calibration

    calibration = ck.metadata.setdefault("calibration", {})
    calibration.pop(kind, None)
    if not len(cal):
        return {}
    runner = TRMRunner(ck, kind)
    actions = runner.config.actions

    def correct_for(probs):
        return np.array([actions[int(i)] in exp for i, exp in zip(probs.argmax(axis=1), cal.expected)])

    beta, best = 0.0, -1.0
    for b in RULES_WEIGHTS if options.rules else (0.0,):
        runner.rules_weight = b
        acc = float(correct_for(runner.scored(x, cal.rules)[0]).mean())
        if acc > best + 1e-9:
            beta, best = b, acc
    runner.rules_weight = beta
    probs, raw, sim, agree = runner.scored(x, cal.rules)
    correct = correct_for(probs)
    fitted = fit_calibration(raw, sim if options.novelty else None, correct, agree if options.rules else None)
    entry = {"weights": fitted.as_dict(), "rules_weight": beta, "fitted_on": len(cal),
             "origins": {o: cal.origin.count(o) for o in sorted(set(cal.origin))}, "accuracy": float(correct.mean())}
    if options.novelty and sim is not None:
        # The 5th percentile, not the minimum: one odd calibration alert must not stretch
        # the range the confidence is claimed for.
        entry["novelty_floor"] = float(np.percentile(sim, NOVELTY_PERCENTILE))
    calibration[kind] = entry
    return entry


def fit_models(
    config, splits: dict, xs: dict, ys: dict, train_config, options: TrainOptions, cal: LabelledAlerts, cal_x,
    sections, *, progress: Callable[[dict], None] | None = None, metadata: dict | None = None, low: float = 0.5, high: float = 0.8,
):
    """Train the TRM and the logistic regression on the same rows with the same weights,
    keep the training embeddings for novelty, calibrate both on ``cal``, fit how runbook
    evidence re-scores each, and measure both on the test split. Returns the MLX training
    result, whose checkpoint holds all of it (not yet saved)."""
    import numpy as np

    from sreconsole.triage.logreg import fit_logreg, logreg_logits
    from sreconsole.triage.trm import MODEL_KINDS, TRMRunner, train

    n_classes = len(config.actions)
    sw = row_weights(splits["train"], ys["train"], n_classes, options)
    result = train(config, xs["train"], ys["train"], xs["validation"], ys["validation"], train_config,
                   progress=progress, metadata=metadata, sample_weight=sw)
    ck = result.checkpoint
    t0 = time.perf_counter()
    W, b = fit_logreg(xs["train"], ys["train"], n_classes, sw, l2=options.l2)
    ck.extras = {"logreg.weight": W, "logreg.bias": b}
    ck.metadata["logreg"] = {"temperature": softmax_temperature(logreg_logits(W, b, xs["validation"]), ys["validation"]),
                             "l2": options.l2, "seconds": round(time.perf_counter() - t0, 2)}
    if options.novelty:
        ck.extras["novelty.embeddings"] = np.ascontiguousarray(xs["train"][:, : config.embed_dim], dtype=np.float32)
    ck.metadata["train_options"] = asdict(options)
    metrics = ck.metadata.setdefault("metrics", {})
    rescorers = ck.metadata.setdefault("rescorers", {})
    test_rows = labelled_from_examples(splits["test"], "test")
    for kind in MODEL_KINDS:
        calibrate(ck, kind, cal_x, cal, options)
        runner = TRMRunner(ck, kind)
        # The re-scorer is fitted on the calibration alerts too (not on a split of the
        # rule-labelled corpus, whose runbooks labelled it and so agree with it by
        # construction), with the evidence the corpus's runbooks give them; the console's
        # own store (its knowledge base and incident history) is fitted in by
        # ``calibrate_flow`` after training, where one is configured.
        rescorer, fit_info = rescorer_on(runner, cal_x, cal, sections, high)
        rescorers[kind] = {**rescorer.as_dict(), **fit_info, "evidence": "training runbooks"}
        metrics.setdefault("test_by_model", {})[kind] = measure(runner, xs["test"], test_rows, sections, splits["test"], rescorer, low, high)
    ck.metadata["rescorer"] = rescorers["trm"]  # the first format's key, read by older code
    metrics["test"] = metrics["test_by_model"]["trm"]
    return result


def measure(runner, x, rows: LabelledAlerts, sections=None, examples: Sequence = (), rescorer=None, low: float = 0.5, high: float = 0.8) -> dict:
    """The figures of one classifier on labelled rows: :func:`evaluation.score` of its own
    answers (a human gets escalate and what is below ``low``), the majority baseline, and,
    with runbook ``sections``, the tiered flow's accuracy where evidence re-scores it."""
    import numpy as np

    from sreconsole.triage.evaluation import score

    if not len(rows):
        return {"n": 0}
    preds = runner.predict_features(x, rows.rules)
    actions = [p.action for p in preds]
    conf = [p.confidence for p in preds]
    out = score(actions, conf, rows.expected, [a == "escalate" or c < low for a, c in zip(actions, conf)])
    out["majority_baseline"] = float(np.mean(["escalate" in exp for exp in rows.expected]))
    out["share_below_low"] = float(np.mean([c < low for c in conf]))
    if sections is not None and rescorer is not None and len(examples):
        acts = runner.config.actions
        from sreconsole.triage.engine import normalise, runbook_evidence
        from sreconsole.triage.trm import expected_calibration_error

        final_a, final_c = list(actions), list(conf)
        rescored = 0
        for i, e in enumerate(examples):
            if conf[i] >= high:
                continue
            vote = normalise(runbook_evidence(e.alertname, sections.runbook_sections(e.alertname), acts)[0])
            if vote.sum() > 0:
                probs = np.array([preds[i].probabilities[a] for a in acts])
                c = rescorer.combine(probs, vote)
                final_a[i] = acts[c]
                final_c[i] = rescorer.confidence(conf[i], float(vote[c]), acts[c] == actions[i])
                rescored += 1
        ok = np.array([a in exp for a, exp in zip(final_a, rows.expected)])
        out["tiered"] = {"accuracy": float(ok.mean()), "ece": expected_calibration_error(np.array(final_c), ok), "rescored": rescored,
                         "share_to_human": float(np.mean([a == "escalate" or c < low for a, c in zip(final_a, final_c)]))}
    return out


def shipped_calibration(splits: dict, options: TrainOptions) -> LabelledAlerts:
    """The calibration rows ``options.calibration`` names (see :class:`TrainOptions`)."""
    if options.calibration == "validation":
        return labelled_from_examples(splits["validation"], "validation")
    cal = labelled_from_file(SHIPPED_CALIBRATION) if options.calibration == "shipped" else labelled_from_file(Path(options.calibration))
    decisions = [e for e in splits["validation"] if e.source == "decision"]
    return cal + labelled_from_examples(decisions, "decision") if decisions else cal


def build_training_set(corpus_dir: Path | None, extra: Sequence = (), decisions: Sequence = (), options: TrainOptions = TrainOptions()):
    """The dataset as training reads it: the corpus (plus ``extra`` rows and operators'
    ``decisions``), the restyled rows of the rare actions, split by family, the majority
    thinned in train. Returns (dataset, examples, splits)."""
    from sreconsole.triage.dataset import build_dataset, split_by_group
    from sreconsole.triage.phrasings import restyled_rows

    ds = build_dataset(corpus_dir, decisions=decisions)
    examples = list(ds.examples) + list(extra)
    examples += restyled_rows(examples, options.phrasings)
    splits = split_by_group(examples)
    splits["train"] = thin_majority(splits["train"])
    return ds, examples, splits


def train_trm(
    settings: Settings,
    extra_data: Sequence[Path] = (),
    corpus_dir: Path | None = None,
    epochs: int | None = None,
    progress: Callable[[str, dict], None] | None = None,
    activate: bool = True,
    options: TrainOptions = TrainOptions(),
) -> TrainReport:
    """Build the dataset, embed it (cached), train the TRM and the logistic regression,
    calibrate them, fit the evidence re-scorer, evaluate on the held-out test split, save,
    and make it the active model."""
    from sreconsole.triage.dataset import dataset_hash, read_jsonl
    from sreconsole.triage.trm import TRMConfig, TrainConfig, features

    import numpy as np

    def say(stage: str, **info: Any) -> None:
        if progress:
            progress(stage, info)

    corpus_dir = corpus_dir if corpus_dir is not None else default_corpus()
    catalog = load_catalog_for(settings)
    say("dataset", corpus=str(corpus_dir) if corpus_dir else "")
    extra = [row for path in extra_data for row in read_jsonl(path)]
    ds, examples, splits = build_training_set(corpus_dir, extra, options=options)
    unknown = sorted({e.action for e in examples} - set(catalog.ids))
    if unknown:
        raise ValueError(f"the dataset uses actions the catalog lacks: {', '.join(unknown)}")
    actions = tuple(catalog.ids)
    index = {a: i for i, a in enumerate(actions)}
    embed = make_embed(settings)
    cal = shipped_calibration(splits, options)
    total = sum(len(v) for v in splits.values()) + len(cal)
    say("embed", texts=total)
    t = time.perf_counter()
    done = [0]

    def embedded(n: int, of: int) -> None:
        say("embedding", done=done[0] + n, total=total, new=of)

    xs, ys = {}, {}
    hash_dim = TRMConfig(actions).hash_dim
    for name, rows in splits.items():
        xs[name] = features([e.text() for e in rows], embed, hash_dim, embedded)
        ys[name] = np.array([index[e.action] for e in rows], dtype=np.int64)
        done[0] += len(rows)
    cal_x = features(cal.texts, embed, hash_dim, embedded)
    embed_s = time.perf_counter() - t
    config = TRMConfig(actions=actions, embed_model=embed.embedder.model_id)
    tc = TrainConfig(epochs=epochs) if epochs else TrainConfig()
    say("train", epochs=tc.epochs, rows=len(ys["train"]))
    h = dataset_hash(examples)
    sections = SectionIndex(runbook_files(corpus_dir))
    result = fit_models(
        config, splits, xs, ys, tc, options, cal, cal_x, sections, progress=(lambda ev: say("epoch", **ev)),
        metadata={"dataset_hash": h, "dataset_rows": {k: len(v) for k, v in splits.items()}},
        low=settings.triage.low_threshold, high=settings.triage.high_threshold,
    )
    ck = result.checkpoint
    ck.metadata["training_seconds"] = round(result.seconds, 2)
    target = models_root(settings) / ck.version
    ck.save(target)
    if activate:
        activate_model(settings, target)
    return TrainReport(ck.version, target, result.seconds, embed_s, {k: len(v) for k, v in splits.items()}, ck.metadata["metrics"], h,
                       (embed.hits, embed.misses), result.history)


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


def acceptable(expected: Sequence[Sequence[str]], actions: Sequence[str]):
    """[rows, actions] booleans: which actions are right for each row."""
    import numpy as np

    return np.array([[a in exp for a in actions] for exp in expected], dtype=bool).reshape(len(expected), len(actions))


def rescorer_on(runner, x, cal: LabelledAlerts, sections, high: float):
    """The re-scorer fitted on ``cal``'s alerts with the runbook evidence ``sections``
    gives them, only where the flow re-scores (below ``high``)."""
    from sreconsole.triage.engine import UNFITTED, fit_rescorer

    if len(cal.alerts) != len(cal):
        return UNFITTED, {"fitted_on": 0, "note": "the calibration rows carry no alerts to retrieve evidence for"}
    probs, conf, votes = score_with_evidence(runner, x, cal.alerts, sections, cal.rules)
    votes[conf >= high] = 0.0
    return fit_rescorer(probs, conf, votes, acceptable(cal.expected, runner.config.actions))


def calibrate_flow(engine, cal: LabelledAlerts, source: str = "") -> dict:
    """Fit the re-scorer of ``engine``'s model (its ``trm+rag`` confidence) on the
    calibration alerts, with the evidence this engine's store retrieves for them, and store
    it in the checkpoint's metadata with what it was fitted on. Then the flow's own
    figures on those alerts, and the lowest low threshold whose un-flagged proposals are
    right at least :data:`FLOW_TARGET` of the time on them (a suggestion: the thresholds are
    the operator's settings). Returns the metadata entry."""
    import hashlib

    import numpy as np

    from sreconsole.triage.engine import Rescorer, fit_rescorer
    from sreconsole.triage.evaluation import evaluate, pick_thresholds

    runner = engine.runner
    actions = runner.config.actions
    inputs = engine.rescoring_inputs(cal.alerts)
    picked = [i for i, v in enumerate(inputs) if v is not None]
    probs = np.array([[inputs[i][0].probabilities[a] for a in actions] for i in picked]).reshape(len(picked), len(actions))
    conf = np.array([inputs[i][0].confidence for i in picked])
    votes = np.array([inputs[i][1] for i in picked]).reshape(len(picked), len(actions))
    rescorer, info = fit_rescorer(probs, conf, votes, acceptable([cal.expected[i] for i in picked], actions))
    digest = hashlib.sha256("\n".join(f"{t}\t{','.join(e)}" for t, e in zip(cal.texts, cal.expected)).encode()).hexdigest()[:16]
    entry = {**rescorer.as_dict(), **info, "evidence": "the console's store", "store": source, "calibration_rows": len(cal),
             "calibration_sha256": digest, "origins": {o: cal.origin.count(o) for o in sorted(set(cal.origin))}}
    meta = runner.checkpoint.metadata
    meta.setdefault("rescorers", {})[runner.kind] = entry
    engine.rescorer = Rescorer.from_dict(entry)
    engine.clear_cache()
    low = engine.low
    engine.low = 0.0  # every review reason but the confidence, to pick the threshold from
    try:
        proposals = engine.propose_many(cal.alerts)
    finally:
        engine.low = low
        engine.clear_cache()
    flow = evaluate(proposals, cal.expected)
    eligible = [i for i, p in enumerate(proposals) if not p.requires_human_review and p.confidence is not None]
    suggestion = pick_thresholds([proposals[i].confidence for i in eligible], [proposals[i].action in cal.expected[i] for i in eligible],
                                 target=FLOW_TARGET, min_rows=FLOW_MIN_ROWS)
    if suggestion["found"]:
        # pick_thresholds measures its share among the eligible rows; the share that
        # matters is of every alert (escalate and high-risk ones go to a human anyway).
        suggestion["coverage"] = suggestion["n"] / len(cal)
        suggestion["to_human"] = 1 - suggestion["coverage"]
    entry["on_calibration"] = {"accuracy": flow["accuracy"], "ece": flow["ece"], "methods": flow["methods"],
                               "low_threshold_for_target": suggestion}
    return entry


FLOW_TARGET = 0.97
"""The accuracy of un-flagged proposals the suggested low threshold aims at (issue 17)."""
FLOW_MIN_ROWS = 10


def score_with_evidence(runner, x, rows: Sequence, sections, rules: Sequence[str] | None = None) -> tuple:
    """For each example: the model's probabilities over its actions, its confidence, and the
    normalised vote of the alert's runbook sections — what the evidence re-scorer is fitted
    on (validation) and measured on (test), by `train trm` and the pipeline alike."""
    import numpy as np

    from sreconsole.triage.engine import normalise, runbook_evidence

    actions = runner.config.actions
    preds = runner.predict_features(x, rules) if len(rows) else []
    probs = np.array([[p.probabilities[a] for a in actions] for p in preds]).reshape(len(preds), len(actions))
    conf = np.array([p.confidence for p in preds])
    votes = (np.stack([normalise(runbook_evidence(e.alertname, sections.runbook_sections(e.alertname), actions)[0]) for e in rows])
             if len(rows) else np.zeros((0, len(actions))))
    return probs, conf, votes
