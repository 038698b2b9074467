"""An ack or a silence mutes the selected alert, not its neighbours (hole 5 of issue 15).

``a`` on an alert with only ``alertname`` and ``severity`` created ``alertname="X"`` and
silenced every alert of that name: ``severity`` was left out of the matchers. Alertmanager
identifies an alert by all of its labels (its UI and karma fill a silence with all of them),
so the matchers now carry every label. Equality on all labels can still match an alert that
has those labels and more; the dialogs then say how many firing alerts would be muted and
ask, naming them. Everything here runs against the real Alertmanager.
"""

from __future__ import annotations

import asyncio
import time

from adversarial.hostile import new_toasts, screen_text, toast_ids, until
from sreconsole.domain.alerts import AlertState
from sreconsole.domain.operator import Operator


def _alert(**labels) -> dict:
    return {"labels": labels, "annotations": {"summary": "disk filling"}}


async def _fetch(source, n: int):
    for _ in range(100):
        alerts = await source.fetch_alerts()
        if len(alerts) >= n:
            return {a.labels.get("severity", "") + "/" + a.labels.get("pod", ""): a for a in alerts}
        await asyncio.sleep(0.1)
    raise AssertionError("alerts did not reach Alertmanager")


async def _states(source, wanted: dict[str, AlertState]) -> dict:
    """Poll until Alertmanager reports the wanted states (its silences apply within a second)."""
    deadline = time.monotonic() + 15
    while True:
        now = {key: a.state for key, a in (await _fetch(source, len(wanted))).items()}
        if all(now.get(k) is v for k, v in wanted.items()) or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.3)


async def test_ack_of_one_alert_leaves_its_namesake_with_another_severity_firing(alertmanager):
    from sreconsole.services.alerts import AlertsService
    from sreconsole.sources.alertmanager import AlertmanagerSource

    alertmanager.post_alerts([_alert(alertname="DiskFilling", severity="warning"), _alert(alertname="DiskFilling", severity="critical")])
    source = AlertmanagerSource(alertmanager.url)
    try:
        alerts = await _fetch(source, 2)
        silence_id = await AlertsService(source).acknowledge(alerts["warning/"], Operator("carol"))
        stored = alertmanager.get(f"/api/v2/silence/{silence_id}")
        assert {(m["name"], m["value"]) for m in stored["matchers"]} == {("alertname", "DiskFilling"), ("severity", "warning")}
        states = await _states(source, {"warning/": AlertState.SILENCED, "critical/": AlertState.FIRING})
        assert states["warning/"] is AlertState.SILENCED
        assert states["critical/"] is AlertState.FIRING, "the ack muted an alert it was not given"
    finally:
        await source.aclose()


async def test_ack_that_would_mute_more_asks_first_and_names_them(alertmanager, live_settings):
    """``{alertname, severity}`` also matches the same alert with a ``pod`` label: the ack
    asks before creating anything, names the other alert, and esc creates nothing."""
    from sreconsole.tui.app import make_app
    from sreconsole.tui.modals import MuteConfirmScreen, SilenceScreen
    from sreconsole.tui.panes.alerts import AlertsPane

    alertmanager.post_alerts([_alert(alertname="DiskFilling", severity="warning"), _alert(alertname="DiskFilling", severity="warning", pod="db-0")])
    app = make_app(live_settings(), operator=Operator("alice"))
    async with app.run_test(size=(120, 34), notifications=True) as pilot:
        pane = app.query_one(AlertsPane)
        await until(pilot, lambda: len(pane.visible_alerts()) == 2, "both alerts")
        wide = next(a for a in pane.visible_alerts() if "pod" not in a.labels)
        pane.select_fingerprint(wide.fingerprint)
        await pilot.pause()

        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, MuteConfirmScreen), "the confirmation")
        dialog = app.screen
        assert sorted(a.labels.get("pod", "") for a in dialog.muted) == ["", "db-0"]
        await pilot.pause(0.1)
        shown = screen_text(app)
        assert "pod=db-0" in shown and "mute 2 firing alerts" in shown and "this alert" in shown
        before = toast_ids(app)
        await pilot.press("escape")
        await until(pilot, lambda: any("cancelled" in m for m in new_toasts(app, before)), "the cancel toast")
        assert alertmanager.get("/api/v2/silences") == [], "esc created a silence"

        await pilot.press("s")  # the silence dialog says the same before anything is typed
        await until(pilot, lambda: isinstance(app.screen, SilenceScreen), "the silence dialog")
        await pilot.pause(0.1)
        assert "mutes 2 firing alerts: DiskFilling" in screen_text(app)
        await pilot.press("escape")

        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, MuteConfirmScreen), "the confirmation again")
        before = toast_ids(app)
        await pilot.press("enter")  # confirmed: one silence, as shown
        await until(pilot, lambda: any("acknowledged" in m for m in new_toasts(app, before)), "the ack toast")
        [silence] = alertmanager.get("/api/v2/silences")
        assert silence["comment"].startswith("ACK!")


async def test_ack_of_an_alert_no_other_alert_shares_goes_straight_through(alertmanager, live_settings):
    from sreconsole.tui.app import make_app
    from sreconsole.tui.modals import MuteConfirmScreen
    from sreconsole.tui.panes.alerts import AlertsPane

    alertmanager.post_alerts([_alert(alertname="DiskFilling", severity="warning", pod="db-0"), _alert(alertname="DiskFilling", severity="warning", pod="db-1")])
    app = make_app(live_settings(), operator=Operator("alice"))
    async with app.run_test(size=(120, 34), notifications=True) as pilot:
        pane = app.query_one(AlertsPane)
        await until(pilot, lambda: len(pane.visible_alerts()) == 2, "both alerts")
        pane.select_fingerprint(next(a.fingerprint for a in pane.visible_alerts() if a.labels.get("pod") == "db-0"))
        await pilot.pause()
        before = toast_ids(app)
        await pilot.press("a")
        await until(pilot, lambda: any("acknowledged" in m for m in new_toasts(app, before)), "the ack toast")
        assert not isinstance(app.screen, MuteConfirmScreen)
        [silence] = alertmanager.get("/api/v2/silences")
        assert {(m["name"], m["value"]) for m in silence["matchers"]} == {("alertname", "DiskFilling"), ("severity", "warning"), ("pod", "db-0")}
        await until(pilot, lambda: {a.labels["pod"]: a.state for a in pane.visible_alerts()}.get("db-0") is AlertState.SILENCED, "db-0 silenced")
        assert {a.labels["pod"]: a.state for a in pane.visible_alerts()}["db-1"] is AlertState.FIRING
