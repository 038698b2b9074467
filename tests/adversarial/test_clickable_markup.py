"""No outside text can become a hyperlink or a click action (hole 2 of issue 15).

An alertname such as ``X[link="https://evil.example"]CLICK[/link][@click=app.quit]QUIT[/]``
made the ack toast a real OSC 8 hyperlink, and a click on ``QUIT`` ran ``app.quit``
(``app.review(...)`` and ``app.screenshot(...)`` were reachable the same way). Here the
alert comes from the real Alertmanager; the toasts of ``a``, ``s`` and ``x`` and the detail
view are rendered and searched for link and ``@click`` styles, and the mouse clicks the word
``QUIT`` where it is drawn. ``test_hostile_text_tmux.py`` checks the bytes a real terminal
receives.
"""

from __future__ import annotations

from adversarial.hostile import new_toasts, rendered, screen_faults, toast_ids, until
from sreconsole.domain.operator import Operator

CLICKY = 'X[link="https://evil.example"]CLICK[/link][@click=app.quit]QUIT[/]'
REVIEW = "R[@click=app.review('approve')]APPROVE[/][@click=app.screenshot('/tmp/x')]SHOT[/]"


def _where(app, word: str) -> tuple[int, int] | None:
    """Screen offset of the first cell where ``word`` is drawn."""
    update = app.screen._compositor.render_full_update()
    for y, line in enumerate(update.strips):
        row = "".join(segment.text for strip in line for segment in strip)
        x = row.find(word)
        if x >= 0:
            return x + 1, y
    return None


def _actions(app) -> list[str]:
    return [f"{s.style.link or ''}{(s.style.meta or {}).get('@click', '')}" for s in rendered(app)[1]
            if s.style is not None and (s.style.link or (s.style.meta and "@click" in s.style.meta))]


async def test_a_crafted_alertname_is_text_in_every_toast_and_a_click_does_nothing(alertmanager, live_settings):
    from sreconsole.tui.app import make_app
    from sreconsole.tui.modals import SilenceScreen
    from sreconsole.tui.panes.alerts import AlertsPane

    alertmanager.post_alerts([
        {"labels": {"alertname": CLICKY, "severity": "critical", "namespace": "shop"}, "annotations": {"summary": REVIEW}},
        {"labels": {"alertname": REVIEW, "severity": "warning", "namespace": "shop"}, "annotations": {"summary": CLICKY}},
    ])
    app = make_app(live_settings(), operator=Operator("alice"))
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        pane = app.query_one(AlertsPane)
        await until(pilot, lambda: len(pane.visible_alerts()) == 2, "both alerts")
        pane.select_fingerprint(next(a.fingerprint for a in pane.visible_alerts() if a.alertname == CLICKY))
        await pilot.pause(0.5)

        before = toast_ids(app)
        await pilot.press("a")
        await until(pilot, lambda: any("acknowledged" in m for m in new_toasts(app, before)), "the ack toast")
        await pilot.pause(0.3)
        assert any(CLICKY in m for m in new_toasts(app, before))  # the name as posted, brackets and all
        assert not _actions(app), _actions(app)
        assert not screen_faults(app)
        spot = _where(app, "QUIT[/]")  # the toast draws the markup as text
        assert spot is not None, "the crafted name is not on screen"
        await pilot.click(offset=spot)
        await pilot.pause(0.3)
        assert app.is_running, "a click on outside text quit the console"

        await until(pilot, lambda: (pane.selected_alert() or pane.visible_alerts()[0]).silenced_by, "the ack to show")
        before = toast_ids(app)
        await pilot.press("x")
        await until(pilot, lambda: new_toasts(app, before), "the expire toast")
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, SilenceScreen), "the silence dialog")
        assert not _actions(app) and not screen_faults(app)
        await pilot.press(*"deploying a fix", "enter")
        await until(pilot, lambda: any("created for" in m for m in new_toasts(app, before)), "the silence toast")
        await pilot.pause(0.3)
        assert not _actions(app) and not screen_faults(app)

        pane.select_fingerprint(next(a.fingerprint for a in pane.visible_alerts() if a.alertname == REVIEW))
        await pilot.pause(0.5)
        await pilot.press("enter")  # the detail view: every label and annotation
        await pilot.pause(0.3)
        assert not _actions(app) and not screen_faults(app)
        spot = _where(app, "APPROVE[/]")
        assert spot is not None
        await pilot.click(offset=spot)
        await pilot.pause(0.3)
        assert app.is_running and app.query_one("#panes").active == "alerts"  # no app.review ran
