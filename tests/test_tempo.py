"""Traces beside the metric and the logs (issue 21 §6).

Tempo is the one part here with no real server to test against: no Tempo binary is
packaged for the test machines. So the adapter talks over real HTTP to ``tests/tempostub.py``,
a local server that answers with recorded answers in the formats Tempo documents for
``/api/search`` and ``/api/traces/<id>`` (``tests/data/tempo/README.md``), as the Loki tests
do with Loki's. Everything around it is real: the evidence service, the TUI, the doctor.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from sreconsole.domain.alerts import Alert, fingerprint
from sreconsole.domain.traces import span_tree
from sreconsole.services.evidence import EvidenceService
from sreconsole.sources.base import SourceError
from sreconsole.sources.loki import LokiSource
from sreconsole.sources.tempo import TempoSource, build_traceql, search_window

from harness import free_port
from tempostub import TempoStub

NOW = datetime(2025, 12, 5, 18, 2, tzinfo=timezone.utc)
TRACE_ID = "2f3e0c3a9b1d4e5f8a7b6c5d4e3f2a1b"
LOKI_ANSWER = Path(__file__).parent / "data" / "loki" / "query_range_streams.json"


def _alert(started: datetime = NOW - timedelta(minutes=30), **labels) -> Alert:
    labels = {"alertname": "HighErrorRate", **labels}
    return Alert(fingerprint=fingerprint(labels), labels=labels, starts_at=started)


def _tempo(url: str, **kw) -> TempoSource:
    return TempoSource(url, clock=lambda: NOW, retries=0, **kw)


def _text(renderable, width: int = 120) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    console.print(renderable)
    return console.export_text()


async def test_search_then_span_tree_from_recorded_answers():
    with TempoStub() as stub:
        tempo = _tempo(stub.url, tenant="shop", limit=5)
        query, traces = await tempo.traces_for(_alert(service="checkout-api", namespace="checkout", job="kube-state-metrics"))
        assert query == '{ resource.service.name = "checkout-api" && resource.k8s.namespace.name = "checkout" && (status = error || duration > 500ms) }'
        (path, params), = stub.requests
        assert path == "/api/search" and params["q"] == query
        assert params["limit"] == "5" and params["spss"] == "3"
        # the alert's window: from 5 minutes before it started until now, in unix seconds
        assert int(params["end"]) == int(NOW.timestamp())
        assert int(params["start"]) == int((NOW - timedelta(minutes=35)).timestamp())
        # newest first; "error" where a matched span says so or the trace is too short to be slow
        assert [(t.trace_id, t.status, t.duration_ms) for t in traces] == [
            ("9c1b7e2d04a5f6b3", "error", 42.0),
            ("51ab3fe0c2d9e87", "error", 0.0),
            (TRACE_ID, "slow", 2400.0),
        ]
        assert traces[-1].root_service == "frontend" and traces[-1].root_name == "GET /checkout"
        assert traces[-1].started_at == datetime(2025, 12, 5, 18, 0, tzinfo=timezone.utc)
        assert tempo.health().state.value == "ok"

        spans = await tempo.trace(TRACE_ID)
        assert stub.requests[-1][0] == f"/api/traces/{TRACE_ID}"
        rows = [(depth, s.name, s.service, s.status, round(s.duration_ms)) for depth, s in span_tree(spans)]
        assert rows == [
            (0, "GET /checkout", "frontend", "unset", 2400),
            (1, "POST /api/orders", "checkout-api", "error", 2380),
            (2, "SELECT orders", "checkout-api", "ok", 2270),
            (2, "charge card", "payments", "error", 80),
            (1, "render receipt", "frontend", "ok", 9),
        ]
        assert spans[0].span_id == "a1a1a1a1a1a1a1a1"  # Tempo's base64 ids, read as hex
        await tempo.aclose()


def test_a_span_tree_survives_cycles_and_orphans():
    from sreconsole.domain.traces import Span

    spans = [Span("a", "b", "A", "s", 1, 2, "ok"), Span("b", "a", "B", "s", 2, 3, "ok"), Span("c", "zz", "orphan", "s", 0, 1, "error"), Span("d", "d", "self", "s", 5, 6, "ok")]
    rows = span_tree(spans)
    assert sorted(s.name for _, s in rows) == ["A", "B", "orphan", "self"]  # each once, none lost
    assert rows[0] == (0, spans[2])  # a missing parent makes a root
    chain = [Span(f"{i:x}", f"{i - 1:x}" if i else "", f"hop {i}", "s", i, i + 1, "ok") for i in range(1000)]
    rows = span_tree(chain, limit=50)
    assert len(rows) == 50 and rows[-1] == (49, chain[49])


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"service": "checkout-api"}, 'resource.service.name = "checkout-api" && (status'),
        ({"job": "kube-state-metrics", "deployment": "checkout-web", "namespace": "shop"}, 'resource.service.name = "checkout-web" && resource.k8s.namespace.name = "shop" &&'),
        ({"job": "payments-worker"}, 'resource.service.name = "payments-worker" &&'),
        ({"app": "api.v2:blue/green_1"}, 'resource.service.name = "api.v2:blue/green_1" &&'),
    ],
)
def test_traceql_is_built_from_the_service_labels(labels, expected):
    query = build_traceql(labels, slow_ms=750)
    assert query.startswith("{ " + expected) and query.endswith("(status = error || duration > 750ms) }")


def test_no_service_label_means_no_search():
    with pytest.raises(SourceError, match="no trace search: the alert has no service"):
        build_traceql({"alertname": "NodeDown", "job": "node-exporter", "namespace": "kube-system"})


@pytest.mark.parametrize(
    "labels",
    [
        {"service": 'x" } || { true'},
        {"service": "x\n} | count() > 0"},
        {"service": "checkout", "namespace": 'shop" || resource.service.name != "'},
        {"service": "a b"},
        {"app": "s" * 129},
        {"service": "caf\u00e9"},
        {"service": "x\\"},
    ],
)
async def test_a_hostile_label_value_never_reaches_traceql(labels):
    """Refused, not skipped to the next label: skipping would search another service."""
    with pytest.raises(SourceError, match="cannot go into a TraceQL query"):
        build_traceql({**labels, "job": "fallback-service"})
    with TempoStub() as stub:
        service = EvidenceService(None, None, lambda: NOW, traces=_tempo(stub.url))
        evidence = await service.gather(_alert(**labels))
        assert stub.requests == []  # nothing was sent
        assert "cannot go into a TraceQL query" in evidence.traces_error and evidence.traces == ()


def test_the_window_is_bounded():
    assert search_window(_alert(NOW - timedelta(seconds=30)), NOW) == (NOW - timedelta(minutes=15), NOW)
    assert search_window(_alert(NOW - timedelta(days=3)), NOW) == (NOW - timedelta(hours=6), NOW)


def _loki() -> LokiSource:
    answer = LOKI_ANSWER.read_bytes()
    return LokiSource("http://loki.invalid", transport=httpx.MockTransport(lambda r: httpx.Response(200, content=answer)), clock=lambda: NOW, retries=0)


async def _evidence_with(tempo: TempoSource):
    service = EvidenceService(None, _loki(), lambda: NOW, traces=tempo)
    evidence = await service.gather(_alert(service="checkout-api", namespace="payments", pod="payments-api-7d9f8b6c4-x2kqp"))
    await tempo.aclose()
    return evidence


async def test_tempo_down_costs_only_the_traces_part():
    evidence = await _evidence_with(_tempo(f"http://127.0.0.1:{free_port()}", timeout_s=2))
    assert evidence.traces_error in ("connection refused", "cannot connect")
    assert evidence.logs and not evidence.logs_error  # the rest of the evidence is there
    assert "traces (slow or failed)" in _text(evidence_renderable_of(evidence)) and evidence.traces_error in _text(evidence_renderable_of(evidence))


async def test_a_slow_tempo_ends_at_its_deadline():
    with TempoStub(delay_s=30) as stub:
        evidence = await _evidence_with(_tempo(stub.url, timeout_s=0.5))
    assert evidence.traces_error == "timed out" and evidence.logs


async def test_a_400_says_what_tempo_said_without_credentials():
    body = b'invalid TraceQL query: parse error at line 1, col 26: syntax error: unexpected IDENTIFIER\n'
    with TempoStub(search_body=body, search_status=400) as stub:
        url = stub.url.replace("http://", "http://oncall:s3cret-token@")
        evidence = await _evidence_with(_tempo(url))
    assert evidence.traces_error.startswith("HTTP 400 from http://")
    assert evidence.traces_error.endswith("/api/search: invalid TraceQL query: parse error at line 1, col 26: syntax error: unexpected IDENTIFIER")
    assert "s3cret" not in evidence.traces_error and evidence.logs


async def test_a_500_and_a_missing_trace_are_readable_lines():
    with TempoStub(search_body=b"internal error", search_status=500) as stub:
        tempo = _tempo(stub.url)
        with pytest.raises(SourceError, match="^HTTP 500$"):
            await tempo.traces_for(_alert(service="checkout-api"))
        with pytest.raises(SourceError, match="HTTP 404 from .*/api/traces/abc: trace not found"):
            await tempo.trace("abc")
        with pytest.raises(SourceError, match="not a trace id"):
            await tempo.trace("../../status")
        assert tempo.health().state.value == "down"
        await tempo.aclose()


def evidence_renderable_of(evidence):
    from sreconsole.tui.evidence_view import evidence_renderable
    from textual.theme import BUILTIN_THEMES

    return evidence_renderable(evidence, 100, BUILTIN_THEMES["textual-dark"])


async def test_the_side_panel_shows_one_line_per_trace():
    with TempoStub() as stub:
        evidence = await _evidence_with(_tempo(stub.url))
    text = _text(evidence_renderable_of(evidence))
    assert "traces (slow or failed)" in text
    assert "error   42ms  9c1b7e2d  checkout-api: POST /api/orders" in text
    assert "slow    2.4s  2f3e0c3a  frontend: GET /checkout" in text
    assert 'resource.service.name = "checkout-api"' in text  # the query, to run elsewhere


def test_settings_and_the_evidence_service_take_tempo(monkeypatch):
    from sreconsole.config import load_settings
    from sreconsole.services.evidence import build_evidence_service

    monkeypatch.setenv("SRECONSOLE_TEMPO_URL", "http://tempo.monitoring:3200")
    monkeypatch.setenv("SRECONSOLE_TEMPO_SLOW_MS", "900")
    settings = load_settings(overrides={"alertmanager.url": "http://am.invalid:9093", "knowledge.enabled": False})
    assert settings.configured_sources()["tempo"] == "http://tempo.monitoring:3200"
    service = build_evidence_service(settings, None, lambda: NOW)
    assert isinstance(service.traces, TempoSource) and service.traces.slow_ms == 900
    monkeypatch.delenv("SRECONSOLE_TEMPO_URL")
    assert build_evidence_service(load_settings(overrides={"alertmanager.url": "http://am.invalid:9093", "knowledge.enabled": False}), None, lambda: NOW).traces is None


def test_doctor_checks_tempo_when_configured():
    from sreconsole.config import load_settings
    from sreconsole.services.doctor import run_checks

    def tempo_check(url: str):
        return next(c for c in run_checks(load_settings(overrides={"tempo.url": url})) if c.name == "tempo")

    with TempoStub() as stub:
        ok = tempo_check(stub.url)
        assert ok.ok is True and ok.detail == f"{stub.url}/ready" and stub.requests == [("/ready", {})]
    down = tempo_check(f"http://127.0.0.1:{free_port()}")
    assert down.ok is False and "connection refused" in down.detail
    assert tempo_check("").ok is None


async def test_enter_on_a_trace_line_opens_its_span_tree(make_demo_app):
    """The pilot: the demo's HighErrorRate (deployment checkout-api), Tempo at the stub.
    enter opens the alert, t moves into its traces, G to the recorded one, enter opens it."""
    from sreconsole.tui.modals import AlertDetailScreen
    from sreconsole.tui.panes.alerts import AlertsPane
    from sreconsole.tui.span_tree import SpanTreeScreen

    from conftest import wait_for_polls

    with TempoStub() as stub:
        app = make_demo_app()
        app.evidence_service.traces = _tempo(stub.url)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_polls(app, pilot)
            pane = app.query_one(AlertsPane)
            target = next(a for a in pane.visible_alerts() if a.alertname == "HighErrorRate")
            pane.select_fingerprint(target.fingerprint)
            await pilot.pause(0.3)
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            detail = app.screen
            assert isinstance(detail, AlertDetailScreen) and len(detail.evidence.traces) == 3
            assert 'resource.service.name = "checkout-api"' in detail.evidence.traces_query
            await pilot.press("t", "G")
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            tree = app.screen
            assert isinstance(tree, SpanTreeScreen) and tree.trace.trace_id == TRACE_ID
            assert [s.name for _, s in tree.rows][:3] == ["GET /checkout", "POST /api/orders", "SELECT orders"]
            shown = _text(tree.query_one("#span-tree").content)
            assert "    SELECT orders" in shown and "charge card" in shown and "error" in shown
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is detail
            await pilot.press("t", "g", "enter")  # the newest trace has no recording: a readable line
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.screen.error.startswith("HTTP 404 from") and "trace not found" in _text(app.screen.query_one("#span-tree").content)
