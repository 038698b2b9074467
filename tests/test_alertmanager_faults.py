"""Alertmanager misbehaving, and hostile alert text.

Faults (500, HTML, truncated JSON, silence past the timeout) cannot be made to come out of
a real Alertmanager, so they are injected with httpx's MockTransport in front of the real
client code. Hostile labels are posted to the real Alertmanager and read back.
"""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from sreconsole.domain.health import HealthState
from sreconsole.domain.matchers import MatcherError, parse_filter, parse_matchers
from sreconsole.services.alerts import AlertsService
from sreconsole.sources.alertmanager import AlertmanagerSource, parse_alert
from sreconsole.sources.base import SourceError

GOOD = [{"labels": {"alertname": "A", "severity": "critical"}, "annotations": {}, "startsAt": "2026-11-23T10:00:00.123456789Z",
         "endsAt": "2026-11-23T11:00:00Z", "fingerprint": "00000000000000aa", "status": {"state": "active", "silencedBy": [], "inhibitedBy": []}}]


def _source(handler) -> AlertmanagerSource:
    return AlertmanagerSource("http://am.invalid", timeout_s=0.3, retries=1, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    "response, reason",
    [
        (httpx.Response(500, text="boom"), "HTTP 500"),
        (httpx.Response(200, text="<html><body>login</body></html>", headers={"content-type": "text/html"}), "not JSON (text/html"),
        (httpx.Response(200, text='[{"labels": {"alertname": "A"', headers={"content-type": "application/json"}), "not JSON"),
        (httpx.Response(200, json={"status": "error"}), "not a list"),
        (httpx.Response(404, text="no"), "HTTP 404"),
    ],
)
async def test_bad_answers_become_a_clear_state_and_keep_the_last_alerts(response, reason):
    answers = iter([httpx.Response(200, json=GOOD)])

    def handler(request):
        return next(answers, response)

    source = _source(handler)
    service = AlertsService(source)
    first = await service.refresh()
    assert [a.alertname for a in first.alerts] == ["A"]
    snap = await service.refresh()
    assert reason in snap.error
    assert [a.alertname for a in snap.alerts] == ["A"]  # nothing lost
    assert snap.health.state in (HealthState.STALE, HealthState.DOWN)
    await source.aclose()


async def test_no_answer_within_the_timeout():
    def handler(request):
        raise httpx.ReadTimeout("slow", request=request)

    source = _source(handler)
    with pytest.raises(SourceError, match="timed out"):
        await source.fetch_alerts()
    assert source.health().state is HealthState.DOWN and source.health().reason == "timed out"
    await source.aclose()


async def test_retries_with_backoff_then_succeeds():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503) if len(calls) == 1 else httpx.Response(200, json=GOOD)

    source = _source(handler)
    alerts = await source.fetch_alerts()
    assert len(calls) == 2 and alerts[0].alertname == "A"
    await source.aclose()


def test_garbage_elements_are_skipped_not_fatal():
    assert parse_alert("x") is None and parse_alert({"labels": {}}) is None
    alert = parse_alert({"labels": {"alertname": 5, "x": None}, "startsAt": "yesterday"})
    assert alert.labels == {"alertname": "5", "x": ""}
    assert alert.starts_at.tzinfo is not None


def test_nanosecond_timestamps_parse():
    alert = parse_alert(GOOD[0])
    assert alert.starts_at == datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text, error",
    [
        ('severity=~"(crit"', "invalid regular expression"),
        ('name=~"(?=x)"', "not supported by Alertmanager"),
        ('job="unterminated', "unterminated"),
        ("1bad=x", "label names"),
    ],
)
def test_invalid_matchers_are_refused_with_the_reason(text, error):
    with pytest.raises(MatcherError, match=error):
        parse_filter(text)


def test_matchers_behave_like_alertmanager():
    f = parse_filter('{severity="critical", namespace=~"prod.*"} payments')
    assert f.matches({"severity": "critical", "namespace": "prod-eu"}, "payments api")
    assert not f.matches({"severity": "critical", "namespace": "xprod"}, "payments api")  # anchored
    assert not f.matches({"severity": "critical", "namespace": "prod"}, "checkout")
    assert parse_filter('team!=""').matches({"team": "a"}, "")
    assert not parse_filter('team!=""').matches({}, "")  # a missing label is the empty string
    assert parse_filter('x!~"a|b"').matches({"x": "c"}, "")
    assert [str(m) for m in parse_matchers('alertname=Foo,job="a\\"b"')] == ['alertname="Foo"', 'job="a\\"b"']
    with pytest.raises(MatcherError):
        parse_matchers("just words")


HOSTILE = {
    "alertname": "Hostile[bold red]Markup[/]",
    "severity": "critical",
    "namespace": "ns\x1b[2Jclear",
    "pod": "p\x1b]52;c;ZXZpbA==\x07od",
    "rtl": "abc\u202edcba",
    "zw": "a\u200bb",
    "long": "L" * 10_000,
}


async def test_hostile_labels_from_real_alertmanager_render_inert(tmp_path, make_demo_app):
    from sreconsole.config import load_settings
    from sreconsole.tui.app import make_app
    from sreconsole.tui.panes.alerts import AlertsPane, AlertTable

    from conftest import wait_for_polls
    from harness import Alertmanager

    am = Alertmanager(tmp_path / "am")
    am.start()
    try:
        am.post_alerts([{"labels": HOSTILE, "annotations": {"summary": "[link=http://evil]click[/link] \x1b[31mred", "description": "x" * 50_000}}])
        settings = load_settings(overrides={"alertmanager.url": am.url})
        app = make_app(settings)
        async with app.run_test(size=(160, 45)) as pilot:
            for _ in range(50):
                await wait_for_polls(app, pilot, app.polls + 1)
                if app.query_one(AlertsPane).visible_alerts():
                    break
            pane = app.query_one(AlertsPane)
            alert = pane.visible_alerts()[0]
            assert alert.labels["long"] == "L" * 10_000  # the data itself is kept as received
            table = app.query_one(AlertTable)
            cells = table.cells(alert.fingerprint)
            joined = " ".join(c.plain for c in cells)
            assert "\x1b" not in joined and "\u202e" not in joined and "\u200b" not in joined
            assert "Hostile[bold red]Markup[/]" in joined  # markup shown literally
            assert "[link=http://evil]click[/link]" in joined
            assert all(not c.spans or all("link" not in str(s.style) for s in c.spans) for c in cells)
            # the full detail view is inert too, and long values are elided
            await pilot.press("enter")
            await pilot.pause()
            from sreconsole.tui.modals import AlertDetailScreen

            assert isinstance(app.screen, AlertDetailScreen)
            import io

            from rich.console import Console

            from sreconsole.tui.modals import alert_detail

            console = Console(width=150, record=True, color_system=None, file=io.StringIO())
            console.print(alert_detail(app.screen.alert, app.screen.now))
            text = console.export_text()
            assert "\x1b" not in text and "Hostile[bold red]Markup[/]" in text
            assert "L" * 2001 not in text and "…" in text
    finally:
        am.stop()
