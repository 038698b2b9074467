"""Matchers pushed to a real Alertmanager (``filter=`` on ``/api/v2/alerts``, issue 18): only
exact matchers on plain values are sent, and filtering on the server then on our side gives
exactly what fetching everything and filtering on our side gives."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sreconsole.domain.matchers import MatchType, parse_filter
from sreconsole.services.alerts import AlertsService
from sreconsole.sources.alertmanager import AlertmanagerSource, server_matchers

from harness import Alertmanager


@pytest.fixture(scope="module")
def am(tmp_path_factory):
    server = Alertmanager(tmp_path_factory.mktemp("am-filter"))
    server.start()
    ends = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    alerts = []
    for i in range(120):
        labels = {"alertname": f"Alert{i % 4}", "severity": ("critical", "warning", "info")[i % 3], "namespace": f"team-{i % 6}",
                  "pod": f"svc-{i}"}
        if i % 10 == 0:
            labels["zone"] = 'eu "west", 1'  # a value with quotes, a comma and spaces: never pushed
        if i % 7 == 0:
            del labels["namespace"]  # a missing label matches as ""
        alerts.append({"labels": labels, "annotations": {"summary": f"problem {i}"}, "endsAt": ends})
    server.post_alerts(alerts)
    yield server
    server.stop()


FILTERS = [
    'severity="critical"',
    'severity="critical" namespace="team-2"',
    'namespace!="team-1"',
    'namespace=""',
    'severity="warning" pod=~"svc-1.*"',
    'zone="eu \\"west\\", 1"',
    'zone!="eu \\"west\\", 1" severity="info"',
    'alertname="Alert3" svc-3',
    'namespace="nope"',
]


def _client_side(flt, alerts):
    return sorted(a.fingerprint for a in alerts if flt.matches(a.labels, a.search_text()))


async def test_server_side_filter_gives_what_client_side_filtering_gives(am):
    source = AlertmanagerSource(am.url, timeout_s=10)
    service = AlertsService(source)
    try:
        everything = []
        for _ in range(100):  # the posted alerts appear within a moment
            everything = list(await source.fetch_alerts())
            if len(everything) == 120:
                break
        assert len(everything) == 120
        for text in FILTERS:
            flt = parse_filter(text)
            service.server_matchers = flt.matchers
            snapshot = await service.refresh()
            pushed = server_matchers(flt.matchers)
            assert all(m.type in (MatchType.EQUAL, MatchType.NOT_EQUAL) and '"' not in m.value for m in pushed), text
            assert len(snapshot.filtered_by) == len(pushed), text
            if pushed:
                assert len(snapshot.alerts) < 120, text  # Alertmanager did filter
            assert _client_side(flt, snapshot.alerts) == _client_side(flt, everything), text
        # Nothing pushable: a plain fetch, marked as unfiltered.
        service.server_matchers = parse_filter('pod=~"svc-1.*" zone="eu \\"west\\", 1"').matchers
        snapshot = await service.refresh()
        assert snapshot.filtered_by == () and len(snapshot.alerts) == 120
    finally:
        await source.aclose()


async def test_the_pane_pushes_its_exact_matchers_and_shows_the_same_rows(am):
    from sreconsole.config import load_settings
    from sreconsole.tui.app import make_app
    from sreconsole.tui.panes.alerts import AlertsPane

    from conftest import wait_for_polls

    app = make_app(load_settings(overrides={"alertmanager.url": am.url, "poll_interval_s": 3600}))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        everything = list(pane.snapshot.alerts)
        assert len(everything) == 120
        for text, pushed in (('severity="critical" pod=~"svc-1.*"', 1), ("", 0)):
            polls = app.polls
            pane._set_filter(text)
            await wait_for_polls(app, pilot, polls + 1)
            assert len(pane.snapshot.filtered_by) == pushed
            assert len(pane.snapshot.alerts) == (40 if pushed else 120)
            flt = parse_filter(text)
            assert sorted(a.fingerprint for a in pane.visible_alerts()) == _client_side(flt, everything)
            # What the source left out did not resolve.
            assert not pane._resolved
