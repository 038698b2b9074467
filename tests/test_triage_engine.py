"""The TRM, its checkpoints, the tiered decision flow, the triage CLI and its evaluation.

Real components throughout: the model is trained for real (MLX on CPU, tiny sizes), the
catalog is the shipped one, the CLI runs as a subprocess. Only the engine's threshold tests
pin a prediction's confidence, since the thresholds are what they test.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sreconsole.domain.alerts import Alert, fingerprint
from sreconsole.domain.proposal import Proposal
from sreconsole.triage.catalog import bind, load_catalog, render
from sreconsole.triage.engine import TriageEngine
from sreconsole.triage.evaluation import evaluate
from sreconsole.triage.trm import (
    METADATA,
    WEIGHTS,
    Checkpoint,
    CheckpointError,
    Prediction,
    TrainConfig,
    TRMConfig,
    TRMRunner,
    _expected_shapes,
    build_mlx_model,
    train,
)

NOW = datetime(2026, 11, 23, 18, 0, 30, tzinfo=timezone.utc)
EMBED_DIM = 16
CATALOG = load_catalog()
GOOD = {"alertname": "KubePodCrashLooping", "namespace": "payments", "pod": "payments-api-7d9f8b6c4-x2kzq"}


# -- helpers ---------------------------------------------------------------------------------


def tiny_config(actions=CATALOG.ids) -> TRMConfig:
    return TRMConfig(actions=tuple(actions), embed_dim=EMBED_DIM, hash_dim=64, width=32, n=2, T=2, n_sup=2)


def separable(n: int, classes: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(123).normal(size=(classes, dim)).astype(np.float32)
    y = rng.integers(0, classes, n)
    return (centers[y] * 3 + rng.normal(scale=0.3, size=(n, dim))).astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def trained():
    cfg = tiny_config()
    xt, yt = separable(240, len(cfg.actions), cfg.input_dim, 1)
    xv, yv = separable(120, len(cfg.actions), cfg.input_dim, 2)
    result = train(cfg, xt, yt, xv, yv, TrainConfig(epochs=3, batch_size=16, lr=3e-3, ema=0.5))
    return SimpleNamespace(ck=result.checkpoint, xv=xv, yv=yv, result=result)


def make_alert(labels: dict, **annotations: str) -> Alert:
    return Alert(fingerprint=fingerprint(labels), labels=labels, annotations=annotations)


def zero_embed(texts: list[str]) -> np.ndarray:
    return np.zeros((len(texts), EMBED_DIM), dtype=np.float32)


def engine(runner=None, store=None, **kw) -> TriageEngine:
    return TriageEngine(CATALOG, runner=runner, embed=zero_embed, store=store, clock=lambda: NOW, **kw)


def pinned(ck: Checkpoint, action: str, confidence: float, calls: list | None = None) -> TRMRunner:
    """A real runner whose prediction is pinned (what the threshold logic sees)."""
    runner = TRMRunner(ck)
    probs = {a: (0.9 if a == action else 0.1 / (len(ck.config.actions) - 1)) for a in ck.config.actions}

    def predict(x, rules=None):
        if calls is not None:
            calls.append(len(x))
        return [Prediction(action, confidence, probs) for _ in range(len(x))]

    runner.predict_features = predict  # type: ignore[method-assign]
    return runner


class Store:
    """An in-process EvidenceStore: runbook sections and similar incidents, as given."""

    def __init__(self, sections=(), incidents=()) -> None:
        self.sections, self.incidents = list(sections), list(incidents)

    def runbook_sections(self, alertname):
        return self.sections

    def similar_incidents(self, alertname, labels, summary="", k=3, now=None):
        return self.incidents


# -- 1. numerics -------------------------------------------------------------------------------


def test_numpy_inference_matches_the_mlx_forward(trained):
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    ck = trained.ck
    model = build_mlx_model(ck.config)
    model.update(tree_unflatten([(k, mx.array(v)) for k, v in ck.params.items()]))
    x, y, z = model.start(mx.array(trained.xv))
    for _ in range(ck.config.n_sup):
        y, z, logits, halt = model.step(x, y, z)
    mx.eval(logits, halt)
    conf_mlx = 1 / (1 + np.exp(-np.array(halt) / ck.temperature))
    probs_mlx = np.exp(np.array(logits) - np.array(logits).max(1, keepdims=True))
    probs_mlx /= probs_mlx.sum(1, keepdims=True)

    preds = TRMRunner(ck).predict_features(trained.xv)
    np_conf = np.array([p.confidence for p in preds])
    np_probs = np.array([[p.probabilities[a] for a in ck.config.actions] for p in preds])
    np.testing.assert_allclose(np_conf, conf_mlx, atol=1e-4)
    np.testing.assert_allclose(np_probs, probs_mlx, atol=1e-4)
    assert [p.action for p in preds] == [ck.config.actions[i] for i in np.array(logits).argmax(1)]


def test_training_learns_separable_data_and_records_metadata(trained):
    ck = trained.ck
    assert ck.metadata["metrics"]["validation"]["accuracy"] > 0.8
    preds = TRMRunner(ck).predict_features(trained.xv)
    acc = np.mean([p.action == ck.config.actions[y] for p, y in zip(preds, trained.yv)])
    assert acc > 0.8
    assert all(0.0 <= p.confidence <= 1.0 for p in preds)
    assert all(math.isclose(sum(p.probabilities.values()), 1.0, rel_tol=1e-5) for p in preds)
    assert re.fullmatch(r"v\d{8}-[0-9a-f]{7}", ck.version)
    assert ck.metadata["parameters"] == sum(v.size for v in ck.params.values())
    assert math.isfinite(ck.temperature) and ck.temperature > 0
    assert len(trained.result.history) == 3


def test_parameter_count_of_the_shipped_size_is_under_7m():
    for cfg in (tiny_config(), TRMConfig(actions=CATALOG.ids)):
        assert sum(math.prod(s) for s in _expected_shapes(cfg).values()) <= 7_000_000


def test_checkpoint_round_trips(trained, tmp_path):
    ck = trained.ck
    loaded = Checkpoint.load(ck.save(tmp_path / "m"))
    assert loaded.config == ck.config
    assert loaded.version == ck.version and loaded.temperature == ck.temperature
    assert TRMRunner(loaded).predict_features(trained.xv) == TRMRunner(ck).predict_features(trained.xv)


# -- 2. corrupt and mismatched checkpoints -------------------------------------------------


def _truncate(d: Path) -> None:
    raw = (d / WEIGHTS).read_bytes()
    (d / WEIGHTS).write_bytes(raw[: len(raw) // 2])


def _tiny_header(d: Path) -> None:
    (d / WEIGHTS).write_bytes(b"\x01\x02\x03")


def _wider_config(d: Path) -> None:
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "width": 64}))


def _no_metadata(d: Path) -> None:
    (d / METADATA).unlink()


def _nan_weights(d: Path) -> None:
    ck = Checkpoint.load(d)
    ck.params["head.weight"][0, 0] = np.nan
    ck.save(d)


@pytest.mark.parametrize(
    ("damage", "expect"),
    [
        (_truncate, "not a readable safetensors file"),
        (_tiny_header, "not a readable safetensors file"),
        (_wider_config, "the config says"),
        (_no_metadata, "metadata.json is missing"),
        (_nan_weights, "head.weight holds NaN"),
    ],
)
def test_bad_checkpoints_are_refused_and_leave_the_engine_model_less(trained, tmp_path, damage, expect):
    d = trained.ck.save(tmp_path / "m")
    damage(d)
    with pytest.raises(CheckpointError) as err:
        Checkpoint.load(d)
    assert expect in str(err.value) and str(d) in str(err.value)

    eng = TriageEngine.load(CATALOG, d, embed=zero_embed, clock=lambda: NOW)
    assert eng.runner is None and expect in eng.model_error and eng.model_version == ""
    p = eng.propose(make_alert(GOOD))
    assert p.method == "none" and p.action == "escalate" and p.confidence is None
    assert p.requires_human_review
    assert any(n.startswith("no trained model") and expect in n for n in p.notes)


def test_missing_model_dir_and_unknown_actions_leave_the_engine_model_less(trained, tmp_path):
    eng = TriageEngine.load(CATALOG, tmp_path / "nowhere", embed=zero_embed)
    assert eng.runner is None and "no model here" in eng.model_error
    other = replace(trained.ck, config=replace(trained.ck.config, actions=("reboot-cluster", *trained.ck.config.actions[1:])))
    eng = engine(TRMRunner(other))
    assert eng.runner is None and "reboot-cluster" in eng.model_error


# -- 3. the decision flow --------------------------------------------------------------------


def test_annotation_wins_with_the_rendered_command():
    action = CATALOG.get("pod-restart")
    assert action.risk == "low"
    p = engine().propose(make_alert(GOOD, lambda_function="pod-restart"))
    expected = render(action, bind(action, GOOD).params, now=NOW)
    # Named by the rule, not scored: no confidence is claimed, and with no model to check it
    # the proposal says so (it stands: the rule's author named it).
    assert (p.method, p.action, p.confidence, p.calibrated) == ("annotation", "pod-restart", None, False)
    assert any("no model checked" in n for n in p.notes) and p.named_ref == "annotation lambda_function"
    assert p.command == expected.command and p.command.startswith("kubectl delete pod")
    assert p.api["method"] == expected.api.method and p.api["path"] == expected.api.path
    assert p.parameters == {"name": GOOD["pod"], "namespace": "payments"}
    assert p.requires_human_review is False and p.review_reasons == ()
    assert p.evidence[0].kind == "annotation"


def test_unknown_lambda_function_is_ignored_with_a_note():
    p = engine().propose(make_alert(GOOD, lambda_function="format-disks"))
    assert p.method == "none" and p.action == "escalate"
    assert any("'format-disks' is not in the action catalog" in n for n in p.notes)


HOSTILE = ["default; rm -rf /", "$(reboot)", "`reboot`", "api\nkubectl delete ns prod", "x" * 300]


@pytest.mark.parametrize("label", ["namespace", "pod"])
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_labels_never_reach_a_command(label, value):
    labels = {**GOOD, label: value}
    p = engine().propose(make_alert(labels, lambda_function="pod-restart"))
    param = {"namespace": "namespace", "pod": "name"}[label]
    assert p.requires_human_review
    assert any(r.startswith(f"parameter {param} is invalid") for r in p.review_reasons)
    assert p.command == "" and p.api is None
    out = p.as_dict()
    assert value not in json.dumps(out["command"]) and value not in out["parameters"].values()
    assert param in out["missing_parameters"]


def test_bare_alert_without_model_or_store_escalates():
    p = engine().propose(make_alert({"alertname": "Mystery"}))
    assert (p.action, p.method, p.confidence) == ("escalate", "none", None)
    assert p.requires_human_review and p.model_version == ""


def test_runbook_action_section_is_cited():
    section = SimpleNamespace(path="runbooks/pvc.md", alertname="PVCFull", format="seed", part="action", start_line=12, end_line=14, text="`expand-pvc`")
    labels = {"alertname": "PVCFull", "namespace": "payments", "persistentvolumeclaim": "data-0"}
    p = engine(store=Store([section]), trusted=lambda path: path.startswith("runbooks/")).propose(make_alert(labels))
    assert (p.method, p.action, p.confidence) == ("runbook", "expand-pvc", None)
    assert [e.ref for e in p.evidence] == ["runbooks/pvc.md:12-14"] and p.named_ref == "runbooks/pvc.md:12-14"
    # size has no label: the operator decides, so the proposal is held for review.
    assert "size" in p.missing_parameters and p.command == "" and p.requires_human_review


def test_an_untrusted_runbook_names_nothing():
    section = SimpleNamespace(path="/tmp/notes/pvc.md", alertname="PVCFull", format="seed", part="action", start_line=3, end_line=3, text="`cordon-node`")
    labels = {"alertname": "PVCFull", "namespace": "payments", "persistentvolumeclaim": "data-0"}
    p = engine(store=Store([section])).propose(make_alert(labels))
    assert p.action != "cordon-node" and p.method == "none"
    (item,) = [e for e in p.evidence if e.kind == "runbook"]
    assert item.weight == 0.0 and item.action == "" and "untrusted" in item.summary and item.ref == "/tmp/notes/pvc.md:3-3"


def test_a_runbook_the_model_contradicts_goes_to_a_human(trained):
    section = SimpleNamespace(path="runbooks/crash.md", alertname="KubePodCrashLooping", format="seed", part="action", start_line=7, end_line=7, text="`cordon-node`")
    runner = pinned(trained.ck, "pod-restart", 0.93)
    p = engine(runner, Store([section]), trusted=lambda path: True).propose(make_alert(GOOD))
    assert (p.method, p.action, p.confidence) == ("runbook", "cordon-node", None)
    assert (p.model_action, p.model_confidence) == ("pod-restart", 0.93)
    assert p.requires_human_review and p.shown_method == "human"
    assert any("the runbook (runbooks/crash.md:7-7) names cordon-node but the model proposes pod-restart at 0.93" in r for r in p.review_reasons)
    agreeing = engine(pinned(trained.ck, "cordon-node", 0.93), Store([section]), trusted=lambda path: True).propose(make_alert(GOOD))
    assert agreeing.method == "runbook" and not any("names cordon-node but" in r for r in agreeing.review_reasons)


INCIDENT = SimpleNamespace(incident_id="INC-7", action="pod-restart", outcome="resolved", score=0.9, reason="crashloop")


@pytest.mark.parametrize(
    ("conf", "store", "method", "review"),
    [
        (0.95, None, "trm", False),
        (0.8, None, "trm", False),
        (0.6, None, "trm", False),
        (0.3, None, "trm", True),
        (0.6, Store(incidents=[INCIDENT]), "trm+rag", None),
    ],
)
def test_thresholds(trained, conf, store, method, review):
    runner = pinned(trained.ck, "pod-restart", conf)
    p = engine(runner, store).propose(make_alert(GOOD))
    assert p.method == method and p.action == "pod-restart"
    assert p.model_version == trained.ck.version
    assert p.command.startswith("kubectl delete pod")
    no_evidence = any("no runbook section or similar incident" in n for n in p.notes)
    assert no_evidence == (method == "trm" and conf < 0.8)
    if review is not None:
        assert p.requires_human_review is review
    if conf < 0.5:
        assert "confidence 0.30 is below 0.50" in p.review_reasons
    if method == "trm+rag":
        assert [e.ref for e in p.evidence] == ["incident:INC-7"]
        assert 0 < p.confidence < 1 and p.confidence != conf


def test_high_confidence_skips_retrieval(trained):
    class Refusing(Store):
        def similar_incidents(self, *a, **k):
            raise AssertionError("retrieval was not needed")

    p = engine(pinned(trained.ck, "pod-restart", 0.9), Refusing()).propose(make_alert(GOOD))
    assert p.method == "trm" and p.notes == ()


def test_retrieval_only_without_a_model_stays_below_low():
    p = engine(store=Store(incidents=[INCIDENT])).propose(make_alert(GOOD))
    assert p.method == "retrieval" and p.action == "pod-restart"
    assert p.confidence < 0.5 and p.requires_human_review


def test_proposals_are_cached_per_fingerprint_and_model(trained):
    calls: list[int] = []
    eng = engine(pinned(trained.ck, "pod-restart", 0.9, calls))
    alert = make_alert(GOOD)
    first = eng.propose(alert)
    assert eng.propose(alert) is first and calls == [1]
    eng.propose_many([alert, make_alert({**GOOD, "pod": "other-0"})])
    assert calls == [1, 1]


def calibration_rows(n: int, right: int):
    """``n`` alerts of which the first ``right`` expect the pinned model's pod-restart and the
    rest expect escalate: a model that is right right/n of the time on them."""
    from sreconsole.triage.training import LabelledAlerts

    alerts = [make_alert({**GOOD, "pod": f"payments-api-7d9f8b6c4-{i:05d}"}) for i in range(n)]
    expected = [["pod-restart"] if i < right else ["escalate"] for i in range(n)]
    return LabelledAlerts([a.alertname for a in alerts], ["escalate"] * n, expected, ["test"] * n, alerts)


def test_flow_calibration_fits_the_rescored_confidence_on_the_stores_evidence(trained):
    """The trm+rag confidence comes from the re-scorer; fitted on calibration alerts through
    the engine's own store, it says how often such re-scored proposals are right (here 1 in
    2, however confident the default weights were), and the checkpoint records what it was
    fitted on."""
    import copy

    from sreconsole.triage.training import calibrate_flow

    ck = copy.deepcopy(trained.ck)
    misleading = SimpleNamespace(incident_id="INC-9", action="cordon-node", outcome="resolved", score=0.9, reason="unrelated")
    eng = engine(pinned(ck, "pod-restart", 0.6), Store(incidents=[misleading]))
    before = eng.propose(make_alert(GOOD))
    assert before.method == "trm+rag" and before.confidence > 0.7  # the unfitted default weights claim more
    entry = calibrate_flow(eng, calibration_rows(20, 10), "a test store")
    assert entry["fitted_on"] == 20 and entry["calibration_rows"] == 20 and entry["store"] == "a test store"
    assert ck.metadata["rescorers"]["trm"] is entry
    after = eng.propose(make_alert(GOOD))  # the cache was cleared: re-scored with the fitted weights
    assert after.method == "trm+rag" and after.action == "pod-restart"
    assert after.confidence == pytest.approx(0.5, abs=0.02)
    # Right half the time: no low threshold lets proposals through at 97 %.
    assert entry["on_calibration"]["low_threshold_for_target"]["found"] is False
    assert entry["on_calibration"]["accuracy"] == pytest.approx(0.5)
    # A fresh engine on the saved metadata re-scores alike.
    again = engine(pinned(ck, "pod-restart", 0.6), Store(incidents=[misleading])).propose(make_alert(GOOD))
    assert again.confidence == pytest.approx(after.confidence)


def test_too_few_calibration_alerts_with_evidence_leave_the_evidence_unused(trained):
    import copy

    from sreconsole.triage.training import calibrate_flow

    ck = copy.deepcopy(trained.ck)
    eng = engine(pinned(ck, "pod-restart", 0.6), Store(incidents=[INCIDENT]))
    entry = calibrate_flow(eng, calibration_rows(5, 5), "a test store")
    assert entry["fitted_on"] == 5 and "not used" in entry["note"]
    p = eng.propose(make_alert(GOOD))
    # Shown (the incident is evidence) but neither the action nor the confidence moved.
    assert p.method == "trm+rag" and [e.ref for e in p.evidence] == ["incident:INC-7"]
    assert (p.action, p.confidence) == ("pod-restart", pytest.approx(0.6))


def test_fit_rescorer_accepts_every_acceptable_action():
    """A calibration row may have several right actions: the re-scorer's accuracy counts
    any of them, and evidence that picks the second acceptable one is not held against it."""
    from sreconsole.triage.engine import fit_rescorer

    probs = np.tile([0.7, 0.2, 0.1], (10, 1))
    votes = np.tile([0.0, 1.0, 0.0], (10, 1))
    ok = np.tile([False, True, False], (10, 1))
    ok[:5, 0] = True  # half the rows accept the model's own answer too
    rescorer, info = fit_rescorer(probs, probs.max(axis=1), votes, ok)
    # beta 0 keeps action 0 (right 5 of 10); a large beta follows the evidence to action 1 (10 of 10).
    assert rescorer.beta > 0 and info["accuracy_with_evidence"] == 1.0 and info["model_accuracy_on_them"] == 0.5


# -- 4. the CLI --------------------------------------------------------------------------------


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SRECONSOLE_DATA_DIR": str(tmp_path / "cli-data"), "SRECONSOLE_KNOWLEDGE_ENABLED": "0"}
    return subprocess.run([sys.executable, "-m", "sreconsole", *args], capture_output=True, text=True, env=env, timeout=120)


def am_alert(lambda_function: str = "pod-restart", **labels: str) -> dict:
    return {"labels": {**GOOD, **labels}, "annotations": {"lambda_function": lambda_function, "summary": "crashloop"}, "startsAt": "2026-11-23T17:00:00Z"}


def write_jsonl(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_cli_triage_one_alert(tmp_path):
    f = tmp_path / "alert.json"
    f.write_text(json.dumps({"alert": am_alert()}))
    r = cli(tmp_path, "triage", str(f), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("action", "parameters", "command", "confidence", "method", "requires_human_review", "model_version", "evidence"):
        assert key in out
    assert (out["action"], out["method"], out["confidence"]) == ("pod-restart", "annotation", None)
    assert out["command"].startswith("kubectl delete pod payments-api-7d9f8b6c4-x2kzq -n payments")


def test_cli_triage_batch_reports_bad_lines(tmp_path):
    f = write_jsonl(tmp_path / "b.jsonl", [{"alert": am_alert()}, "{not json", {"labels": {"alertname": "X"}}])
    r = cli(tmp_path, "triage", "--batch", str(f), "--json")
    assert r.returncode == 1
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 3
    assert lines[0]["action"] == "pod-restart"
    assert lines[1]["line"] == 2 and "not JSON" in lines[1]["error"]
    assert lines[2]["line"] == 3 and '"alert"' in lines[2]["error"]
    assert "no trained model" in r.stderr


@pytest.mark.parametrize(("expected", "accuracy"), [("pod-restart", 1.0), ("escalate", 0.0)])
def test_cli_eval(tmp_path, expected, accuracy):
    rows = [{"alert": am_alert(pod=f"api-{i}"), "expected": [expected]} for i in range(3)]
    r = cli(tmp_path, "eval", "triage", str(write_jsonl(tmp_path / "e.jsonl", rows)), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("accuracy", "macro_f1", "ece", "reliability", "thresholds"):
        assert key in out
    assert out["n"] == 3 and out["accuracy"] == accuracy and out["errors"] == []


def test_cli_missing_files_are_usage_errors(tmp_path):
    assert cli(tmp_path, "eval", "triage", str(tmp_path / "nope.jsonl"), "--json").returncode == 2
    assert cli(tmp_path, "triage", "--batch", str(tmp_path / "nope.jsonl")).returncode == 2


# -- 5. evaluation -----------------------------------------------------------------------------


def proposal(action: str, confidence: float | None, review: bool = False) -> Proposal:
    return Proposal(fingerprint="f", alertname="A", action=action, title=action, parameters={}, command="", api=None,
                    confidence=confidence, method="trm", requires_human_review=review)


def test_evaluate_by_hand():
    props = [proposal("a", 0.9), proposal("a", 0.9, True), proposal("b", 0.25), proposal("b", 0.25, True)]
    expected = [["a"], ["b"], ["b"], ["b", "c"]]
    r = evaluate(props, expected)
    assert r["n"] == 4 and r["accuracy"] == 0.75
    # a: tp 1, fp 1, fn 0 -> 2/3; b: tp 2, fp 0, fn 1 -> 4/5; c: never first, never proposed.
    assert r["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    # bin 0.9: confidence .9, accuracy .5 (2 rows); bin 0.2: confidence .25, accuracy 1 (2 rows)
    assert r["ece"] == pytest.approx((2 * 0.4 + 2 * 0.75) / 4)
    assert [(b["from"], b["n"], b["accuracy"]) for b in r["reliability"]] == [(0.2, 2, 1.0), (0.9, 2, 0.5)]
    at = {t["threshold"]: t for t in r["thresholds"]}
    assert at[0.5]["coverage"] == 0.5 and at[0.5]["accuracy"] == 0.5
    assert at[0.9]["coverage"] == 0.5
    assert r["requires_human_review"] == 0.5 and r["methods"] == {"trm": 4}


def test_evaluate_empty_and_unscored():
    assert evaluate([], [])["accuracy"] == 0.0
    r = evaluate([proposal("escalate", None)], [["escalate"]])
    assert r["accuracy"] == 1.0 and r["ece"] == pytest.approx(1.0)


# -- a bad metadata.json leaves the engine model-less (it once crashed TriageEngine.load)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: [],
        lambda m: {**m, "temperature": "hot"},
        lambda m: {**m, "rescorer": {"weights": [1, 2]}},
        lambda m: {**m, "rescorer": {"beta": "x"}},
    ],
    ids=["not-an-object", "temperature-not-a-number", "rescorer-weights", "rescorer-beta"],
)
def test_bad_metadata_leaves_the_engine_model_less(trained, tmp_path, mutate):
    d = trained.ck.save(tmp_path / "m")
    (d / METADATA).write_text(json.dumps(mutate(json.loads((d / METADATA).read_text()))))
    eng = TriageEngine.load(CATALOG, d, embed=zero_embed)
    assert eng.runner is None and "metadata" in eng.model_error
