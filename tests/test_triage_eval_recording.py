"""``sreconsole eval triage --from-recording``: the committed demo session
(``tests/data/recordings/``, its README lists what the operator decided) scored, every
figure checked by hand below. No model is trained here (``test_triage_eval.py`` trains
one for the labelled-file path, on the same scoring code), so the console's flow is the
engine without a model: it escalates.

The operator's four decisions, and so the labels:

=========================  ===================================  ==================================
alert                      decision                             label
=========================  ===================================  ==================================
HighErrorRate              rejected rollback-deployment, named  pod-check-status
                           pod-check-status
Watchdog                   rejected escalate, named nothing     "escalate is wrong" (not a row)
KubePodCrashLooping        approved pod-restart                 pod-restart
FluxKustomizationFailed    approved flux-reconcile-kustomization flux-reconcile-kustomization
=========================  ===================================  ==================================

The labelling rules (``triage/label_rules.toml``) say rollback-deployment for HighErrorRate
(the "error rate" rule), pod-restart for a crash loop, flux-reconcile-kustomization for a
failed Kustomization, and escalate for Watchdog: two of the three rows right, and the
rejected escalate proposed again. The majority baseline escalates everything: none right,
the rejected escalate again. Eleven alerts fired during the session; seven had no decision.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from sreconsole.cli.exit_codes import EXIT_BAD_RECORDING, EXIT_CONFIG, EXIT_OK
from sreconsole.cli.main import main
from sreconsole.services.recording import read_recording, recorded_labels

RECORDING = Path(__file__).parent / "data" / "recordings" / "demo-session.jsonl.gz"


def test_the_decisions_become_labels() -> None:
    labels = recorded_labels(read_recording(RECORDING))
    rows = sorted(zip([a.alertname for a in labels.alerts], labels.expected))
    assert rows == [
        ("FluxKustomizationFailed", ("flux-reconcile-kustomization",)),
        ("HighErrorRate", ("pod-check-status",)),
        ("KubePodCrashLooping", ("pod-restart",)),
    ]
    assert [(a.alertname, wrong) for a, wrong in labels.rejected] == [("Watchdog", "escalate")]
    assert len(labels.unlabelled) == 7
    assert labels.decisions["approved"] == 2 and labels.decisions["rejected"] == 2 and labels.decisions["rejected_with_action"] == 1


def test_eval_from_the_recording_by_hand(capsys) -> None:
    assert main(["eval", "triage", "--from-recording", str(RECORDING), "--json"]) == EXIT_OK
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 3 and out["split"] == "recording"
    rules, majority = out["baselines"]["rules"], out["baselines"]["majority"]
    assert rules["accuracy"] == pytest.approx(2 / 3)
    assert rules["recall_per_action"] == {
        "flux-reconcile-kustomization": {"n": 1, "recall": 1.0},
        "pod-check-status": {"n": 1, "recall": 0.0},
        "pod-restart": {"n": 1, "recall": 1.0},
    }
    assert rules["balanced_accuracy"] == pytest.approx(2 / 3)
    assert majority["accuracy"] == 0.0
    assert out["flow"]["accuracy"] == 0.0  # no model here: the flow escalates
    assert out["rejected"] == {"n": 1, "proposed_again": {"flow": 1, "majority": 1, "rules": 1}}
    assert out["unlabelled"]["n"] == 7


def test_eval_from_the_recording_prints_the_table(capsys) -> None:
    assert main(["eval", "triage", "--from-recording", str(RECORDING)]) == EXIT_OK
    text = capsys.readouterr().out
    assert "2 approved, 2 rejected (1 naming the right action): 3 labelled alerts" in text
    assert "labelling rules alone" in text and "flow 1 of 1, majority 1 of 1, rules 1 of 1" in text


def test_a_damaged_recording_or_both_inputs_is_one_line(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"format": "sreconsole-recording", "version": 2}\n'))
    assert main(["eval", "triage", "--from-recording", str(bad)]) == EXIT_BAD_RECORDING
    assert "version 2" in capsys.readouterr().err
    assert main(["eval", "triage", str(bad), "--from-recording", str(RECORDING)]) == EXIT_CONFIG
    assert main(["eval", "triage"]) == EXIT_CONFIG
