"""Did the fix work (issue 21, item 1), against real SQLite files: an executed action is
watched through its alert; effective when the alert resolves within the action's window
(from the catalog), not effective when it still fires at the window's end or comes back
within the window after resolving; each verdict on the proposal and in the audit trail, the
history line Review shows, and the verdicts as training labels.

The end-to-end version (real Alertmanager, the Kubernetes API stand-in) is
test_live_outcomes.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sreconsole.domain.alerts import Alert
from sreconsole.domain.operator import Operator
from sreconsole.domain.proposal import Proposal
from sreconsole.review import audit, effect
from sreconsole.review.store import ReviewStore
from sreconsole.triage.catalog_file import load_catalog

T0 = datetime(2026, 12, 2, 12, 0, 0, tzinfo=timezone.utc)
ALICE = Operator("alice", "10.0.0.5")
WINDOWS = {a.id: a.effect_window_s for a in load_catalog().actions if a.effect_window_s}


def crashloop(fp: str = "fp-crash", pod: str = "checkout-7d9f-abcde") -> tuple[Proposal, Alert]:
    labels = {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": pod, "deployment": "checkout"}
    alert = Alert(fp, labels, {"summary": "crash looping"}, starts_at=T0)
    proposal = Proposal(
        fingerprint=fp, alertname="KubePodCrashLooping", action="pod-restart", title="Restart pod",
        parameters={"name": pod, "namespace": "shop"}, command=f"kubectl delete pod {pod} -n shop",
        api={"method": "DELETE", "path": f"/api/v1/namespaces/shop/pods/{pod}"},
        confidence=0.9, method="trm", requires_human_review=False, risk="low", reversible=False,
    )
    return proposal, alert


def executed(store: ReviewStore, at: datetime = T0) -> int:
    record = store.enqueue(*crashloop(), now=at, operator=ALICE, source="am")
    store.decide(record.id, "approve", ALICE, "crash loop", now=at)
    store.record_result(record.id, "executed", {"calls": [], "undo": None}, ALICE, now=at)
    return record.id


def firing(fp: str = "fp-crash", pod: str = "checkout-7d9f-abcde") -> dict:
    return {"fingerprint": fp, "labels": crashloop(fp, pod)[1].labels, "state": "firing"}


@pytest.fixture
def store(tmp_path: Path):
    s = ReviewStore(tmp_path / "review.sqlite")
    yield s
    s.close()


def test_the_catalog_gives_each_changing_action_a_window_and_read_only_ones_none():
    catalog = load_catalog()
    assert catalog.get("pod-restart").effect_window_s == 600
    assert catalog.get("rollout-restart").effect_window_s == 1800
    assert catalog.get("pod-check-status").effect_window_s is None and catalog.get("escalate").effect_window_s is None


def test_a_read_only_action_with_a_window_is_refused(tmp_path: Path):
    from sreconsole.triage.catalog_model import CatalogError

    extra = tmp_path / "actions.toml"
    extra.write_text('[[action]]\nid = "look"\ntitle = "Look"\ndescription = "d"\nrisk = "low"\nreversible = true\n'
                     'rollback = "none"\nkubectl = ["get", "pod", "{name}"]\neffect_window = "5m"\n'
                     '  [[action.parameters]]\n  name = "name"\n  label = "pod"\n  pattern = "[a-z]+"\n'
                     '  [action.operation]\n  verb = "get"\n  api = "core/v1"\n  resource = "nodes"\n  namespaced = false\n')
    with pytest.raises(CatalogError, match="effect_window"):
        load_catalog(extra)


def test_resolved_within_the_window_is_effective_and_audited(store: ReviewStore, tmp_path: Path):
    pid = executed(store)
    assert store.get(pid).outcome == "watching"
    assert store.watch_outcomes([firing()], WINDOWS, now=T0 + timedelta(minutes=2)) == []  # still within the window
    changes = store.watch_outcomes([], WINDOWS, now=T0 + timedelta(minutes=3), operator=ALICE)
    assert changes == [(pid, "watching", "effective")]
    record = store.get(pid)
    assert record.outcome == "effective" and record.outcome_detail["resolved_after_s"] == 180
    assert effect.history_text(record, T0 + timedelta(minutes=12)) == "executed 12 min ago — resolved after 3 min, watching for a return"
    entries = [e for e in audit.export(tmp_path / "review.sqlite") if e["event"] == "outcome"]
    assert len(entries) == 1 and "resolved 3 min after" in entries[0]["reason"]
    # the watch ends one window after resolving: final, and audited again
    assert store.watch_outcomes([], WINDOWS, now=T0 + timedelta(minutes=14)) == [(pid, "effective", "effective")]
    assert store.get(pid).outcome_detail["final"] == 1
    assert store.watch_outcomes([], WINDOWS, now=T0 + timedelta(hours=1)) == []
    assert audit.verify(tmp_path / "review.sqlite").ok


def test_still_firing_at_the_end_of_the_window_is_not_effective(store: ReviewStore):
    pid = executed(store)
    assert store.watch_outcomes([firing()], WINDOWS, now=T0 + timedelta(minutes=9)) == []
    assert store.watch_outcomes([firing()], WINDOWS, now=T0 + timedelta(minutes=10)) == [(pid, "watching", "not_effective")]
    record = store.get(pid)
    assert effect.history_text(record, T0 + timedelta(minutes=10)) == "executed 10 min ago — still firing — roll back?"


def test_muted_is_not_fixed(store: ReviewStore):
    pid = executed(store)
    silenced = {**firing(), "state": "silenced"}
    assert store.watch_outcomes([silenced], WINDOWS, now=T0 + timedelta(minutes=11)) == [(pid, "watching", "not_effective")]


def test_the_replacement_pod_firing_the_same_alert_counts_as_a_return(store: ReviewStore):
    pid = executed(store)
    store.watch_outcomes([], WINDOWS, now=T0 + timedelta(minutes=1))
    # the restarted pod has a new name, so a new fingerprint; same alert, same deployment
    back = firing("fp-new", "checkout-7d9f-zzzzz")
    assert store.watch_outcomes([back], WINDOWS, now=T0 + timedelta(minutes=6)) == [(pid, "effective", "not_effective")]
    assert "came back" in effect.history_text(store.get(pid), T0 + timedelta(minutes=6))
    # an alert of another deployment is not this one's
    other = store.enqueue(*crashloop("fp-b", "checkout-b"), now=T0, source="am")
    assert not effect.matches({"fingerprint": "fp-crash", "alertname": "KubePodCrashLooping", "alerts": "[]",
                               "labels": '{"namespace": "shop", "deployment": "checkout"}', "parameters": "{}"},
                              {"fingerprint": "x", "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "deployment": "cart"}})
    assert other.outcome == ""


def test_outcomes_become_decision_rows_with_their_effect(store: ReviewStore):
    pid = executed(store)
    store.watch_outcomes([], WINDOWS, now=T0 + timedelta(minutes=2))
    rows = {r["proposal_id"]: r for r in store.decisions()}
    assert rows[pid]["effect"] == "effective" and rows[pid]["outcome"] == "executed"


def test_an_effective_outcome_is_an_outcome_label_weighted_above_rule_labels_and_a_failed_one_is_dropped():
    from sreconsole.triage.dataset import OUTCOME_WEIGHT, decision_examples, is_outcome_label, weight_outcome_labels

    alert = {"fingerprint": "f", "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop"}, "annotations": {}}
    rows = [
        {"alert": alert, "action": "pod-restart", "verdict": "approved", "effect": "effective", "decided_at": "t"},
        {"alert": alert, "action": "pod-restart", "verdict": "approved", "effect": "not_effective", "decided_at": "t"},
        {"alert": alert, "action": "pod-restart", "verdict": "approved", "effect": "", "decided_at": "t"},
    ]
    skipped: list = []
    examples = decision_examples(rows, skipped)
    assert [e.provenance["rule"] for e in examples] == ["outcome-effective", "decision-approved"]
    assert len(skipped) == 1 and "did not fix the alert" in skipped[0][1]
    weighted = weight_outcome_labels(examples)
    assert len(weighted) == OUTCOME_WEIGHT + 1 and sum(map(is_outcome_label, weighted)) == OUTCOME_WEIGHT
