"""Every silence in view (issue 21, section 3), against the real Alertmanager of the harness.

A silence that matches no alert shows 0 in the Silences view (``S`` in the Alerts pane) and
in ``silences list --json``; expire, extend and re-create from the view's keys change the
silence on Alertmanager itself; a hostile comment is shown as text, never as markup or
terminal escapes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from adversarial.hostile import new_toasts, screen_faults, screen_text, toast_ids, until
from sreconsole.domain.alerts import parse_time
from sreconsole.domain.matchers import parse_matchers
from sreconsole.domain.operator import Operator

SRC = Path(__file__).resolve().parents[2] / "src"
HOSTILE = "[@click=app.quit]x[/] \x1b[31mred\x1b]0;title\x07"


def _alert(**labels) -> dict:
    return {"labels": labels, "annotations": {"summary": "disk filling"}}


async def _silence(am, matchers: str, comment: str = "maintenance", by: str = "bob", hours: float = 1.0, later: float = 0.0) -> str:
    from sreconsole.sources.alertmanager import AlertmanagerSource

    source = AlertmanagerSource(am.url)
    try:
        from datetime import datetime, timezone

        now = datetime.now(timezone.utc) + timedelta(hours=later)
        return await source.create_silence(parse_matchers(matchers), now, now + timedelta(hours=hours), by, comment)
    finally:
        await source.aclose()


async def _alerts(source, n: int):
    for _ in range(100):
        alerts = await source.fetch_alerts()
        if len(alerts) >= n:
            return alerts
        await asyncio.sleep(0.1)
    raise AssertionError("alerts did not reach Alertmanager")


async def test_rows_count_what_each_silence_mutes_zero_included(alertmanager):
    from sreconsole.services.alerts import AlertsService
    from sreconsole.sources.alertmanager import AlertmanagerSource

    alertmanager.post_alerts([_alert(alertname="DiskFilling", severity="warning", pod="db-0"),
                              _alert(alertname="DiskFilling", severity="warning", pod="db-1")])
    wide = await _silence(alertmanager, 'alertname="DiskFilling", pod=~"db-.*"')
    nothing = await _silence(alertmanager, 'alertname="NoSuchAlert"')
    pending = await _silence(alertmanager, 'alertname="DiskFilling"', later=2.0)
    source = AlertmanagerSource(alertmanager.url)
    try:
        service = AlertsService(source)
        alerts = await _alerts(source, 2)
        rows = {r.silence.id: r for r in await service.silence_rows(tuple(alerts))}
        assert len(rows[wide].muted) == 2 and rows[wide].silence.created_by == "bob"
        assert rows[nothing].muted == () and rows[nothing].silence.state == "active"
        assert rows[pending].silence.state == "pending" and rows[pending].muted == (), "a pending silence mutes nothing yet"
        await service.expire(nothing)
        rows = {r.silence.id: r for r in await service.silence_rows(tuple(alerts))}
        assert rows[nothing].silence.state == "expired", "an expired silence of the last 24 h is listed"
        assert rows[nothing].muted == ()
        assert list(rows) == [wide, pending, nothing], "active, then pending, then expired"
    finally:
        await source.aclose()


async def test_view_shows_zero_then_expires_extends_and_recreates_on_alertmanager(alertmanager, live_settings):
    from sreconsole.tui.app import make_app
    from sreconsole.tui.panes.alerts import AlertsPane
    from sreconsole.tui.panes.silences import ConfirmExpireScreen, DurationScreen, SilencesScreen, SilenceTable

    alertmanager.post_alerts([_alert(alertname="DiskFilling", severity="warning")])
    quiet = await _silence(alertmanager, 'alertname="NoSuchAlert"', comment="window for a job that never ran")
    app = make_app(live_settings(), operator=Operator("alice"))
    async with app.run_test(size=(180, 40), notifications=True) as pilot:
        pane = app.query_one(AlertsPane)
        await until(pilot, lambda: len(pane.visible_alerts()) == 1, "the alert")
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SilencesScreen) and quiet in app.screen.rows, "the silence listed")
        view = app.screen
        assert view.rows[quiet].muted == ()
        await pilot.pause(0.1)
        shown = screen_text(app)
        assert "NoSuchAlert" in shown and "window for a job" in shown and "1 active muting nothing" in shown

        # extend: e, a typed duration, enter → endsAt moves by that much on Alertmanager
        before_end = parse_time(alertmanager.get(f"/api/v2/silence/{quiet}")["endsAt"])
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, DurationScreen), "the duration dialog")
        app.screen.query_one("#duration-value").value = "3h"
        before = toast_ids(app)
        await pilot.press("enter")
        await until(pilot, lambda: any("extended" in m for m in new_toasts(app, before)), "the extend toast")
        after_end = parse_time(alertmanager.get(f"/api/v2/silence/{quiet}")["endsAt"])
        assert abs((after_end - before_end) - timedelta(hours=3)) < timedelta(seconds=5)

        # expire: x asks, naming the id; n keeps it, y expires it on Alertmanager
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmExpireScreen), "the confirmation")
        await pilot.pause(0.1)
        assert quiet in screen_text(app)
        await pilot.press("n")
        await until(pilot, lambda: app.screen is view, "back in the view")
        assert alertmanager.get(f"/api/v2/silence/{quiet}")["status"]["state"] == "active"
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmExpireScreen), "the confirmation again")
        before = toast_ids(app)
        await pilot.press("y")
        await until(pilot, lambda: any(f"expired silence {quiet}" in m for m in new_toasts(app, before)), "the expire toast")
        assert alertmanager.get(f"/api/v2/silence/{quiet}")["status"]["state"] == "expired"
        await until(pilot, lambda: view.rows.get(quiet) is not None and view.rows[quiet].silence.state == "expired", "listed as expired")

        # re-create: r on the expired one, a new comment → a new silence, same matchers
        table = view.query_one(SilenceTable)
        table.move_cursor(row=list(view.rows).index(quiet), animate=False)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, DurationScreen), "the re-create dialog")
        await pilot.pause(0.1)
        assert "would mute 0 alerts now" in screen_text(app), "the preview before creating"
        before = toast_ids(app)
        await pilot.press("enter")  # no comment: refused, nothing created
        await pilot.pause(0.1)
        assert "comment is required" in screen_text(app) and len(alertmanager.get("/api/v2/silences")) == 1
        app.screen.query_one("#duration-comment").value = "the job runs tonight after all"
        await pilot.press("enter")
        await until(pilot, lambda: any("created in place of" in m for m in new_toasts(app, before)), "the re-create toast")
        fresh = [s for s in alertmanager.get("/api/v2/silences") if s["id"] != quiet]
        assert len(fresh) == 1 and fresh[0]["comment"] == "the job runs tonight after all"
        assert fresh[0]["createdBy"] == "alice" and fresh[0]["status"]["state"] == "active"
        assert [(m["name"], m["value"]) for m in fresh[0]["matchers"]] == [("alertname", "NoSuchAlert")]

        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, SilencesScreen), "the view closed")


async def test_list_keys_move_the_cursor(alertmanager, live_settings):
    from sreconsole.tui.app import make_app
    from sreconsole.tui.panes.silences import SilencesScreen, SilenceTable

    ids = [await _silence(alertmanager, f'alertname="Quiet{i}"', hours=1 + i) for i in range(3)]
    app = make_app(live_settings(), operator=Operator("alice"))
    async with app.run_test(size=(180, 40)) as pilot:
        await pilot.pause(0.5)
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SilencesScreen) and len(app.screen.rows) == 3, "three silences")
        table = app.screen.query_one(SilenceTable)
        await until(pilot, lambda: table.row_count == 3, "three rows")
        assert table.selected_key() == ids[0], "soonest to end first"
        await pilot.press("G")
        assert table.selected_key() == ids[2]
        await pilot.press("k")
        assert table.selected_key() == ids[1]
        await pilot.press("g")
        assert table.selected_key() == ids[0]
        await pilot.press("j")
        assert table.selected_key() == ids[1]


async def test_hostile_comment_and_author_are_shown_as_text(alertmanager, live_settings):
    from sreconsole.tui.app import make_app
    from sreconsole.tui.panes.silences import ConfirmExpireScreen, SilencesScreen

    sid = await _silence(alertmanager, 'alertname="Quiet"', comment=HOSTILE, by="[b]mallory[/b]\x1b[2J")
    app = make_app(live_settings(), operator=Operator("alice"))
    async with app.run_test(size=(200, 40), notifications=True) as pilot:
        await pilot.pause(0.5)
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, SilencesScreen) and sid in app.screen.rows, "the silence")
        await pilot.pause(0.2)
        shown = screen_text(app)
        assert "[@click=app.quit]x[/]" in shown, "the markup is shown as typed"
        assert "[b]mallory[/b]" in shown
        assert screen_faults(app) == []
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmExpireScreen), "the confirmation")
        await pilot.pause(0.1)
        assert "[@click=app.quit]x[/]" in screen_text(app) and screen_faults(app) == []
        await pilot.press("n")
        assert app.is_running


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS")}
    env["PYTHONPATH"] = str(SRC)
    return subprocess.run([sys.executable, "-m", "sreconsole", *args], env=env, capture_output=True, text=True, timeout=120)


def test_silences_list_json_gives_the_same_list(alertmanager):
    alertmanager.post_alerts([_alert(alertname="DiskFilling", severity="warning")])
    muting = asyncio.run(_silence(alertmanager, 'alertname="DiskFilling"'))
    quiet = asyncio.run(_silence(alertmanager, 'alertname="NoSuchAlert"', comment=HOSTILE))
    deadline = time.monotonic() + 15
    while not alertmanager.get("/api/v2/alerts") and time.monotonic() < deadline:
        time.sleep(0.2)
    out = _cli("silences", "list", "--json", "--alertmanager", alertmanager.url)
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    assert set(rows) == {muting, quiet}
    assert rows[muting]["mutes"] == 1 and len(rows[muting]["muted_fingerprints"]) == 1
    assert rows[quiet]["mutes"] == 0 and rows[quiet]["muted_fingerprints"] == []
    assert rows[quiet]["comment"] == HOSTILE, "JSON keeps the text as data"
    assert rows[quiet]["matchers"] == [{"name": "alertname", "value": "NoSuchAlert", "isRegex": False, "isEqual": True}]
    assert rows[quiet]["state"] == "active" and rows[quiet]["created_by"] == "bob"
    assert parse_time(rows[quiet]["ends_at"]) > parse_time(rows[quiet]["starts_at"])

    table = _cli("silences", "list", "--alertmanager", alertmanager.url)
    assert table.returncode == 0, table.stderr
    assert quiet in table.stdout and "\x1b" not in table.stdout
