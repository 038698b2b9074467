"""The Silences view in the demo (the issue's "list a silence that mutes nothing"): the demo
cluster starts with one silence left from a maintenance, matching no alert of the scenario.
The view lists it with 0 muted and a silence made with ``s`` with what it mutes; ``e``
extends one in place. (The same flows against the real Alertmanager:
tests/adversarial/test_silences_view.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from conftest import wait_for_polls

SRC = Path(__file__).resolve().parents[1] / "src"
QUIET = "demo-0000-quiet-maintenance"


async def test_demo_lists_a_silence_that_mutes_nothing_and_extends_it(make_demo_app):
    from sreconsole.tui.panes.alerts import AlertsPane
    from sreconsole.tui.panes.silences import DurationScreen, SilencesScreen

    app = make_demo_app()
    async with app.run_test(size=(180, 40), notifications=True) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        target = next(a for a in pane.visible_alerts() if a.alertname == "HighErrorRate")
        silence_id = await pane.service.silence(target, timedelta(hours=1), "looking", pane.operator)
        await pilot.press("S")
        for _ in range(200):
            if isinstance(app.screen, SilencesScreen) and silence_id in app.screen.rows:
                break
            await pilot.pause(0.02)
        view = app.screen
        assert view.rows[QUIET].muted == () and view.rows[QUIET].silence.state == "active"
        assert target.fingerprint in {a.fingerprint for a in view.rows[silence_id].muted}
        before = view.rows[QUIET].silence.ends_at
        view.query_one("SilenceTable").move_cursor(row=list(view.rows).index(QUIET), animate=False)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, DurationScreen)
        app.screen.query_one("#duration-value").value = "1d"
        await pilot.press("enter")
        for _ in range(200):
            if view.rows[QUIET].silence.ends_at != before:
                break
            await pilot.pause(0.02)
        assert view.rows[QUIET].silence.ends_at - before == timedelta(days=1), "extended in place, same id"


def test_silences_list_json_in_the_demo():
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS")}
    env["PYTHONPATH"] = str(SRC)
    out = subprocess.run([sys.executable, "-m", "sreconsole", "--demo", "silences", "list", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    row = rows.pop(QUIET)
    assert row["mutes"] == 0 and row["state"] == "active"
    assert row["created_by"] == "demo" and row["matchers"][0]["value"] == "LegacyBatchJobFailed"
    # The rest are the silences behind the alerts the scenario starts silenced: each mutes one.
    assert rows and all(r["mutes"] == 1 and r["id"].startswith("demo-silence-") for r in rows.values())


def test_expired_silences_older_than_a_day_are_left_out():
    """Alertmanager keeps expired silences for its retention (5 days by default); the view
    shows those of the last 24 h. (A pure function: no server can hold a silence that
    ended 25 h ago without waiting for it.)"""
    from datetime import datetime, timezone

    from sreconsole.domain.matchers import parse_matchers
    from sreconsole.domain.silences import Silence, silence_rows

    now = datetime(2026, 1, 2, 12, tzinfo=timezone.utc)
    m = tuple(parse_matchers('alertname="X"'))

    def expired(hours_ago: float) -> Silence:
        end = now - timedelta(hours=hours_ago)
        return Silence(f"s{hours_ago:g}", m, end - timedelta(hours=1), end, "bob", "", "expired")

    rows = silence_rows([expired(25), expired(23), expired(1)], [], now)
    assert [r.silence.id for r in rows] == ["s1", "s23"], "most recent first, the one of 25 h ago left out"


async def test_an_alert_the_scenario_starts_silenced_has_a_silence_that_can_be_expired():
    """A row that says "silenced" has a silence behind it in the view; expiring that
    silence makes the alert fire again, as on Alertmanager."""
    from datetime import datetime, timezone

    from sreconsole.domain.alerts import AlertState
    from sreconsole.sources.demo.simulator import DemoAlertSource, DemoCluster, load_scenario

    epoch = datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)
    cluster = DemoCluster(load_scenario(), 7, epoch)
    # The first minute of the scenario at which it has a silenced alert.
    first = next(m for m in range(0, 24 * 60) if any(a.state is AlertState.SILENCED for a in cluster.alerts_at(epoch + timedelta(minutes=m))))
    now = [epoch + timedelta(minutes=first)]
    source = DemoAlertSource(cluster, clock=lambda: now[0])
    alerts = await source.fetch_alerts()
    muted = [a for a in alerts if a.state is AlertState.SILENCED]
    silences = {s.id: s for s in await source.list_silences()}
    for a in muted:
        (sid,) = a.silenced_by
        assert sid in silences and silences[sid].state == "active"
        assert all(m.matches(a.labels) for m in silences[sid].matchers)
    target = muted[0]
    await source.expire_silence(target.silenced_by[0])
    now[0] += timedelta(seconds=1)
    again = {a.fingerprint: a for a in await source.fetch_alerts()}
    assert again[target.fingerprint].state is AlertState.FIRING and again[target.fingerprint].silenced_by == ()
