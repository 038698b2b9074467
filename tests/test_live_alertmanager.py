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
