"""The console's own metrics (issue 21, item 5): computed from a real review store and the
triage engine's latencies, shown on the Stats view (`m`), exported with prometheus_client
on an opt-in loopback port, and scraped by a real Prometheus started by the harness.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from sreconsole.domain.alerts import Alert
from sreconsole.domain.operator import Operator
from sreconsole.domain.proposal import Proposal
from sreconsole.services.console_metrics import ConsoleStats, collect, percentile
from sreconsole.services.metrics_export import MetricsRefused, parse_listen, serve

from conftest import wait_for_polls
from harness import Prometheus, free_port

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


def _queue_with_history(settings):
    """A review queue holding four proposals: two by the TRM (one enhanced by retrieval),
    one by the rule annotation, one needing a human; alice decided two, bob one, and one
    pod restart was judged effective, one not."""
    from sreconsole.services.review import ReviewQueue

    alice, bob = Operator("alice"), Operator("bob")
    queue = ReviewQueue(settings, alice, clock=lambda: T0)
    store = queue.store
    rows = [("a", "trm", 0.92, False, "pod-restart"), ("b", "trm+rag", 0.65, False, "pod-restart"),
            ("c", "annotation", 1.0, False, "rollout-restart"), ("d", "trm", 0.31, True, "escalate")]
    ids = {}
    for fp, method, conf, human, action in rows:
        labels = {"alertname": f"Alert{fp}", "namespace": "shop", "pod": f"web-{fp}"}
        alert = Alert(fp, labels, {}, starts_at=T0)
        p = Proposal(fingerprint=fp, alertname=labels["alertname"], action=action, title=action,
                     parameters={"name": f"web-{fp}", "namespace": "shop"}, command="kubectl ...", api=None,
                     confidence=conf, method=method, requires_human_review=human, risk="low", reversible=False)
        ids[fp] = store.enqueue(p, alert, now=T0, source="am").id
    for fp, who in (("a", alice), ("b", alice), ("c", bob)):
        store.decide(ids[fp], "approve", who, "ok", now=T0)
    for fp in ("a", "b"):
        store.record_result(ids[fp], "executed", {"calls": [], "undo": None}, alice, now=T0)
    windows = {"pod-restart": 600.0}
    store.watch_outcomes([{"fingerprint": "b", "labels": {"alertname": "Alertb", "namespace": "shop", "pod": "web-b"}, "state": "firing"}],
                         windows, now=T0 + timedelta(minutes=2))
    store.watch_outcomes([{"fingerprint": "b", "labels": {"alertname": "Alertb", "namespace": "shop", "pod": "web-b"}, "state": "firing"}],
                         windows, now=T0 + timedelta(minutes=11))
    return queue


def test_the_numbers_from_a_real_review_store(settings):
    queue = _queue_with_history(settings)
    try:
        s = collect(queue)
    finally:
        queue.close()
    assert s.proposals == 4 and s.by_method == {"trm": 2, "trm+rag": 1, "annotation": 1}
    assert s.trm_share == 0.75 and s.rag_rate == pytest.approx(1 / 3) and s.human_review_share == 0.25
    assert s.decisions_by_operator == {"alice": 2, "bob": 1}
    assert s.outcomes == {"pod-restart": {"effective": 1, "not_effective": 1}} and s.effectiveness("pod-restart") == 0.5
    assert sum(s.confidence) == 4 and s.confidence[9] == 2 and s.confidence[3] == 1  # 0.92 and 1.0; 0.31


def test_latencies_with_and_without_retrieval_and_the_caches_come_from_the_engine():
    class Engine:
        latencies = [("trm", 0.010), ("trm", 0.020), ("trm+rag", 0.300), ("trm", 0.030), ("retrieval", 0.500)]
        embed = type("E", (), {"hits": 9, "misses": 1})()

    class Triage:
        _engine = Engine()

    class Knowledge:
        _kb = type("K", (), {"query_hits": 3, "query_misses": 1})()

    s = collect(None, Triage(), Knowledge())
    assert s.latency["without_rag"] == {"p50": 0.020, "p95": 0.030, "p99": 0.030, "n": 3.0}
    assert s.latency["with_rag"]["p50"] == 0.300 and s.latency["with_rag"]["p99"] == 0.500
    assert s.embed_cache == (9, 1) and s.query_cache == (3, 1)
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0 and percentile([1.0] * 99 + [9.0], 0.99) == 1.0


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", "10.1.2.3:9464", "example.com:9464"])
def test_a_non_loopback_address_is_refused_unless_allowed(listen):
    with pytest.raises(MetricsRefused):
        parse_listen(listen)
    if not listen.startswith("example"):
        assert parse_listen(listen, allow_remote=True)[1] == 9464


def test_loopback_addresses_and_bad_forms():
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("localhost:1") == ("localhost", 1)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    for bad in ("9464", "127.0.0.1:", "127.0.0.1:99999", ":9464"):
        with pytest.raises(MetricsRefused):
            parse_listen(bad)


def _query(prom: Prometheus, expr: str) -> list[dict]:
    url = f"{prom.url}/api/v1/query?query={urllib.parse.quote(expr)}"
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())["data"]["result"]


async def _until_scraped(prom: Prometheus, expr: str, timeout: float = 40.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        result = await asyncio.to_thread(_query, prom, expr)
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"Prometheus never scraped {expr}")
        await asyncio.sleep(0.5)


async def test_prometheus_scrapes_the_console_it_runs_and_the_stats_view_shows_the_same(settings, make_demo_app, tmp_path):
    from sreconsole.tui.panes.stats import StatsScreen

    _queue_with_history(settings).close()
    port = free_port()
    settings.metrics.listen = f"127.0.0.1:{port}"
    prom = Prometheus(tmp_path / "prom", None, [], scrape={"sreconsole": f"127.0.0.1:{port}"})
    app = make_demo_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_polls(app, pilot)
        prom.start()
        try:
            (trm,) = await _until_scraped(prom, 'sreconsole_trm_share{job="sreconsole"}')
            assert float(trm["value"][1]) == 0.75
            decisions = {r["metric"]["operator"]: float(r["value"][1]) for r in await _until_scraped(prom, "sreconsole_decisions")}
            assert decisions == {"alice": 2.0, "bob": 1.0}
            (rate,) = await _until_scraped(prom, 'sreconsole_action_effectiveness_rate{action="pod-restart"}')
            assert float(rate["value"][1]) == 0.5
            (human,) = await _until_scraped(prom, "sreconsole_human_review_share")
            assert float(human["value"][1]) == 0.25
            (count,) = await _until_scraped(prom, 'sreconsole_proposal_confidence_bucket{le="+Inf"}')
            assert float(count["value"][1]) == 4
        finally:
            prom.stop()
        await pilot.press("m")
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, StatsScreen) and app.screen.stats is not None:
                break
        screen = app.screen
        assert isinstance(screen, StatsScreen) and isinstance(screen.stats, ConsoleStats)
        from rich.console import Console

        from sreconsole.tui.panes.stats import stats_table

        console = Console(width=120, record=True, file=open("/dev/null", "w"))
        console.print(stats_table(screen.stats))
        shown = console.export_text()
        assert "TRM share" in shown and "75%" in shown and "decisions alice" in shown and "effective pod-restart" in shown
        await pilot.press("escape")
        assert not isinstance(app.screen, StatsScreen)


def test_the_exporter_answers_on_loopback_only(settings):
    port = free_port()
    server = serve(f"127.0.0.1:{port}", lambda: ConsoleStats(proposals=1, by_method={"trm": 1}))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            body = r.read().decode()
        assert 'sreconsole_proposals{method="trm"} 1.0' in body and "sreconsole_trm_share 1.0" in body
    finally:
        server.shutdown()
