"""Did the fix work, end to end (issue 21, item 1): a pod restart approved in the review
queue is executed through the Kubernetes API, then its alert is resolved — or kept firing —
on a real Alertmanager started by the harness, and the queue's next observations of that
Alertmanager record the outcome: effective ("resolved after 3 min") or not effective
("still firing — roll back?"), on the proposal, in the audit trail and in
`review outcomes --json`.

No Kubernetes API server can be installed here: the cluster is the stateful stand-in of
tests/adversarial/reviewhelp.py (on tests/kubestub.py), which answers the official client's
DELETE of a pod in the API's documented JSON shapes and removes the pod. Time is the
queue's injected clock (the windows are minutes long); the alerts are real.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from adversarial.reviewhelp import Cluster, kubeconfig
from harness import Alertmanager
from sreconsole.config import load_settings
from sreconsole.domain.operator import Operator
from sreconsole.review import audit
from sreconsole.services.alerts import AlertsService
from sreconsole.sources.alertmanager import AlertmanagerSource


@pytest.fixture(scope="module")
def am(tmp_path_factory):
    server = Alertmanager(tmp_path_factory.mktemp("am-outcomes"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cluster():
    server = Cluster()
    yield server
    server.close()


def _alert(pod: str, *, resolved: bool) -> dict:
    now = datetime.now(timezone.utc)
    return {
        "labels": {"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "shop", "pod": pod},
        "annotations": {"summary": f"{pod} is crash looping", "lambda_function": "pod-restart"},
        "startsAt": (now - timedelta(minutes=5)).isoformat(),
        "endsAt": (now - timedelta(seconds=1) if resolved else now + timedelta(hours=1)).isoformat(),
    }


async def _snapshot(service, present: set[str], absent: set[str] = frozenset(), timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        snapshot = await service.refresh()
        pods = {a.labels.get("pod") for a in snapshot.alerts}
        if not snapshot.error and present <= pods and not (absent & pods):
            return snapshot
        if time.monotonic() > deadline:
            raise AssertionError(f"Alertmanager never held {present} without {set(absent)}: {sorted(map(str, pods))}")
        await asyncio.sleep(0.3)


async def test_a_restart_that_resolves_its_alert_is_effective_and_one_that_does_not_is_not(am, cluster, tmp_path):
    from sreconsole.services.review import ReviewQueue
    from sreconsole.triage.catalog import load_catalog
    from sreconsole.triage.engine import TriageEngine

    settings = load_settings(overrides={"alertmanager.url": am.url, "kubernetes.kubeconfig": str(kubeconfig(tmp_path, cluster.url)),
                                        "review.apply_risks": ["low"]})
    t0 = datetime.now(timezone.utc)
    clock = [t0]
    queue = ReviewQueue(settings, Operator("alice", "10.0.0.5"), clock=lambda: clock[0])
    service = AlertsService(AlertmanagerSource(am.url))
    try:
        am.post_alerts([_alert("web-1", resolved=False), _alert("web-2", resolved=False)])
        snapshot = await _snapshot(service, {"web-1", "web-2"})
        alerts = sorted((a for a in snapshot.alerts if a.labels.get("namespace") == "shop"), key=lambda a: a.labels["pod"])
        records = queue.enqueue(TriageEngine(load_catalog()).propose_many(alerts), alerts, from_source=True)
        assert [r.action for r in records] == ["pod-restart", "pod-restart"]
        fixed, stuck = records

        for r in records:
            done = queue.approve(r.id, "crash loop, restart it")
            assert done.record.state == "executed" and done.record.outcome == "watching"
        assert [(m, p) for m, p, _ in cluster.sent("DELETE")] == [
            ("DELETE", "/api/v1/namespaces/shop/pods/web-1"), ("DELETE", "/api/v1/namespaces/shop/pods/web-2")]

        # web-1's alert resolves on Alertmanager three minutes after the restart; web-2's keeps firing
        am.post_alerts([_alert("web-1", resolved=True)])
        snapshot = await _snapshot(service, {"web-2"}, {"web-1"})
        clock[0] = t0 + timedelta(minutes=3)
        assert (fixed.id, "watching", "effective") in queue.observe(snapshot)
        clock[0] = t0 + timedelta(minutes=9)
        assert queue.observe(await _snapshot(service, {"web-2"}, {"web-1"})) == []  # web-2 is still within its window
        clock[0] = t0 + timedelta(minutes=10)
        assert (stuck.id, "watching", "not_effective") in queue.observe(await _snapshot(service, {"web-2"}, {"web-1"}))

        assert queue.get(fixed.id).outcome_detail["resolved_after_s"] == 180
        reasons = {e["proposal_id"]: e["reason"] for e in audit.export(queue.path) if e["event"] == "outcome"}
        assert "resolved 3 min after" in reasons[fixed.id] and "still firing 10 min after" in reasons[stuck.id]
        assert audit.verify(queue.path).ok
    finally:
        queue.close()
        await service.aclose()

    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    out = subprocess.run([sys.executable, "-m", "sreconsole", "--alertmanager", am.url, "review", "outcomes", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    listed = {row["id"]: row for row in json.loads(out.stdout)}
    assert listed[fixed.id]["outcome"] == "effective" and "resolved after 3 min" in listed[fixed.id]["text"]
    assert listed[stuck.id]["outcome"] == "not_effective" and listed[stuck.id]["text"].endswith("still firing — roll back?")
