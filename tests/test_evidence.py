"""Evidence beside an alert: the Prometheus rule and its trend (real Prometheus), log lines
from Loki (recorded answers in Loki's documented format: no Loki binary can be installed
here), and the demo's own evidence."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from sreconsole.domain.alerts import Alert, fingerprint
from sreconsole.domain.evidence import parse_threshold
from sreconsole.services.evidence import EvidenceService, PrometheusEvidence
from sreconsole.sources.base import SourceError
from sreconsole.sources.loki import LokiSource, build_selector
from sreconsole.sources.prometheus import PrometheusSource

from harness import Prometheus

DATA = Path(__file__).parent / "data" / "loki"


def _alert(**labels) -> Alert:
    return Alert(fingerprint=fingerprint(labels), labels=labels)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    rules = [
        {"alert": "PrometheusScrapesItself", "expr": 'up{job="prometheus"} > 0.5', "labels": {"severity": "info"}},
        {"alert": "NeverFires", "expr": 'up{job="nope"} == 1', "labels": {"severity": "critical"}},
    ]
    prom = Prometheus(tmp_path_factory.mktemp("prom"), None, [{"name": "self", "interval": "1s", "rules": rules}])
    prom.start()
    yield prom
    prom.stop()


async def test_rule_and_trend_from_real_prometheus(prometheus):
    import asyncio

    source = PrometheusSource(prometheus.url)
    evidence_service = EvidenceService(PrometheusEvidence(source), None)
    alert = _alert(alertname="PrometheusScrapesItself", severity="info", job="prometheus")
    rule = await source.rule_for(alert)
    assert rule is not None and rule.expr == 'up{job="prometheus"} > 0.5' and rule.group == "self"
    evidence = None
    for _ in range(40):  # the first scrapes land within a few seconds
        evidence = await evidence_service.gather(alert)
        if evidence.series:
            break
        await asyncio.sleep(0.5)
    assert evidence.threshold == 0.5 and evidence.series
    assert all(v == 1.0 for _, v in evidence.series)  # `up` of a live target, comparison removed
    assert evidence.logs_error == "no Loki configured"
    instant = await source.instant('up{job="prometheus"}')
    assert instant and instant[0]["metric"]["job"] == "prometheus" and float(instant[0]["value"][1]) == 1.0
    missing = await evidence_service.gather(_alert(alertname="NotARule"))
    assert "no alerting rule named NotARule" in missing.metric_error
    await source.aclose()


async def test_dead_prometheus_costs_only_its_part():
    from harness import free_port

    source = PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout_s=1, retries=0)
    service = EvidenceService(PrometheusEvidence(source), None)
    evidence = await service.gather(_alert(alertname="X"))
    assert "connection refused" in evidence.metric_error or "cannot connect" in evidence.metric_error
    assert source.health().state.value == "down"


def _loki(handler) -> LokiSource:
    clock = lambda: datetime(2025, 11, 23, 18, 1, tzinfo=timezone.utc)  # noqa: E731
    return LokiSource("http://loki.invalid", transport=httpx.MockTransport(handler), clock=clock, retries=0)


async def test_loki_logs_from_recorded_answer_are_merged_and_ordered():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=(DATA / "query_range_streams.json").read_bytes(), headers={"content-type": "application/json"})

    loki = _loki(handler)
    alert = _alert(alertname="KubePodCrashLooping", namespace="payments", pod="payments-api-7d9f8b6c4-x2kqp", container="api")
    lines = await loki.logs_for(alert, timedelta(hours=1), limit=10)
    assert [l.line.split(" ")[0] for l in lines] == ["level=info", "\x1b[31m[2025-11-23T18:00:25Z]", "level=error"]
    query = seen[0].url.params
    assert query["query"] == '{namespace="payments",pod="payments-api-7d9f8b6c4-x2kqp",container="api"}'
    assert query["direction"] == "backward" and query["limit"] == "10"
    assert int(query["end"]) - int(query["start"]) == 3600 * 10**9
    assert loki.health().state.value == "ok"
    # the escape sequence and markup in the recorded line are data; the view makes them inert
    from sreconsole.domain.text import clean

    assert clean(lines[1].line) == '[2025-11-23T18:00:25Z] "GET /healthz" 503 [bold]x[/bold]'
    await loki.aclose()


@pytest.mark.parametrize(
    "labels",
    [
        {"namespace": 'pay"} |= "x'},
        {"namespace": "payments", "pod": "a\nb"},
        {"namespace": "pay`ments`"},
        {"namespace": "p" * 300},
    ],
)
def test_hostile_label_values_never_reach_logql(labels):
    with pytest.raises(SourceError, match="cannot go into a LogQL selector"):
        build_selector(labels)


def test_no_usable_labels_is_a_clear_error():
    with pytest.raises(SourceError, match="no namespace, pod or container"):
        build_selector({"alertname": "Watchdog"})


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b'{"status":"success","data":{"resultType":"matrix","result":[]}}', b'{"data": {"resultType": "streams", "result": [{"values": [["x", 1]]}'])
async def test_loki_bad_answers_become_readable_errors(body):
    loki = _loki(lambda request: httpx.Response(200, content=body))
    with pytest.raises(SourceError):
        await loki.logs_for(_alert(alertname="A", namespace="n"), timedelta(hours=1), 5)
    assert loki.health().state.value == "down"
    await loki.aclose()


def test_threshold_parsing():
    assert parse_threshold("rate(x[5m]) > 0.5") == (">", 0.5)
    assert parse_threshold("(a / b) * 100 >= 90") == (">=", 90.0)
    assert parse_threshold("absent(up)") is None


async def test_demo_evidence_in_the_side_panel_and_detail(make_demo_app):
    from sreconsole.tui.modals import AlertDetailScreen
    from sreconsole.tui.panes.alerts import AlertsPane

    from conftest import wait_for_polls

    app = make_demo_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        target = next(a for a in pane.visible_alerts() if a.alertname == "KubePodCrashLooping")
        pane.select_fingerprint(target.fingerprint)
        for _ in range(50):
            await pilot.pause(0.05)
            if pane.evidence is not None:
                break
        assert pane.evidence is not None and pane.evidence.fingerprint == target.fingerprint
        assert pane.evidence.threshold == 3 and pane.evidence.series
        assert any("connection refused" in l.line for l in pane.evidence.logs)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, AlertDetailScreen) and app.screen.evidence is not None


async def test_stale_evidence_is_dropped_when_the_cursor_moves_on(make_demo_app):
    from sreconsole.tui.panes.alerts import AlertsPane

    from conftest import wait_for_polls

    app = make_demo_app()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        await pilot.press("j", "j", "j", "j")  # fast moves: only the last row's evidence is loaded
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        assert pane.evidence is not None and pane.evidence.fingerprint == pane.selected_fingerprint()


async def test_runbook_passage_and_similar_incidents_beside_the_alert(make_demo_app, monkeypatch):
    """Knowledge on (conftest turns it off elsewhere): the demo's first run indexes the
    bundled runbook and seeds the incident history, then the side panel shows the passage
    for the selected alert, cited by line, and past incidents with the reason they match."""
    from pathlib import Path

    from sreconsole.config import load_settings
    from sreconsole.tui.panes.alerts import AlertsPane

    from conftest import wait_for_polls

    monkeypatch.setenv("SRECONSOLE_KNOWLEDGE_ENABLED", "1")
    settings = load_settings()
    app = make_demo_app(settings)
    app.evidence_service.knowledge.prepare()  # the first-run indexing, outside the timing of the UI
    app.evidence_service.knowledge_timeout_s = 30.0
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        target = next(a for a in pane.visible_alerts() if a.alertname == "KubePodCrashLooping")
        pane.select_fingerprint(target.fingerprint)
        for _ in range(200):
            await pilot.pause(0.05)
            if pane.evidence is not None and pane.evidence.fingerprint == target.fingerprint:
                break
        knowledge = pane.evidence.knowledge
        assert knowledge is not None and not knowledge.error
        first = knowledge.passages[0]
        assert first.alertname == "KubePodCrashLooping" and first.format == "seed"
        assert first.part == "action" and first.text == "pod-restart"
        lines = Path(first.path).read_text().splitlines()
        assert "pod-restart" in lines[first.start_line - 1]
        assert knowledge.incidents and all(i.reason for i in knowledge.incidents)
        assert knowledge.incidents[0].alertname == "KubePodCrashLooping"
        assert "same alert" in knowledge.incidents[0].reason
        from rich.console import Console

        console = Console(width=100, record=True, file=open("/dev/null", "w"))
        console.print(app.query_one("#side-evidence").content)
        text = console.export_text()
        assert "similar past incidents" in text and "RUNBOOK.md:" in text


async def test_proposals_fill_the_table_and_y_copies_the_command(make_demo_app, monkeypatch):
    """Triage on, no trained model: the demo's runbook names an action for each of its
    alerts, so the PROPOSAL column fills (method annotation), the side panel shows the
    proposal with its command and evidence, and `y` copies exactly that command."""
    from rich.console import Console

    from sreconsole.config import load_settings
    from sreconsole.tui.panes.alerts import AlertsPane

    from conftest import wait_for_polls

    monkeypatch.setenv("SRECONSOLE_KNOWLEDGE_ENABLED", "1")
    monkeypatch.setenv("SRECONSOLE_TRIAGE_ENABLED", "1")
    settings = load_settings()
    app = make_demo_app(settings)
    app.evidence_service.knowledge.prepare()
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        target = next(a for a in pane.visible_alerts() if a.alertname == "KubePodCrashLooping")
        for _ in range(400):
            await pilot.pause(0.05)
            if target.fingerprint in pane.proposals:
                break
        proposal = pane.proposals[target.fingerprint]
        # The demo runbook (trusted) names it: proposed as written, with no confidence claimed.
        assert proposal.action == "pod-restart" and proposal.method == "runbook" and proposal.confidence is None
        assert proposal.command.startswith("kubectl ") and "delete pod" in proposal.command
        assert target.labels["pod"] in proposal.command
        assert pane._proposal_cell(target).plain == "restart runbook"
        pane.select_fingerprint(target.fingerprint)
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        console = Console(width=100, record=True, file=open("/dev/null", "w"))
        console.print(app.query_one("#side-proposal").content)
        text = console.export_text()
        assert "Proposal  pod-restart" in text and "RUNBOOK.md:" in text and proposal.command[:40] in text
        await pilot.press("y")
        await pilot.pause(0.1)
        assert app.clipboard == proposal.command
        await pilot.press("enter")  # at 80 columns there is no side panel: the detail screen has it
        await pilot.pause(0.3)
        console.print(app.screen.query_one("#detail-proposal").content)
        assert "Proposal  pod-restart" in console.export_text()
