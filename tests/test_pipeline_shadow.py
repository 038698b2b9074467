"""Shadow scoring before promote, end to end through the pipeline CLI: real worker
processes, MLX, the local MLflow store (sqlite), a real review store with operators'
decisions, and real MiniLM embeddings.

Run B trains before any decision exists; then operators decide twelve alerts of families
no corpus has, all "cordon-node"; run A trains with those decisions. A is promoted (there
is no active model). B, scored beside A on the decisions, is worse: ``pipeline promote B``
refuses and names the figures; ``--force`` promotes it and records that it was forced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from sreconsole.config import Settings

FAMILIES = ["Zorblax", "Quintor", "Vellum", "Brasket", "Mortice", "Plinth", "Gantry", "Sprocket", "Tumbler", "Wicket", "Jalousie", "Corbel"]


def cli(settings: Settings, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "SRECONSOLE_DATA_DIR": str(settings.data_path), "SRECONSOLE_KNOWLEDGE_ENABLED": "0", "SRECONSOLE_TRIAGE_MODEL": "logreg"}
    return subprocess.run([sys.executable, "-m", "sreconsole", *args], capture_output=True, text=True, env=env, timeout=timeout)


def run_json(settings: Settings, corpus: Path, epochs: int) -> dict:
    r = cli(settings, "pipeline", "run", "--corpus", str(corpus), "--epochs", str(epochs), "--json")
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    return json.loads(r.stdout)


def decide_all(settings: Settings) -> int:
    from sreconsole.domain.alerts import Alert
    from sreconsole.domain.operator import Operator
    from sreconsole.domain.proposal import Proposal
    from sreconsole.review.paths import review_store_path
    from sreconsole.review.store import ReviewStore

    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    with ReviewStore(review_store_path(settings)) as review:
        for i, family in enumerate(FAMILIES):
            labels = {"alertname": f"{family}SignalDegraded", "node": f"rack-{i}-host", "severity": "warning"}
            alert = Alert(f"fp-{i}", labels, {"summary": f"{family} signal degraded on rack-{i}-host",
                                              "description": f"The {family.lower()} probe on this machine reports a degraded signal."}, starts_at=t0)
            proposal = Proposal(fingerprint=f"fp-{i}", alertname=labels["alertname"], action="escalate", title="page", parameters={},
                                command="", api=None, confidence=0.4, method="trm", requires_human_review=True, risk="low")
            rec = review.enqueue(proposal, alert, now=t0)
            review.decide(rec.id, "rejected", Operator("dana", "10.0.0.7"), "the host is sick: cordon it", corrected_action="cordon-node", now=t0)
    return len(FAMILIES)


def test_shadow_scoring_and_promote_refusal_through_the_cli(settings: Settings, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from sreconsole.triage.models import models_root

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    b = run_json(settings, corpus, 2)
    n = decide_all(settings)
    a = run_json(settings, corpus, 2)
    assert a["status"] == b["status"] == "succeeded"
    assert a["steps"][0]["outputs"]["decisions_used"] == n and b["steps"][0]["outputs"]["decisions_used"] == 0

    # Both runs are in the real MLflow store.
    client = MlflowClient(tracking_uri=f"sqlite:///{settings.data_path / 'mlflow' / 'mlflow.db'}")
    for run in (a, b):
        assert client.get_run(run["mlflow_run_id"]).data.tags["version"] == run["version"]

    active = models_root(settings) / "active"
    first = cli(settings, "pipeline", "promote", a["id"])
    assert first.returncode == 0, first.stderr
    assert active.resolve().name == a["version"]

    shadow = cli(settings, "pipeline", "shadow", b["id"], "--json")
    assert shadow.returncode == 0, shadow.stderr
    report = json.loads(shadow.stdout)
    assert report["candidate"] == b["version"] and report["active"] == a["version"] and report["decisions"] == n
    cand, act = report["candidate_on_decisions"], report["active_on_decisions"]
    assert cand["n"] == act["n"] == n
    assert cand["accuracy"] < act["accuracy"] and report["worse_on_decisions"] is True
    assert 0.0 <= report["agreement"] < 1.0 and report["differences"]
    assert report["rows"] == n  # the decided proposals are counted once, as decisions
    assert all(d["origin"] == "decision" and d["truth"] == "cordon-node" for d in report["differences"])
    assert cand["ece"] is not None and act["ece"] is not None

    refused = cli(settings, "pipeline", "promote", b["id"])
    assert refused.returncode == 1
    assert "worse than the active model" in refused.stderr and f"{cand['accuracy']:.3f} vs {act['accuracy']:.3f}" in refused.stderr
    assert active.resolve().name == a["version"]  # nothing changed

    forced = cli(settings, "pipeline", "promote", b["id"], "--force")
    assert forced.returncode == 0, forced.stderr
    assert "forced" in forced.stdout and active.resolve().name == b["version"]
    shown = json.loads(cli(settings, "pipeline", "show", b["id"], "--json").stdout)
    assert "promoted_despite" in shown["params"] and shown["params"]["shadow"]["worse_on_decisions"] is True
