"""Keyboard-only behaviour of the app, driven with Textual's pilot."""

from __future__ import annotations

import pytest

from textual.widgets import Input, TabbedContent

from sreconsole.config import load_settings
from sreconsole.tui.app import SreConsoleApp
from sreconsole.tui.help import HelpScreen
from sreconsole.tui.panes.alerts import AlertsPane, AlertTable

from conftest import wait_for_polls


async def test_first_poll_fills_the_table_with_demo_alerts(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        table = app.query_one(AlertTable)
        alert_rows = [key for key in table.keys if not key.startswith("group:")]
        names = [table.cells(key)[1].plain for key in alert_rows]
        assert "KubePodCrashLooping" in names
        assert "FluxHelmReleaseFailed" in names  # fires 4 s into the demo; clock is at 30 s
        assert len(names) == len(app.query_one(AlertsPane).snapshot.alerts)
        # worst first: every CRIT row comes before every WARN row
        sev = [table.cells(key)[0].plain for key in alert_rows]
        assert sev.index("WARN") > max(i for i, s in enumerate(sev) if s == "CRIT")


async def test_number_keys_switch_panes_and_focus_each_panes_main_widget(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        tabs = app.query_one(TabbedContent)
        for key, pane in (("2", "review"), ("3", "training"), ("4", "bruno"), ("escape", "bruno"), ("1", "alerts")):
            await pilot.press(key)  # in Bruno the input has the keys until esc
            assert tabs.active == pane
        await pilot.press("2")
        assert app.focused is app.query_one("#review-table")
        await pilot.press("3")
        assert app.focused is app.query_one("#training-table")
        await pilot.press("4")
        assert app.focused is app.query_one("#bruno-input")


async def test_jk_g_G_move_the_cursor(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        table = app.query_one(AlertTable)
        assert table.cursor_row == 0
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("g")
        assert table.cursor_row == 0


async def test_slash_filters_and_escape_clears(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        table = app.query_one(AlertTable)
        total = table.row_count
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"payments")
        await pilot.pause()
        assert 0 < table.row_count < total
        for key in table.keys:
            cells = [c.plain for c in table.cells(key)]
            assert "payments" in " ".join(cells) or "payments" in str(app.query_one(AlertsPane).snapshot)
        await pilot.press("enter")
        assert app.focused is table
        assert table.row_count < total  # enter keeps the filter
        await pilot.press("escape")
        assert table.row_count == total
        assert app.query_one("#alerts-filter", Input).value == ""


async def test_selection_follows_its_alert_when_rows_change(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        table = app.query_one(AlertTable)
        pane = app.query_one(AlertsPane)
        await pilot.press("G")
        chosen = pane.selected_fingerprint()
        await pilot.press("slash", *"a")  # a filter that removes some rows above
        await pilot.pause()
        if chosen in set(table.keys):
            assert pane.selected_fingerprint() == chosen


async def test_help_screen_lists_every_binding_with_its_id(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {b.id for _, group in app.binding_groups() for b in group}
        from sreconsole.tui.help import binding_rows

        listed = {row[3] for row in binding_rows(app, app.binding_groups())}
        assert ids <= listed
        assert "alerts.filter" in listed and "list.bottom" in listed
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_keymap_from_config_remaps_bindings(tmp_path, make_demo_app, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[keymap]\n"alerts.filter" = "f"\n"app.pane.review" = "r"\n"no.such.binding" = "z"\n')
    settings = load_settings(cfg)
    app = make_demo_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for_polls(app, pilot)
        await pilot.press("r")
        assert app.query_one(TabbedContent).active == "review"
        await pilot.press("1", "f")
        assert isinstance(app.focused, Input)
        messages = [n.message for n in app._notifications]
        assert any("no.such.binding" in m for m in messages)


async def test_command_palette_switches_panes(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"pane: training")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "training"


async def test_theme_toggle_switches_light_and_dark(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "textual-dark"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"


async def test_header_shows_environment_sources_and_operator(make_demo_app):
    app: SreConsoleApp = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        header = app.query_one("#header")
        env = str(header.query_one("#header-env").render())
        sources = str(header.query_one("#header-sources").render())
        operator = str(header.query_one("#header-operator").render())
        assert "demo" in env
        assert "demo ok" in sources
        assert operator == "alice@10.1.2.3"


async def test_matcher_filter_and_bad_matcher_keeps_last_good_filter(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        await pilot.press("slash", *'severity="critical"')
        await pilot.pause()
        assert pane.visible_alerts() and {a.labels["severity"] for a in pane.visible_alerts()} == {"critical"}
        # pasted in one go: an unbalanced regex is refused and the last good filter stays
        app.query_one("#alerts-filter", Input).value = 'severity="critical" namespace=~"(chec"'
        await pilot.pause()
        assert "invalid regular expression" in pane.filter_error
        assert {a.labels["severity"] for a in pane.visible_alerts()} == {"critical"}
        # The reason is under the input (the title is cut at 80 columns), with what is shown.
        reason = app.query_one("#alerts-filter-error")
        assert reason.display and "invalid regular expression" in str(reason.render())
        assert "showing matches for" in str(reason.render())
        assert "refused" in str(app.query_one("#alerts-title").render())


@pytest.mark.parametrize("width", [80, 160])
async def test_a_matcher_still_being_typed_never_becomes_the_filter(make_demo_app, width):
    """Typing namespace=~"(?=pay).*" key by key: the prefix namespace=~ (an empty regex,
    matching every alert without a namespace) never filters, and the reason is on screen
    under the input at both widths; enter on a refused filter stays in the field."""
    app = make_demo_app()
    async with app.run_test(size=(width, 24 if width == 80 else 45)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        everything = len(pane.visible_alerts())
        await pilot.press("slash", *"namespace=~")
        await pilot.pause()
        assert pane.filter_text == "" and len(pane.visible_alerts()) == everything
        reason = app.query_one("#alerts-filter-error")
        assert reason.display and "no value yet" in str(reason.render())
        assert reason.region.width > 0 and reason.region.right <= width
        await pilot.press(*'"(?=pay).*"')
        await pilot.pause()
        assert pane.filter_text == "" and "look-around" in pane.filter_error
        assert "look-around" in str(reason.render())
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.focused, Input)  # refused: the operator stays to fix it
        await pilot.press("escape")
        await pilot.pause()
        assert not reason.display and pane.filter_error == ""


async def test_grouping_and_sorting_cycle_from_keys(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        table = app.query_one(AlertTable)
        assert pane.grouping == "alertname"
        await pilot.press("v")
        assert pane.grouping == "namespace"
        keys = list(table.keys)
        assert "group:checkout" in keys  # three checkout alerts share a header
        checkout = keys.index("group:checkout")
        following = [pane.snapshot and next(a for a in pane.snapshot.alerts if a.fingerprint == k) for k in keys[checkout + 1 : checkout + 4]]
        assert {a.namespace for a in following} == {"checkout"}
        await pilot.press("v", "v")
        assert pane.grouping == "incident"  # tests/test_incidents.py looks inside
        await pilot.press("v")
        assert pane.grouping == "none" and not any(k.startswith("group:") for k in table.keys)
        await pilot.press("o")
        assert pane.sorting == "age"
        ages = [a.starts_at for a in pane.visible_alerts()]
        assert ages == sorted(ages)


async def test_silence_and_expire_in_the_demo_from_keys(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        target = next(a for a in pane.visible_alerts() if a.alertname == "HighErrorRate")
        pane.select_fingerprint(target.fingerprint)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("enter")  # no comment: refused inside the dialog
        await pilot.pause()
        from sreconsole.tui.modals import SilenceScreen

        assert isinstance(app.screen, SilenceScreen)
        assert "comment is required" in str(app.screen.query_one("#silence-error").render())
        await pilot.press(*"rollback in progress", "enter")
        await app.workers.wait_for_complete()
        await wait_for_polls(app, pilot, app.polls + 1)
        silenced = next(a for a in pane.snapshot.alerts if a.fingerprint == target.fingerprint)
        assert silenced.state.value == "silenced" and silenced.silenced_by
        pane.select_fingerprint(target.fingerprint)
        await pilot.press("x")
        await app.workers.wait_for_complete()
        await wait_for_polls(app, pilot, app.polls + 1)
        again = next(a for a in pane.snapshot.alerts if a.fingerprint == target.fingerprint)
        assert again.state.value == "firing"
        messages = " ".join(n.message for n in app._notifications)
        assert "created for HighErrorRate" in messages and "expired" in messages


async def test_new_alerts_are_marked_and_resolved_ones_fade_then_leave(settings):
    from datetime import timedelta

    from sreconsole.tui.app import make_app

    from conftest import DEMO_EPOCH

    now = [DEMO_EPOCH + timedelta(seconds=2)]
    app = make_app(settings, clock=lambda: now[0], demo_epoch=DEMO_EPOCH)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        table = app.query_one(AlertTable)
        assert not any(c.plain == "new" for k in table.keys for c in table.cells(k))
        now[0] = DEMO_EPOCH + timedelta(seconds=6)  # FluxHelmReleaseFailed fires at 4 s
        await wait_for_polls(app, pilot, app.polls + 1)
        helm = next(a for a in pane.visible_alerts() if a.alertname == "FluxHelmReleaseFailed")
        assert table.cells(helm.fingerprint)[3].plain == "new"
        now[0] = DEMO_EPOCH + timedelta(seconds=305)  # resolved at 304 s
        await wait_for_polls(app, pilot, app.polls + 1)
        row = table.cells(helm.fingerprint)
        assert row[4].plain == "resolved"
        now[0] = DEMO_EPOCH + timedelta(seconds=320)
        await wait_for_polls(app, pilot, app.polls + 1)
        assert helm.fingerprint not in set(table.keys)


@pytest.mark.parametrize(("key", "pane", "focus"), [("2", "review", "review-table"), ("3", "training", "training-table"), ("4", "bruno", "bruno-input")])
async def test_a_pane_key_pressed_before_the_hidden_panes_mount_still_lands_there(make_demo_app, key, pane, focus):
    """The Review, Training and Bruno panes mount after the first paint (Textual's Lazy, for
    start-up): a key pressed in that first frame switches to the pane and focuses it once
    it is there, and never fails on a widget not yet mounted."""
    app = make_demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(key)  # no pause first: the hidden panes may not be mounted yet
        for _ in range(100):
            await pilot.pause(0.01)
            if app.focused is not None and app.focused.id == focus:
                break
        assert app.query_one(TabbedContent).active == pane
        assert app.focused is not None and app.focused.id == focus
