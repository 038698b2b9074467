"""Live alerts against a real Prometheus and a real Alertmanager started by the harness.

Prometheus evaluates rules taken from the homelab corpus (names, labels and annotations as
written, expressions replaced by a labelled ``vector(1)`` so they fire anywhere) and ships
the alerts to Alertmanager, which the sources read over its API v2.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from sreconsole.config import load_settings
from sreconsole.domain.alerts import AlertState
from sreconsole.domain.health import HealthState
from sreconsole.domain.operator import Operator
from sreconsole.services.alerts import AlertsService
from sreconsole.sources.alertmanager import AlertmanagerSource
from sreconsole.sources.base import SourceError

from harness import Alertmanager, Prometheus, corpus_rules_firing_now


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    base = tmp_path_factory.mktemp("stack")
    am = Alertmanager(base / "am")
    am.start()
    rules = corpus_rules_firing_now()
    prom = Prometheus(base / "prom", am, [{"name": "corpus", "interval": "1s", "rules": rules}])
    prom.start()
    yield am, prom, rules
    prom.stop()
    am.stop()


async def _wait_alerts(source, names: set[str], timeout: float = 40.0):
    deadline = time.monotonic() + timeout
    alerts = []
    while time.monotonic() < deadline:
        alerts = await source.fetch_alerts()
        if names <= {a.alertname for a in alerts}:
            return alerts
        await asyncio.sleep(0.5)
    raise AssertionError(f"alerts {names} not in Alertmanager; got {[a.alertname for a in alerts]}")


async def test_rule_firing_in_prometheus_reaches_the_source(stack):
    am, _prom, rules = stack
    source = AlertmanagerSource(am.url)
    try:
        alerts = await _wait_alerts(source, {r["alert"] for r in rules})
        crash = next(a for a in alerts if a.alertname == "TestPodCrashLoopBackOff")
        assert crash.labels["namespace"] == "ai" and crash.labels["severity"] == "warning"
        assert crash.annotations["lambda_function"] == "pod-restart"  # corpus annotation survives
        assert len(crash.fingerprint) == 16 and crash.state is AlertState.FIRING
        assert source.health().state is HealthState.OK
    finally:
        await source.aclose()



async def test_alertmanager_groups_hold_the_same_alerts(stack):
    """/api/v2/alerts/groups from the real server: every alert of /api/v2/alerts is in
    exactly one group of the configured receiver."""
    am, _prom, rules = stack
    source = AlertmanagerSource(am.url)
    try:
        alerts = await _wait_alerts(source, {r["alert"] for r in rules})
        groups = await source.fetch_groups()
        assert groups and all(g.receiver == "null" for g in groups)
        grouped = [a.fingerprint for g in groups for a in g.alerts]
        assert sorted(grouped) == sorted(a.fingerprint for a in alerts)
        # The harness routes with group_by: [alertname]: one group per alertname.
        for g in groups:
            assert set(g.labels) == {"alertname"} and {a.alertname for a in g.alerts} == {g.labels["alertname"]}
        assert source.health().state is HealthState.OK
    finally:
        await source.aclose()

async def test_silence_from_the_service_exists_in_alertmanager(stack):
    am, _prom, rules = stack
    source = AlertmanagerSource(am.url)
    service = AlertsService(source)
    try:
        alerts = await _wait_alerts(source, {"TestDeploymentUnhealthy"})
        target = next(a for a in alerts if a.alertname == "TestDeploymentUnhealthy")
        silence_id = await service.silence(target, timedelta(hours=2), "deploying a fix", Operator("bob", "10.9.8.7"))
        stored = am.get(f"/api/v2/silence/{silence_id}")
        assert stored["createdBy"] == "bob@10.9.8.7" and stored["comment"] == "deploying a fix"
        matchers = {(m["name"], m["value"], m["isRegex"]) for m in stored["matchers"]}
        assert ("alertname", "TestDeploymentUnhealthy", False) in matchers
        assert ("namespace", "ai", False) in matchers
        # Alertmanager now reports the alert silenced by that id
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            again = {a.alertname: a for a in await source.fetch_alerts()}["TestDeploymentUnhealthy"]
            if again.state is AlertState.SILENCED:
                break
            await asyncio.sleep(0.3)
        assert again.state is AlertState.SILENCED and silence_id in again.silenced_by
        listed = {s.id: s for s in await service.silences()}
        assert listed[silence_id].created_by == "bob@10.9.8.7"
        await service.expire(silence_id)
        assert am.get(f"/api/v2/silence/{silence_id}")["status"]["state"] == "expired"
    finally:
        await source.aclose()


async def test_acknowledge_is_a_short_marked_silence(stack):
    am, _prom, _rules = stack
    source = AlertmanagerSource(am.url)
    service = AlertsService(source)
    try:
        alerts = await _wait_alerts(source, {"TestPodCrashLoopBackOff"})
        target = next(a for a in alerts if a.alertname == "TestPodCrashLoopBackOff")
        silence_id = await service.acknowledge(target, Operator("carol"))
        stored = am.get(f"/api/v2/silence/{silence_id}")
        assert stored["comment"].startswith("ACK! carol")
        listed = {s.id: s for s in await service.silences()}
        assert listed[silence_id].is_ack
        await service.expire(silence_id)
    finally:
        await source.aclose()


async def test_silence_without_comment_is_refused_before_any_call(stack):
    am, _prom, _rules = stack
    source = AlertmanagerSource(am.url)
    service = AlertsService(source)
    try:
        alerts = await _wait_alerts(source, {"TestPodCrashLoopBackOff"})
        before = len(am.get("/api/v2/silences"))
        with pytest.raises(SourceError, match="comment"):
            await service.silence(alerts[0], timedelta(hours=1), "   ", Operator("x"))
        assert len(am.get("/api/v2/silences")) == before
        with pytest.raises(SourceError, match="not a silence id"):
            await service.expire("../../api/v2/status")
    finally:
        await source.aclose()


async def test_killed_alertmanager_goes_stale_then_down_and_recovers(tmp_path):
    am = Alertmanager(tmp_path / "am")
    am.start()
    am.post_alerts([{"labels": {"alertname": "Survivor", "severity": "critical", "namespace": "ops"}}])
    now = [0.0]
    from datetime import datetime, timezone

    clock = lambda: datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=now[0])  # noqa: E731
    source = AlertmanagerSource(am.url, timeout_s=1.0, retries=1, stale_after_s=30, clock=clock)
    service = AlertsService(source, clock)
    try:
        snap = await service.refresh()
        assert [a.alertname for a in snap.alerts] == ["Survivor"] and not snap.error
        am.kill()
        now[0] = 5
        snap = await service.refresh()
        assert snap.error and snap.health.state is HealthState.STALE
        assert [a.alertname for a in snap.alerts] == ["Survivor"]  # the last good answer is kept
        now[0] = 60
        snap = await service.refresh()
        assert snap.health.state is HealthState.DOWN and "refused" in snap.health.reason
        am.start()  # same port, as a restarted pod behind a service
        am.post_alerts([{"labels": {"alertname": "Survivor", "severity": "critical", "namespace": "ops"}}])
        now[0] = 70
        snap = await service.refresh()
        assert snap.health.state is HealthState.OK and not snap.error
        assert [a.alertname for a in snap.alerts] == ["Survivor"]
    finally:
        await source.aclose()
        am.stop()


async def test_pane_shows_alerts_from_real_alertmanager_and_silences_from_keys(stack):
    """The TUI pointed at the real Alertmanager: rows appear; `s` creates a real silence."""
    from sreconsole.tui.app import make_app
    from sreconsole.tui.panes.alerts import AlertsPane

    from conftest import wait_for_polls

    am, _prom, _rules = stack
    settings = load_settings(overrides={"alertmanager.url": am.url, "poll_interval_s": 0.5})
    app = make_app(settings, operator=Operator("dave", "192.0.2.1"))
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(100):
            await wait_for_polls(app, pilot, app.polls + 1)
            names = {a.alertname for a in app.query_one(AlertsPane).visible_alerts()}
            if "TestHighMemoryUsage" in names or "TestPodCrashLoopBackOff" in names:
                break
        pane = app.query_one(AlertsPane)
        assert "TestPodCrashLoopBackOff" in {a.alertname for a in pane.visible_alerts()}
        header = str(app.query_one("#header-sources").render())
        assert "alertmanager ok" in header
        pane.select_fingerprint(next(a.fingerprint for a in pane.visible_alerts() if a.alertname == "TestPodCrashLoopBackOff"))
        await pilot.press("s")
        await pilot.pause()
        # the comment has focus; the duration field is prefilled with 2h
        await pilot.press(*"rolling back the image", "shift+tab", "ctrl+u", *"90m", "enter")
        for _ in range(50):
            await pilot.pause(0.1)
            silences = [s for s in am.get("/api/v2/silences") if s["createdBy"] == "dave@192.0.2.1"]
            if silences:
                break
        assert silences and silences[0]["comment"] == "rolling back the image"
        from sreconsole.domain.alerts import parse_time

        length = parse_time(silences[0]["endsAt"]) - parse_time(silences[0]["startsAt"])
        assert abs(length.total_seconds() - 90 * 60) < 5
        assert any(m["name"] == "alertname" and m["value"] == "TestPodCrashLoopBackOff" for m in silences[0]["matchers"])
        assert any(silences[0]["id"] in n.message for n in app._notifications)


def test_cli_alerts_list_reads_the_real_alertmanager(stack):
    import json
    import subprocess
    import sys

    am, _prom, _rules = stack
    cmd = [sys.executable, "-m", "sreconsole", "--alertmanager", am.url, "alerts", "list", "--json", "--filter", 'namespace="ai" severity=~"warn.*"']
    deadline = time.monotonic() + 40
    while True:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        rows = json.loads(out.stdout)
        if any(r["alertname"] == "TestPodCrashLoopBackOff" for r in rows) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert rows and all(r["labels"]["namespace"] == "ai" and r["severity"] == "warning" for r in rows)
    assert any(r["alertname"] == "TestPodCrashLoopBackOff" for r in rows)


def test_bruno_answers_what_is_firing_from_the_real_alertmanager_citing_its_alerts(stack):
    """`ask` reads the same source as `alerts list`: the alerts it cites are exactly the
    firing ones Alertmanager has in the namespace the question names."""
    import json
    import subprocess
    import sys

    from harness import free_port

    am, _prom, _rules = stack
    base = [sys.executable, "-m", "sreconsole", "--alertmanager", am.url]
    deadline = time.monotonic() + 40
    while True:
        listed = json.loads(subprocess.run([*base, "alerts", "list", "--json", "--filter", 'namespace="ai"'],
                                           capture_output=True, text=True, timeout=60, check=True).stdout)
        if any(r["alertname"] == "TestPodCrashLoopBackOff" for r in listed) or time.monotonic() > deadline:
            break
        time.sleep(1)
    out = subprocess.run([*base, "ask", "what is firing in ai?", "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["generator"] == "live"
    # Earlier tests in this module silence some of them: those are not "firing".
    firing = [r for r in listed if r["state"] == "firing"]
    assert firing and {c["path"] for c in answer["citations"]} == {f"alert:{r['fingerprint']}" for r in firing}
    assert all(r["alertname"] in answer["answer"] for r in firing)
    nowhere = json.loads(subprocess.run([*base, "ask", "what is firing in nosuchns?", "--json"], capture_output=True, text=True, timeout=60).stdout)
    assert nowhere["answer"].startswith("Nothing is firing for nosuchns;") and nowhere["citations"] == []
    down = subprocess.run([sys.executable, "-m", "sreconsole", "--alertmanager", f"http://127.0.0.1:{free_port()}", "ask", "what is firing?", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert down.returncode == 0 and json.loads(down.stdout)["answer"].startswith("I could not read the alerts:")


def test_cli_alerts_list_on_the_demo_and_when_the_source_is_down():
    import json
    import subprocess
    import sys

    from harness import free_port

    out = subprocess.run([sys.executable, "-m", "sreconsole", "--demo", "alerts", "list", "--json"], capture_output=True, text=True, timeout=60)
    names = {r["alertname"] for r in json.loads(out.stdout)}
    assert out.returncode == 0 and "KubePodCrashLooping" in names
    down = subprocess.run(
        [sys.executable, "-m", "sreconsole", "--alertmanager", f"http://127.0.0.1:{free_port()}", "alerts", "list"],
        capture_output=True, text=True, timeout=60,
    )
    assert down.returncode == 1 and "connection refused" in down.stderr


# -- the review queue shows only what is true now (issue 16) ------------------------------------
# The probes are posted straight to Alertmanager, in their own namespace so that the tests
# above, which count what fires in "ai", never see them.

def _am_alert(name: str, labels: dict, action: str, *, resolved: bool = False) -> dict:
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    return {
        "labels": {"alertname": name, "severity": "warning", **labels},
        "annotations": {"summary": f"{name} fired", "lambda_function": action},
        "startsAt": (now - timedelta(minutes=5)).isoformat(),
        "endsAt": (now - timedelta(seconds=1) if resolved else now + timedelta(hours=1)).isoformat(),
    }


async def _snapshot_until(service, present: set[str], absent: set[str] = frozenset(), timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        snapshot = await service.refresh()
        names = {a.alertname for a in snapshot.alerts}
        if not snapshot.error and present <= names and not (absent & names):
            return snapshot
        if time.monotonic() > deadline:
            raise AssertionError(f"Alertmanager never held {present} without {set(absent)}: {sorted(names)} {snapshot.error}")
        await asyncio.sleep(0.3)


def _queue_for(am_url: str):
    from sreconsole.services.review import ReviewQueue

    settings = load_settings(overrides={"alertmanager.url": am_url})
    return settings, ReviewQueue(settings, Operator("alice", "10.0.0.5"))


def _propose(alerts):
    from sreconsole.triage.catalog import load_catalog
    from sreconsole.triage.engine import TriageEngine

    return TriageEngine(load_catalog()).propose_many(list(alerts))


async def _queued_probe(am, name: str, labels: dict, queue):
    """Post one probe alert, wait for Alertmanager to hold it, and queue its proposal as the
    TUI's poll does; ``(the service polling it, the alert, its record)``."""
    am.post_alerts([_am_alert(name, labels, "pod-restart")])
    service = AlertsService(AlertmanagerSource(am.url))
    snapshot = await _snapshot_until(service, {name})
    alert = next(a for a in snapshot.alerts if a.alertname == name)
    (record,) = queue.enqueue(_propose([alert]), [alert], from_source=True)
    return service, snapshot, record


def _cli(*args: str) -> "subprocess.CompletedProcess":
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    return subprocess.run([sys.executable, "-m", "sreconsole", *args], env=env, capture_output=True, text=True, timeout=120)


async def test_a_proposal_whose_alert_resolves_on_alertmanager_leaves_the_pending_view(stack):
    """Post an alert, queue its proposal from the poll that saw it, resolve it on
    Alertmanager: the next poll marks the proposal resolved with an audit entry, it leaves
    the pending view, and `review approve` refuses it (exit 2, one line) unless told."""
    import json

    from sreconsole.review import audit

    am, _prom, _rules = stack
    labels = {"namespace": "queue-probe", "pod": "resolver-7d9f8-abcde"}
    settings, queue = _queue_for(am.url)
    service, snapshot, record = await _queued_probe(am, "QueueResolvesProbe", labels, queue)
    try:
        assert (record.action, record.alert_source, record.alert_state) == ("pod-restart", am.url, "firing")
        assert queue.observe(snapshot) == []
        assert record.id in {r.id for r in queue.list()}

        am.post_alerts([_am_alert("QueueResolvesProbe", labels, "pod-restart", resolved=True)])
        snapshot = await _snapshot_until(service, set(), {"QueueResolvesProbe"})
        assert queue.observe(snapshot) == [(record.id, "firing", "resolved")]
        assert record.id not in {r.id for r in queue.list()}
        entry = [e for e in audit.export(queue.path) if e["proposal_id"] == record.id][-1]
        assert entry["event"] == "alert_state" and entry["reason"].startswith(f"the alert resolved (seen by {am.url})")
        assert entry["user"] == "alice"
    finally:
        queue.close()
        await service.aclose()

    refused = _cli("--alertmanager", am.url, "review", "approve", str(record.id), "--reason", "still want it")
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    line, = refused.stderr.strip().splitlines()
    assert f"#{record.id} pod-restart on queue-probe/resolver-7d9f8-abcde: its alert resolved" in line and "--even-if-resolved" in line
    done = _cli("--alertmanager", am.url, "review", "approve", str(record.id), "--reason", "still want it", "--even-if-resolved", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["proposal"]["state"] == "approved"
    assert audit.verify(queue.path).ok


def test_review_list_asks_alertmanager_what_is_still_firing(stack):
    """No console is running: `review list` itself is the poll that finds the alert gone."""
    import json

    am, _prom, _rules = stack
    labels = {"namespace": "queue-probe", "pod": "listed-7d9f8-fghij"}
    settings, queue = _queue_for(am.url)

    async def queued():
        service, _snapshot, record = await _queued_probe(am, "QueueListProbe", labels, queue)
        await service.aclose()
        return record

    try:
        record = asyncio.run(queued())
    finally:
        queue.close()
    listed = _cli("--alertmanager", am.url, "review", "list", "--json")
    mine = [r for r in json.loads(listed.stdout) if r["id"] == record.id]
    assert mine and mine[0]["alert_state"] == "firing" and mine[0]["alert_state_since"]
    am.post_alerts([_am_alert("QueueListProbe", labels, "pod-restart", resolved=True)])
    deadline = time.monotonic() + 30
    while True:
        pending = json.loads(_cli("--alertmanager", am.url, "review", "list", "--json").stdout)
        if record.id not in {r["id"] for r in pending} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert record.id not in {r["id"] for r in pending}
    everything = json.loads(_cli("--alertmanager", am.url, "review", "list", "--all", "--json").stdout)
    (gone,) = [r for r in everything if r["id"] == record.id]
    assert gone["state"] == "pending" and gone["alert_state"] == "resolved"
    table = _cli("--alertmanager", am.url, "review", "list", "--all").stdout
    row = next(line.split() for line in table.splitlines() if line.split()[:1] == [str(record.id)])
    assert row[7] == "resolved"  # the LIVE column


async def test_two_alerts_for_one_deployment_are_one_proposal_on_alertmanager(stack):
    """Two rules asking to restart the same deployment: one pending proposal holding both
    alerts (a merge entry in the audit), firing while either fires, resolved when both are."""
    from sreconsole.review import audit

    am, _prom, _rules = stack
    labels = {"namespace": "queue-probe", "deployment": "dedup-web"}
    am.post_alerts([_am_alert("DedupOOM", labels, "rollout-restart"), _am_alert("DedupLatency", labels, "rollout-restart")])
    service = AlertsService(AlertmanagerSource(am.url))
    settings, queue = _queue_for(am.url)
    try:
        snapshot = await _snapshot_until(service, {"DedupOOM", "DedupLatency"})
        alerts = sorted((a for a in snapshot.alerts if a.alertname.startswith("Dedup")), key=lambda a: a.alertname, reverse=True)
        first, second = queue.enqueue(_propose(alerts), alerts, from_source=True)
        assert first.id == second.id and second.target == "queue-probe/dedup-web"
        assert [a["alertname"] for a in second.alerts] == ["DedupOOM", "DedupLatency"]
        assert [r.id for r in queue.list() if r.action == "rollout-restart" and r.target == "queue-probe/dedup-web"] == [first.id]
        merged = [e for e in audit.export(queue.path) if e["event"] == "merge" and e["proposal_id"] == first.id]
        assert len(merged) == 1 and "DedupLatency" in merged[0]["reason"]

        am.post_alerts([_am_alert("DedupOOM", labels, "rollout-restart", resolved=True)])
        snapshot = await _snapshot_until(service, {"DedupLatency"}, {"DedupOOM"})
        assert queue.observe(snapshot) == []  # one still fires: the proposal stays
        assert queue.get(first.id).alert_state == "firing"
        assert [a["state"] for a in queue.get(first.id).alerts] == ["resolved", "firing"]
        am.post_alerts([_am_alert("DedupLatency", labels, "rollout-restart", resolved=True)])
        snapshot = await _snapshot_until(service, set(), {"DedupLatency", "DedupOOM"})
        assert queue.observe(snapshot) == [(first.id, "firing", "resolved")]
        assert first.id not in {r.id for r in queue.list()}
        assert audit.verify(queue.path).ok
    finally:
        queue.close()
        await service.aclose()


async def test_an_acked_alert_is_acked_in_the_queue_and_in_alerts_list(stack):
    """An ack is a silence to Alertmanager; the poll tells it apart (by the silence's
    comment), so the proposal's LIVE state is acked, not silenced, and so is alerts list's."""
    import json

    am, _prom, _rules = stack
    labels = {"namespace": "queue-probe", "pod": "acked-7d9f8-klmno"}
    settings, queue = _queue_for(am.url)
    service, snapshot, record = await _queued_probe(am, "QueueAckProbe", labels, queue)
    alert = next(a for a in snapshot.alerts if a.alertname == "QueueAckProbe")
    try:
        silence_id = await service.acknowledge(alert, Operator("carol"))
        deadline = time.monotonic() + 30
        while True:
            snapshot = await service.refresh()
            acked = next((a for a in snapshot.alerts if a.alertname == "QueueAckProbe"), None)
            if acked is not None and silence_id in acked.silenced_by or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.3)
        assert silence_id in snapshot.acks
        assert queue.observe(snapshot) == [(record.id, "firing", "acked")]
        listed = _cli("--alertmanager", am.url, "alerts", "list", "--json", "--filter", 'alertname="QueueAckProbe"')
        (row,) = json.loads(listed.stdout)
        assert row["state"] == "silenced" and row["acked"] is True
        table = _cli("--alertmanager", am.url, "alerts", "list", "--filter", 'alertname="QueueAckProbe"').stdout
        assert table.splitlines()[1].split()[4] == "acked"
        await service.expire(silence_id)
        am.post_alerts([_am_alert("QueueAckProbe", labels, "pod-restart", resolved=True)])
    finally:
        queue.close()
        await service.aclose()
