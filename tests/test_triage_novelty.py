"""Confidence that knows novelty: an alert unlike anything the model trained on gets a
confidence below the low threshold, so it goes to a human.

Trained for real through the product's own path (``triage.training.fit_models``): the
shipped dataset (an empty corpus: the demo's runbook and scenario, restyled), real MiniLM
embeddings, a tiny TRM with MLX on CPU and the logistic regression, calibrated on the
shipped calibration set. Nothing is pinned.
"""

from __future__ import annotations

import numpy as np
import pytest

from sreconsole.config import load_settings
from sreconsole.domain.alerts import Alert, fingerprint
from sreconsole.knowledge.embed_cache import make_embed
from sreconsole.triage.catalog import load_catalog
from sreconsole.triage.dataset import rule_label
from sreconsole.triage.engine import TriageEngine
from sreconsole.triage.examples import alert_text
from sreconsole.triage.trm import TRMConfig, TrainConfig, TRMRunner, features, nearest_similarity, novelty_factor

FAR_LABELS = {"alertname": "QuarterlyBakeSaleSignupsLow", "team": "parents-association"}
FAR = Alert(fingerprint(FAR_LABELS), FAR_LABELS,
            {"summary": "Fewer volunteers signed up for the spring bake sale than last year",
             "description": "The sourdough starter needs feeding twice a day and the choir rehearsal moved to Thursday evening."})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import os

    from sreconsole.triage.training import SectionIndex, TrainOptions, build_training_set, fit_models, runbook_files, shipped_calibration

    root = tmp_path_factory.mktemp("novelty")
    (root / "corpus").mkdir()
    os.environ["SRECONSOLE_DATA_DIR"] = str(root / "data")
    try:
        settings = load_settings()
    finally:
        del os.environ["SRECONSOLE_DATA_DIR"]
    options = TrainOptions(phrasings=0)  # few rows to embed: the test is about calibration, not data
    _, _, splits = build_training_set(root / "corpus", options=options)
    catalog = load_catalog()
    index = {a: i for i, a in enumerate(catalog.ids)}
    embed = make_embed(settings)
    config = TRMConfig(actions=catalog.ids, width=32, n=2, T=2, n_sup=2, embed_model=embed.embedder.model_id)
    xs = {k: features([e.text() for e in v], embed, config.hash_dim) for k, v in splits.items()}
    ys = {k: np.array([index[e.action] for e in v], dtype=np.int64) for k, v in splits.items()}
    full = shipped_calibration(splits, options)
    cal = type(full)(full.texts[::2], full.rules[::2], full.expected[::2], full.origin[::2])  # every other row is enough here
    cal_x = features(cal.texts, embed, config.hash_dim)
    result = fit_models(config, splits, xs, ys, TrainConfig(epochs=2, batch_size=32, lr=2e-3), options, cal, cal_x,
                        SectionIndex(runbook_files(None)))
    return result.checkpoint, embed, splits, xs


@pytest.mark.parametrize("kind", ["logreg", "trm"])
def test_an_alert_far_from_every_training_example_goes_to_a_human(trained, kind):
    ck, embed, splits, xs = trained
    runner = TRMRunner(ck, kind)
    assert runner.novelty_floor is not None and runner.calibration is not None  # fitted, not defaulted
    x = features([alert_text(FAR.alertname, FAR.labels, FAR.annotations)], embed, ck.config.hash_dim)
    (pred,) = runner.predict_features(x, [rule_label(FAR.alertname, FAR.annotations["summary"], FAR.annotations["description"]).action])
    assert pred.similarity is not None and pred.similarity < runner.novelty_floor
    assert pred.confidence < 0.5, (pred, runner.novelty_floor)
    # Through the engine: the proposal requires a human, and says why.
    engine = TriageEngine(load_catalog(), runner=runner, embed=embed)
    proposal = engine.propose(FAR)
    assert proposal.requires_human_review and proposal.confidence is not None and proposal.confidence < 0.5
    assert proposal.similarity == pytest.approx(pred.similarity)


def test_a_training_alert_is_familiar_and_keeps_its_confidence(trained):
    ck, embed, splits, xs = trained
    runner = TRMRunner(ck, "logreg")
    row = splits["train"][0]
    (pred,) = runner.predict_features(xs["train"][:1], [rule_label(row.alertname, row.annotations["summary"], row.annotations["description"]).action])
    assert pred.similarity == pytest.approx(1.0, abs=1e-4)
    assert runner.novelty_floor < 1.0 and novelty_factor(np.array([pred.similarity]), runner.novelty_floor)[0] == 1.0


def test_novelty_factor_and_nearest_similarity():
    bank = np.eye(3, dtype=np.float32)
    x = np.array([[1, 0, 0, 9], [0.6, 0.8, 0, 9], [-1, 0, 0, 9]], dtype=np.float32)  # the 4th column is not embedding
    sims = nearest_similarity(x, bank, embed_dim=3)
    np.testing.assert_allclose(sims, [1.0, 0.8, 0.0], atol=1e-6)
    # Floor 0.5: at or above it no change; 0.05 below it half; 0.1 or more below it zero.
    np.testing.assert_allclose(novelty_factor(np.array([0.9, 0.5, 0.45, 0.4, 0.0]), 0.5), [1, 1, 0.5, 0, 0], atol=1e-9)
    assert novelty_factor(None, 0.5) is None and novelty_factor(np.array([0.1]), None) is None
