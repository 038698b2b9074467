"""Keyboard-only behaviour of the app, driven with Textual's pilot."""

from __future__ import annotations

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
        names = [table.get_row(row.key)[1].plain for row in table.ordered_rows]
        assert "KubePodCrashLooping" in names
        assert "FluxHelmReleaseFailed" in names  # fires 4 s into the demo; clock is at 30 s
        assert len(names) == len(app.query_one(AlertsPane).snapshot.alerts)
        # worst first: every CRIT row comes before every WARN row
        sev = [table.get_row(row.key)[0].plain for row in table.ordered_rows]
        assert sev.index("WARN") > max(i for i, s in enumerate(sev) if s == "CRIT")


async def test_number_keys_switch_panes_and_unbuilt_panes_say_so(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        tabs = app.query_one(TabbedContent)
        for key, pane in (("2", "review"), ("3", "training"), ("4", "bruno"), ("1", "alerts")):
            await pilot.press(key)
            assert tabs.active == pane
        await pilot.press("2")
        text = str(app.query_one("#review-pane #unavailable-box").render())
        assert "Not available yet" in text
        assert app.focused is app.query_one("#review-pane")


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
        for row in table.ordered_rows:
            cells = [c.plain for c in table.get_row(row.key)]
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
        if chosen in {r.key.value for r in table.ordered_rows}:
            assert pane.selected_fingerprint() == chosen


async def test_help_screen_lists_every_binding_with_its_id(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rendered = app.screen.query_one("#help-table").render()
        text = str(rendered) if not hasattr(rendered, "columns") else ""
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
