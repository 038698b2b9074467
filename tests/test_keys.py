"""One keyboard for every list and dialog, driven with Textual's pilot.

* every list (alerts, review queue, training runs, Bruno's citations, a dialog's options)
  moves with every ``list.*`` binding, and ``home``/``end`` go to the first/last row;
* the dialog an action opens names the id and target of the row the cursor is on;
* ``?`` lists every Binding declared anywhere in ``sreconsole.tui``, the shown pane's first;
* keys typed in one burst after a binding that opens a text field land in that field.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from rich.console import Console
from textual.binding import Binding
from textual.dom import DOMNode
from textual.widgets import Input, OptionList

import sreconsole.tui
from sreconsole.config import load_settings
from sreconsole.tui.list_keys import LIST_BINDINGS, ChoiceList
from sreconsole.tui.panes.alerts import AlertTable

from conftest import wait_for_polls
from test_review_flow import ALERTS, _queue_with, am_alert, open_review

MOVES = [b for b in LIST_BINDINGS]


def _keys(binding: Binding) -> list[str]:
    return [k.strip() for k in binding.key.split(",")]


async def _check_every_list_key(pilot, position, move_to, count: int) -> None:
    """Each key of each list binding, from a row where it must move the cursor."""
    assert count >= 3, "the list needs three rows to show a move"
    for binding in MOVES:
        for key in _keys(binding):
            start = {"list.down": 0, "list.page_down": 0, "list.top": count - 1, "list.bottom": 0}.get(binding.id, count - 1)
            move_to(start)
            await pilot.pause()
            assert position() == start
            await pilot.press(key)
            await pilot.pause()
            expected = {"list.down": 1, "list.up": count - 2, "list.top": 0, "list.bottom": count - 1}.get(binding.id)
            if expected is None:  # a page: at least one row, in the right direction
                assert (position() > start) if binding.id == "list.page_down" else (position() < start), (binding.id, key)
            else:
                assert position() == expected, (binding.id, key, position())


async def test_alerts_list_moves_with_every_list_key(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        table = app.query_one(AlertTable)
        await _check_every_list_key(pilot, lambda: table.cursor_row, table.move_cursor, table.row_count)


async def test_review_list_moves_with_every_list_key_and_the_dialog_names_the_chosen_row(make_demo_app):
    from sreconsole.tui.panes.review import ApproveScreen, ReasonScreen

    settings = load_settings()
    more = [am_alert("KubePodCrashLooping", {"namespace": f"ns{i}", "pod": f"api-{i}"}, "pod-restart") for i in range(4)]
    queue, records = _queue_with(settings, ALERTS + more)
    queue.close()
    app = make_demo_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_review(app, pilot, len(records))
        table = app.query_one("#review-table")
        assert app.focused is table
        await _check_every_list_key(pilot, lambda: table.cursor_row, lambda row: table.move_cursor(row=row, animate=False), table.row_count)
        # The trial's defect: j from the first row, then a, opened the dialog for the first.
        await pilot.press("g", "j", "j")
        chosen = pane.selected()
        assert pane.order.index(str(chosen.id)) == 2
        await pilot.press("r")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ReasonScreen)
        title = _plain(app.screen.query("Label").first())
        assert f"#{chosen.id} {chosen.action}" in title and chosen.target in title
        await pilot.press("escape")
        await pilot.press("a")
        await pilot.pause(0.2)
        if isinstance(app.screen, ApproveScreen):
            assert f"#{chosen.id} " in _plain(app.screen.query("Label").first())


def _plain(widget) -> str:
    """What a Static or Label shows, as plain text."""
    console = Console(width=200, record=True)
    console.print(widget.content)
    return console.export_text()


async def test_training_runs_move_with_every_list_key(make_demo_app):
    app = make_demo_app()
    store = app.training_board.store
    for _ in range(4):
        run = store.create("trm", "manual", {}, demo=True)
        store.finish(run.id, "cancelled")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        await pilot.press("3")
        table = app.query_one("#training-table")
        for _ in range(50):
            await pilot.pause(0.05)
            if table.row_count == 4:
                break
        assert app.focused is table
        await _check_every_list_key(pilot, lambda: table.cursor_row, lambda row: table.move_cursor(row=row, animate=False), table.row_count)


async def test_dialog_options_and_citations_move_with_every_list_key_and_do_not_wrap(make_demo_app):
    """The reject dialog's "right action" list (the same class as Bruno's citations)."""
    from sreconsole.tui.panes.bruno_dialogs import CitationList
    from sreconsole.tui.panes.review import ReasonScreen

    assert issubclass(CitationList, ChoiceList)
    settings = load_settings()
    queue, records = _queue_with(settings, ALERTS)
    queue.close()
    app = make_demo_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_review(app, pilot, len(records))
        await pilot.press("r")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ReasonScreen)
        options = app.screen.query_one("#reason-action", OptionList)
        options.focus()
        await pilot.pause()
        await _check_every_list_key(pilot, lambda: options.highlighted, lambda i: setattr(options, "highlighted", i), options.option_count)
        await pilot.press("G", "j")
        assert options.highlighted == options.option_count - 1  # no wrap to the first
        await pilot.press("g", "k")
        assert options.highlighted == 0
        # Inside the dialog: the list never reaches past the dialog's frame.
        frame = app.screen.query_one("Vertical").region
        assert frame.contains_region(options.region)


def declared_bindings() -> dict[str, tuple[str, Binding]]:
    """Every Binding in a BINDINGS of a class defined in sreconsole.tui, by id."""
    found: dict[str, tuple[str, Binding]] = {}
    for info in pkgutil.walk_packages(sreconsole.tui.__path__, "sreconsole.tui."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if not issubclass(cls, DOMNode) or not cls.__module__.startswith("sreconsole.tui"):
                continue
            for b in cls.__dict__.get("BINDINGS", []):
                assert isinstance(b, Binding) and b.id, f"{cls.__qualname__}: every binding has an id ({b})"
                found[b.id] = (cls.__qualname__, b)
    for b in LIST_BINDINGS:
        found.setdefault(b.id, ("LIST_BINDINGS", b))
    return found


@pytest.mark.parametrize("pane,key,first", [("alerts", "1", "alerts.filter"), ("review", "2", "review.approve"), ("training", "3", "training.start"), ("bruno", "4", "bruno.new")])
async def test_help_lists_every_declared_binding_the_shown_panes_first(make_demo_app, pane, key, first):
    from sreconsole.tui.help import HelpScreen, binding_rows

    declared = declared_bindings()
    assert len(declared) > 40
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        await pilot.press(key)
        if pane == "bruno":
            await pilot.press("escape")  # the question field has the keys until esc
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows = binding_rows(app, app.screen.groups)
        listed = [row[3] for row in rows]
        missing = sorted(set(declared) - set(listed))
        assert not missing, f"help does not list: {[(i, declared[i][0]) for i in missing]}"
        # The shown pane's bindings come first, then the global ones.
        assert rows[0][0] == pane and listed[0] == first
        global_at = next(i for i, row in enumerate(rows) if row[0] == "global")
        assert all(row[0] != "global" for row in rows[:global_at])
        assert {row[0] for row in rows[:global_at]} <= {pane, "lists", "bruno citations (a list)"}
        # The screen shows them: every id is in the rendered table.
        table = _plain(app.screen.query_one("#help-table"))
        assert first in table and "list.down" in table and "app.quit" in table
        assert "!" in _plain(app.screen.query_one("#help-legend"))  # the proposal markers' legend


async def test_keys_typed_ahead_of_slash_land_in_the_filter(make_demo_app):
    """The pilot presses keys one at a time and waits for each; a burst is what the App's
    queue holds when several keys arrive in one read, so the test posts them as the driver
    does: all at once."""
    from textual import events

    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        for ch in "/checkout":
            app.post_message(events.Key("slash" if ch == "/" else ch, ch))
        await pilot.pause(0.5)
        field = app.query_one("#alerts-filter", Input)
        assert field.value == "checkout"
        assert app.focused is field
        # enter leaves the field at once: the keys after it move the table, and the enter
        # itself opens no detail view. The filter's rows are drawn first (on a loaded machine
        # half a second was not always enough, and a redraw after G put the cursor back on 0).
        table = app.query_one(AlertTable)
        pane = app.query_one("AlertsPane")
        for _ in range(400):
            if not pane.filtering:
                break
            await pilot.pause(0.02)
        await pilot.pause(0.2)
        for key in ("enter", "G"):
            app.post_message(events.Key(key, "G" if key == "G" else None))
        await pilot.pause(0.5)
        assert field.value == "checkout" and app.focused is table
        assert table.cursor_row == table.row_count - 1
        assert app.screen is app.screen_stack[0]


async def test_keys_typed_ahead_of_a_dialog_land_in_its_field(make_demo_app):
    from textual import events

    from sreconsole.tui.panes.review import ReasonScreen

    settings = load_settings()
    queue, records = _queue_with(settings, ALERTS)
    queue.close()
    app = make_demo_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_review(app, pilot, len(records))
        for ch in "rnot needed":
            app.post_message(events.Key("space" if ch == " " else ch, ch))
        for _ in range(100):  # a loaded machine mounts the dialog slowly
            await pilot.pause(0.05)
            if isinstance(app.screen, ReasonScreen) and app.screen.query_one("#reason-text", Input).value == "not needed":
                break
        assert isinstance(app.screen, ReasonScreen)
        assert app.screen.query_one("#reason-text", Input).value == "not needed"


async def test_footer_shows_help_and_quit_at_80_columns(make_demo_app):
    from textual.widgets._footer import FooterKey

    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        for key in "1234":
            await pilot.press(key)
            keys = {}
            for _ in range(100):  # the footer recomposes after the focus moves
                await pilot.pause(0.05)
                keys = {k.action: k for k in app.screen.query(FooterKey)}
                if "help" in keys and ("quit" in keys or key == "4"):
                    break
            # In Bruno the question field has the focus: q is a letter there, so the footer
            # shows f1 help and esc (leave the field) instead of q quit.
            wanted = ("help", "leave_input") if key == "4" else ("help", "quit")
            for action in wanted:
                region = keys[action].region
                assert region.width > 0 and region.right <= 80, (key, action, region)
            if key == "4":
                await pilot.press("escape")


async def test_q_types_in_a_text_field_and_quits_outside_it(make_demo_app):
    """As in k9s and lazygit: q is a letter while typing; esc leaves the field, then q quits."""
    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        await pilot.press("4", *"q", "1", "q")
        await pilot.pause()
        assert app.is_running and app.query_one("#bruno-input", Input).value == "q1q"
        await pilot.press("escape", "q")
        await pilot.pause()
    assert not app.is_running


async def test_the_palette_offers_one_theme_switch(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(80, 24)):
        titles = [c.title.lower() for c in app.get_system_commands(app.screen)]
        assert "theme" not in titles
        from sreconsole.tui.commands import COMMANDS

        assert sum(1 for name, *_ in COMMANDS if name.startswith("theme:")) == 1


@pytest.mark.parametrize("pane", ["alerts", "review", "training"])
async def test_a_wide_terminal_shows_more_columns_and_whole_alert_names(make_demo_app, pane):
    from sreconsole.tui.alert_list import AlertList
    from sreconsole.tui.record_table import RecordTable

    settings = load_settings()
    if pane == "review":
        queue, _ = _queue_with(settings, ALERTS)
        queue.close()
    shown = {}
    for size in ((80, 24), (160, 45)):
        app = make_demo_app(settings)
        if pane == "training":
            run = app.training_board.store.create("trm", "manual", {}, demo=True)
            app.training_board.store.finish(run.id, "cancelled")
        async with app.run_test(size=size) as pilot:
            await wait_for_polls(app, pilot)
            await pilot.press({"alerts": "1", "review": "2", "training": "3"}[pane])
            await pilot.pause(0.3)
            if pane == "alerts":
                table = app.query_one(AlertList)
                shown[size] = [label for _, label, width in table.columns if width > 0]
                longest = max(len(a.alertname) for a in app.query_one("AlertsPane").snapshot.alerts)
                alert_width = dict((k, w) for k, _, w in table.columns)["alert"]
                if size == (160, 45):
                    assert alert_width >= min(longest, 34) > 22  # the names are not cut at 22
            else:
                table = app.query_one(RecordTable)
                shown[size] = [label for _, label, _ in table.column_spec]
                assert sum(w + 2 for *_, w in table.column_spec) <= size[0]  # nothing scrolls sideways
    assert set(shown[(80, 24)]) < set(shown[(160, 45)]), shown


async def test_grouped_by_namespace_a_lone_alert_gets_its_own_header(make_demo_app):
    """The trial read the payments crash loop as part of "ns (no namespace) 2 alerts"."""
    app = make_demo_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one("AlertsPane")
        await pilot.press("v")
        keys = list(app.query_one(AlertTable).keys)
        by_fp = {a.fingerprint: a for a in pane.snapshot.alerts}
        crash = next(a for a in pane.snapshot.alerts if a.alertname == "KubePodCrashLooping")
        i = keys.index(crash.fingerprint)
        assert keys[i - 1] == f"group:{crash.namespace}"  # its own header right above it
        lone = [k for k in keys if k.startswith("group:") and sum(1 for a in pane.visible_alerts() if (a.namespace or "(no namespace)") == k[6:]) == 1]
        assert lone, "the demo has a namespace with a single alert"
        assert all(keys[keys.index(k) + 1] in by_fp for k in lone)


async def test_an_ack_shows_as_acked_not_silenced(make_demo_app):
    from sreconsole.tui.modals import MuteConfirmScreen

    app = make_demo_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one("AlertsPane")
        target = next(a for a in pane.visible_alerts() if a.alertname == "HighErrorRate")
        pane.select_fingerprint(target.fingerprint)
        await pilot.press("a")
        await pilot.pause(0.3)
        if isinstance(app.screen, MuteConfirmScreen):
            await pilot.press("enter")
        await app.workers.wait_for_complete()
        await wait_for_polls(app, pilot, app.polls + 1)
        table = app.query_one(AlertTable)
        assert table.cells(target.fingerprint)[4].plain == "acked"


async def test_the_side_panel_gathers_evidence_again_when_the_knowledge_base_is_ready(make_demo_app):
    """The app tells every view that waits on the knowledge base when its preparation
    finishes (a worker in the "knowledge" group); the side panel then gathers again
    without the cursor moving."""
    from sreconsole.tui.messages import KnowledgeReady

    seen: list = []
    app = make_demo_app()
    async with app.run_test(size=(160, 45), message_hook=lambda m: seen.append(m) if isinstance(m, KnowledgeReady) else None) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one("AlertsPane")
        gathered: list = []
        real = pane._load_evidence
        pane._load_evidence = lambda alert: (gathered.append(alert), real(alert))[1]
        cursor = app.query_one(AlertTable).cursor_row
        ready = app.run_worker(lambda: None, thread=True, group="knowledge", description="prepare knowledge base")
        # Wait for this worker only: waiting for all of them raised WorkerCancelled on a
        # loaded machine when a newer evidence gather cancelled the one in flight.
        await ready.wait()
        await pilot.pause(0.3)
        assert seen and gathered and gathered[-1] is not None
        assert gathered[-1].fingerprint == pane.selected_fingerprint()
        assert app.query_one(AlertTable).cursor_row == cursor


def test_an_edited_parameter_is_not_also_reported_missing():
    from datetime import datetime, timezone

    from textual.theme import BUILTIN_THEMES

    from sreconsole.tui.panes.review import record_renderable

    settings = load_settings()
    queue, records = _queue_with(settings, [am_alert("KubePersistentVolumeFillingUp", {"namespace": "data", "persistentvolumeclaim": "pg-0"}, "expand-pvc")])
    queue.close()
    (r,) = records
    missing = [reason for reason in r.review_reasons if reason.startswith("parameter ")]
    assert missing, r.review_reasons
    name = missing[0].split()[1]
    console = Console(width=120, record=True)
    theme = BUILTIN_THEMES["textual-dark"]
    console.print(record_renderable(r, None, None, (0.8, 0.5), theme, datetime.now(timezone.utc)))
    assert f"parameter {name} is missing" in console.export_text()
    console.print(record_renderable(r, {name: "50Gi"}, None, (0.8, 0.5), theme, datetime.now(timezone.utc)))
    shown = console.export_text()
    assert f"{name}=50Gi" in shown and "(edited)" in shown and f"parameter {name} is missing" not in shown


async def test_esc_in_review_clears_the_filter_and_every_row_comes_back(make_demo_app):
    settings = load_settings()
    more = [am_alert("KubePodCrashLooping", {"namespace": f"ns{i}", "pod": f"api-{i}"}, "pod-restart") for i in range(3)]
    queue, records = _queue_with(settings, ALERTS + more)
    queue.close()
    app = make_demo_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_review(app, pilot, len(records))
        table = app.query_one("#review-table")
        await pilot.press("slash", *"ns1", "enter")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        assert pane.filter_text == "ns1" and table.row_count == 1
        await pilot.press("escape")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        assert pane.filter_text == "" and table.row_count == len(records)
        assert not app.query_one("#review-filter", Input).display and app.focused is table


async def test_tab_in_brunos_propose_dialog_walks_only_the_visible_fields(make_demo_app, monkeypatch):
    """The trial found a hidden third tab stop in `p`'s dialog: tab must go action list,
    then each parameter field, then back to the start, with nothing invisible between."""
    from sreconsole.tui.panes.bruno import BrunoPane
    from sreconsole.tui.panes.bruno_dialogs import ProposeScreen

    monkeypatch.setenv("SRECONSOLE_KNOWLEDGE_ENABLED", "1")
    app = make_demo_app(load_settings())
    app.evidence_service.knowledge.prepare()
    async with app.run_test(size=(120, 34)) as pilot:
        await wait_for_polls(app, pilot)
        await pilot.press("4")
        await pilot.pause(0.3)
        pane = app.query_one(BrunoPane)
        await pilot.press(*"how do I fix a pod stuck in CrashLoopBackOff", "enter")
        for _ in range(300):
            if pane.last_answer is not None:
                break
            await pilot.pause(0.1)
        await pilot.press("escape", "p")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ProposeScreen)
        seen = []
        for _ in range(8):
            focused = app.focused
            assert focused is not None and focused.display and focused.visible, f"hidden tab stop: {focused!r}"
            seen.append(focused.id)
            await pilot.press("tab")
            await pilot.pause(0.05)
        cycle = seen[: seen.index(seen[0], 1)]
        assert len(cycle) == len(set(cycle)) and all(i and i.startswith("propose-") for i in cycle), seen
        inputs = [w.id for w in app.screen.query(Input) if w.display]
        assert [i for i in cycle if i in inputs] == inputs  # every visible field, in screen order
