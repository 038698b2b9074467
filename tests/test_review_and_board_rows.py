"""Issue 16 items 3 and 4, cell by cell: what the Review row and the Training board row say.

The cells are built by the panes' own ``_cells`` from a record read back from a real review
store (SQLite) and from a run's metrics; the app around them is reduced to what the cells
read (its theme and thresholds), so the test needs no terminal.
"""

from __future__ import annotations

from datetime import datetime, timezone
from dataclasses import replace
from types import SimpleNamespace

from textual.theme import BUILTIN_THEMES

from sreconsole.config import load_settings
from sreconsole.domain.alerts import Alert
from sreconsole.domain.proposal import EvidenceItem, Proposal
from sreconsole.pipeline.runs import Run
from sreconsole.review.paths import review_store_path
from sreconsole.review.store import ReviewStore
from sreconsole.tui.panes.review import COLUMNS as REVIEW_COLUMNS
from sreconsole.tui.panes.review import ReviewPane
from sreconsole.tui.panes.training import COLUMNS as BOARD_COLUMNS
from sreconsole.tui.panes.training import TrainingPane, metrics_lines

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=timezone.utc)


def _pane(settings):
    return SimpleNamespace(app=SimpleNamespace(current_theme=BUILTIN_THEMES["textual-dark"], settings=settings), edits={})


def _queued(settings, fp: str, **kw):
    labels = {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": f"api-{fp}"}
    proposal = Proposal(fingerprint=fp, alertname="KubePodCrashLooping", title="restart the pod",
                        parameters={"namespace": "shop", "pod": f"api-{fp}"}, command="kubectl delete pod", api=None, risk="low", **kw)
    with ReviewStore(review_store_path(settings)) as store:
        return store.enqueue(proposal, Alert(fp, labels, {"summary": "restarts"}, starts_at=T0), now=T0)


def _row(settings, record) -> dict[str, str]:
    cells = ReviewPane._cells(_pane(settings), record)
    return {key: cell.plain for (key, *_), cell in zip(REVIEW_COLUMNS, cells)}


def test_a_runbook_named_action_shows_its_source_and_the_models_opinion_not_a_confidence():
    settings = load_settings()
    record = _queued(
        settings, "fp-named", action="cordon-node", confidence=1.0, method="runbook", requires_human_review=True,
        review_reasons=("the runbook names cordon-node but the model proposes pod-restart (0.91)",),
        evidence=(EvidenceItem("runbook", "/srv/runbooks/shop.md:17-17", "names cordon-node", "cordon-node", 1.0),
                  EvidenceItem("model", "model v1", "the model's own proposal", "pod-restart", 0.91)),
    )
    row = _row(settings, record)
    assert row["conf"] == "—"  # a named action's 1.0 is no calibrated probability: never shown
    assert row["method"] == "human"  # the flag ...
    assert "shop.md:17" in row["why"] and "model pod-restart 0.91" in row["why"]  # ... its source, the model beside it
    assert "names cordon-node but the model proposes pod-restart" in row["why"]  # ... and the reason, in the row


def test_a_calibrated_confidence_is_shown_and_an_uncalibrated_one_is_not():
    settings = load_settings()
    trm = _row(settings, _queued(settings, "fp-trm", action="pod-restart", confidence=0.87, method="trm", requires_human_review=False))
    assert (trm["conf"], trm["method"], trm["why"]) == ("0.87", "trm", "")
    rag = _row(settings, _queued(settings, "fp-rag", action="pod-restart", confidence=0.42, method="retrieval", requires_human_review=True,
                                 review_reasons=("confidence 0.42 below the low threshold 0.50",)))
    assert rag["conf"] == "—" and rag["method"] == "human" and "below the low threshold" in rag["why"]


def test_the_board_row_puts_balanced_accuracy_and_the_majority_baseline_beside_accuracy():
    metrics = {"accuracy": 0.9137, "balanced_accuracy": 0.6449, "majority_baseline": 0.9012, "ece": 0.0237, "macro_f1": 0.61, "test_n": 81}
    run = Run(id="r20261201-abc123", model="trm", trigger="manual", status="succeeded", created_at=datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc),
              version="v20261201-abc123", metrics=metrics)
    pane = SimpleNamespace(app=SimpleNamespace(current_theme=BUILTIN_THEMES["textual-dark"]))
    row = {key: cell.plain for (key, *_), cell in zip(BOARD_COLUMNS, TrainingPane._cells(pane, run))}
    assert (row["acc"], row["bal"], row["base"], row["ece"]) == ("0.91", "0.64", "0.90", "0.02")  # rounded, two decimals
    detail = " ".join(t.plain for t in metrics_lines(metrics))
    assert "accuracy 0.914" in detail and "balanced 0.645" in detail and "majority baseline 0.901" in detail and "ECE 0.024" in detail
    empty = {key: cell.plain for (key, *_), cell in zip(BOARD_COLUMNS, TrainingPane._cells(pane, replace(run, metrics={})))}
    assert (empty["acc"], empty["bal"], empty["base"], empty["ece"]) == ("—", "—", "—", "—")
