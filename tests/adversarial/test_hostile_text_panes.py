"""Every attack class of hostile text, posted to the real Alertmanager, viewed in every pane.

For each class (markup, escapes, OSC 52/8, bidi, NUL, 100,000-character values; see
``hostile.ATTACKS``) one alert carries the text in its name, labels and annotations. The
app reads it from Alertmanager at 160x45 (table and side panel: detail, evidence), opens
the detail view, acks and expires it (real silences), tries to copy its command, shows its
proposal in Review and dry-runs it, and asks Bruno what is firing. After each step the whole
screen is rendered as Textual's driver would write it, and must carry no escape, control,
bidi or zero-width character, no hyperlink and no click action; every toast must show the
text literally (brackets included); the app must still be running.
"""

from __future__ import annotations

import pytest

from adversarial.hostile import ATTACKS, hostile_alert, marker, new_toasts, screen_faults, settle, toast_ids, toasts, until
from sreconsole.domain.operator import Operator


async def _fetch(url: str, name_prefix: str):
    from sreconsole.sources.alertmanager import AlertmanagerSource

    source = AlertmanagerSource(url)
    try:
        for _ in range(50):
            alerts = [a for a in await source.fetch_alerts() if a.alertname.startswith(name_prefix)]
            if alerts:
                return alerts[0]
    finally:
        await source.aclose()
    raise AssertionError(f"{name_prefix} never reached Alertmanager")


def _enqueue(settings, alert) -> None:
    """The proposal triage makes for the alert (no model: the catalog's fallback), queued
    as the Alerts pane would queue it, so that Review shows the hostile alert."""
    from sreconsole.services.review import ReviewQueue
    from sreconsole.triage.engine import TriageEngine
    from sreconsole.triage.models import load_catalog_for

    proposal = TriageEngine(load_catalog_for(settings)).propose(alert)
    ReviewQueue(settings, Operator("triage")).enqueue([proposal], [alert])


@pytest.mark.parametrize("kind", sorted(ATTACKS))
async def test_hostile_text_reaches_no_terminal_from_any_pane(kind, alertmanager, live_settings):
    from sreconsole.tui.app import make_app
    from sreconsole.tui.panes.alerts import AlertsPane
    from sreconsole.tui.panes.bruno import BrunoPane

    text = ATTACKS[kind]
    alertmanager.post_alerts([hostile_alert(kind, text)])
    settings = live_settings()
    alert = await _fetch(alertmanager.url, marker(kind))
    assert alert.labels["team"] == text  # the source keeps the value; only the screen is guarded
    _enqueue(settings, alert)

    app = make_app(settings, operator=Operator("alice"))
    seen: list[str] = []

    def check(step: str) -> None:
        assert app.is_running, f"{kind}: the app died at {step}"
        faults = screen_faults(app)
        assert not faults, f"{kind}, {step}:\n" + "\n".join(faults)
        seen.append(step)

    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        pane = app.query_one(AlertsPane)
        await until(pilot, lambda: any(a.alertname.startswith(marker(kind)) for a in pane.visible_alerts()), "the hostile alert in the table")
        await pilot.pause(0.5)  # the side panel fills 0.15 s after the cursor rests
        await settle(app, pilot)
        check("Alerts table and side panel")

        await pilot.press("enter")
        await pilot.pause(0.3)
        await settle(app, pilot)
        check("alert detail")
        await pilot.press("escape")

        await pilot.press("a")  # a real ack in Alertmanager; the toast names the alert
        await until(pilot, lambda: any("acknowledged" in m for m in toasts(app)), "the ack toast")
        check("ack toast")
        assert any(marker(kind) in m for m in toasts(app))
        await until(pilot, lambda: (pane.selected_alert() or alert).silenced_by, "the alert to show its silence")
        await pilot.press("x")
        await until(pilot, lambda: any(m.startswith("expired") for m in toasts(app)), "the expire toast")
        check("expire toast")

        await pilot.press("y")
        await pilot.pause(0.1)
        check("copy toast")

        await pilot.press("2")
        await until(pilot, lambda: bool(app.query_one("#review-pane").records), "the proposal in Review")
        check("Review")
        before = toast_ids(app)
        await pilot.press("d")
        await until(pilot, lambda: new_toasts(app, before), "the dry-run toast")
        await settle(app, pilot)
        check("Review dry run")

        await pilot.press("4")
        bruno = app.query_one(BrunoPane)
        await pilot.press(*"what is firing?", "enter")
        await until(pilot, lambda: bruno.last_answer is not None, "Bruno's answer", tries=1200)
        assert marker(kind) in bruno.last_answer.text  # the live answer names the hostile alert
        await pilot.pause(0.2)
        check("Bruno's answer about firing alerts")
        assert app.is_running
    assert len(seen) == 8
