"""The embedded demo cluster: deterministic, alerts come and go, evidence fits the alert."""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from importlib import resources

import pytest

from sreconsole.domain.alerts import AlertState, Severity, fingerprint
from sreconsole.sources.demo.simulator import DemoCluster, ScenarioError, load_scenario, parse_scenario

from conftest import DEMO_EPOCH


@pytest.fixture(scope="module")
def scenario():
    return load_scenario()


def test_same_seed_same_alerts_other_seed_other_pods(scenario):
    now = DEMO_EPOCH + timedelta(seconds=30)
    a = DemoCluster(scenario, 7, DEMO_EPOCH).alerts_at(now)
    b = DemoCluster(scenario, 7, DEMO_EPOCH).alerts_at(now)
    c = DemoCluster(scenario, 8, DEMO_EPOCH).alerts_at(now)
    assert [x.labels for x in a] == [x.labels for x in b]
    assert [x.fingerprint for x in a] != [x.fingerprint for x in c]
    assert [x.alertname for x in a] == [x.alertname for x in c]


def test_alerts_are_raised_and_resolved_over_time(scenario):
    cluster = DemoCluster(scenario, 7, DEMO_EPOCH)
    names = lambda t: {a.alertname for a in cluster.alerts_at(DEMO_EPOCH + timedelta(seconds=t))}  # noqa: E731
    assert "FluxHelmReleaseFailed" not in names(0) and "FluxHelmReleaseFailed" in names(5)  # raised within seconds
    assert "HighErrorRate" in names(0) and "HighErrorRate" not in names(400)  # resolved
    # the next cycle brings the incident back on a new pod: a new fingerprint
    first = [a for a in cluster.alerts_at(DEMO_EPOCH) if a.alertname == "KubePodCrashLooping"][0]
    later = [a for a in cluster.alerts_at(DEMO_EPOCH + timedelta(seconds=scenario.cycle_s)) if a.alertname == "KubePodCrashLooping"][0]
    assert first.labels["pod"] != later.labels["pod"] and first.fingerprint != later.fingerprint


def test_mix_of_severities_states_and_objects(scenario):
    cluster = DemoCluster(scenario, 7, DEMO_EPOCH)
    seen = [a for t in range(0, 1200, 20) for a in cluster.alerts_at(DEMO_EPOCH + timedelta(seconds=t))]
    assert {a.severity for a in seen} >= {Severity.CRITICAL, Severity.WARNING, Severity.NONE}
    assert {a.state for a in seen} >= {AlertState.FIRING, AlertState.SILENCED, AlertState.INHIBITED}
    labels = set().union(*(a.labels for a in seen))
    assert {"pod", "deployment", "persistentvolumeclaim", "node", "kustomization", "helmrelease", "gitrepository"} <= labels
    namespaces = {a.namespace for a in seen if a.namespace}
    assert len(namespaces) >= 5


def test_fingerprint_matches_alertmanager_algorithm():
    # Alertmanager/Prometheus: FNV-1a 64 over sorted name\xffvalue\xff pairs.
    # Empty label set → FNV offset basis.
    assert fingerprint({}) == "cbf29ce484222325"
    assert fingerprint({"a": "b"}) == fingerprint({"a": "b"})
    assert fingerprint({"a": "b", "c": "d"}) == fingerprint({"c": "d", "a": "b"})
    assert fingerprint({"a": "bc"}) != fingerprint({"ab": "c"})


def test_metric_series_crosses_the_threshold_while_firing(scenario):
    cluster = DemoCluster(scenario, 7, DEMO_EPOCH)
    now = DEMO_EPOCH + timedelta(seconds=100)
    alert = next(a for a in cluster.alerts_at(now) if a.alertname == "KubePodCrashLooping")
    expr, threshold, unit = cluster.rule_expression(alert)
    assert alert.labels["pod"] in expr and unit == "restarts"
    series = cluster.metric_series(alert, now - timedelta(hours=1), now, 60)
    assert len(series) == 61
    assert series[0][1] < threshold < series[-1][1]
    again = cluster.metric_series(alert, now - timedelta(hours=1), now, 60)
    assert series == again


def test_log_lines_fit_the_alert_and_stop_at_now(scenario):
    cluster = DemoCluster(scenario, 7, DEMO_EPOCH)
    now = DEMO_EPOCH + timedelta(seconds=100)
    alert = next(a for a in cluster.alerts_at(now) if a.alertname == "KubePodCrashLooping")
    lines = cluster.log_lines(alert, now, limit=20)
    assert 0 < len(lines) <= 20
    assert all(t <= now for t, _ in lines)
    assert [t for t, _ in lines] == sorted(t for t, _ in lines)
    assert any("connection refused" in text for _, text in lines)
    assert not any("{" in text and "}" in text and re.search(r"\{[a-z]+\}", text) for _, text in lines)


def test_every_demo_alert_has_a_runbook_section():
    runbook = resources.files("sreconsole.sources.demo").joinpath("knowledge/RUNBOOK.md").read_text(encoding="utf-8")
    doc = tomllib.loads(resources.files("sreconsole.sources.demo").joinpath("scenario.toml").read_text(encoding="utf-8"))
    sections = set(re.findall(r"^### Alert: (\S+)\s*$", runbook, flags=re.M))
    names = {inc["alertname"] for inc in doc["incident"]}
    assert names <= sections, names - sections
    for block in re.split(r"^### Alert: ", runbook, flags=re.M)[1:]:
        name = block.split()[0]
        for part in ("**Symptoms:**", "**Investigation:**", "**Resolution:**"):
            assert part in block, f"{name}: {part} missing"
        assert block.count("```") >= 4, f"{name}: Investigation/Resolution need code blocks"
    for name in ("ARCHITECTURE.md", "AGENT-CAPABILITIES.md"):
        assert resources.files("sreconsole.sources.demo").joinpath(f"knowledge/{name}").read_text(encoding="utf-8").startswith("#")


def test_bad_scenarios_are_rejected_with_the_incident_named():
    with pytest.raises(ScenarioError, match=r"incident #1 \(X\): kind"):
        parse_scenario({"incident": [{"alertname": "X", "kind": "spaceship", "at_s": 0, "for_s": 1}]})
    with pytest.raises(ScenarioError, match="missing 'at_s'"):
        parse_scenario({"incident": [{"alertname": "X", "for_s": 1}]})
    with pytest.raises(ScenarioError, match="no \\[\\[incident\\]\\]"):
        parse_scenario({})


async def test_demo_source_implements_the_alert_source_interface(settings):
    from sreconsole.services.environment import build_alert_source
    from sreconsole.sources.base import AlertSource

    source = build_alert_source(settings, clock=lambda: DEMO_EPOCH + timedelta(seconds=30), demo_epoch=DEMO_EPOCH)
    assert isinstance(source, AlertSource)
    alerts = await source.fetch_alerts()
    assert alerts and source.health().state.value == "ok"
