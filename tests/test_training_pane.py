"""The Training pane drives real worker processes: start a run from the keyboard, watch its
progress arrive, cancel it; the run ends cancelled and its process is gone."""

from __future__ import annotations

import os

from sreconsole.pipeline.runs import pid_alive


async def _until(pilot, predicate, timeout_s: float):
    for _ in range(int(timeout_s / 0.1)):
        await pilot.pause(0.1)
        if predicate():
            return True
    return False


async def test_start_watch_and_cancel_a_run_from_the_keyboard(make_demo_app, tmp_path, monkeypatch):
    from sreconsole.tui.panes.training import StartRunScreen, TrainingPane

    from conftest import wait_for_polls

    empty = tmp_path / "corpus"
    empty.mkdir()
    monkeypatch.setenv("SRECONSOLE_CORPUS", str(empty))  # the shipped data only: a small, quick dataset
    app = make_demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_polls(app, pilot)
        await pilot.press("3")
        pane = app.query_one(TrainingPane)
        assert app.focused is app.query_one("#training-table")
        await pilot.press("t")
        await pilot.pause(0.2)
        assert isinstance(app.screen, StartRunScreen)
        await pilot.press(*"0", "enter")  # refused: out of range, the dialog stays
        await pilot.pause(0.1)
        assert isinstance(app.screen, StartRunScreen)
        app.screen.query_one("#start-epochs").value = ""
        await pilot.press(*"1000", "enter")
        assert await _until(pilot, lambda: any(r.status == "running" for r in pane.runs.values()), 20), ([n.message for n in app._notifications], [(r.status, r.error) for r in pane.runs.values()], pane.error)
        (run,) = pane.runs.values()
        assert run.pid and pid_alive(run.pid)
        training = lambda: (r := pane.runs.get(run.id)) is not None and r.step("train").status == "running" and (r.step("train").progress or 0) > 0  # noqa: E731
        assert await _until(pilot, training, 240), [s.as_dict() for s in pane.runs[run.id].steps]
        stream = app.training_board.streams.get(run.id)
        assert stream is not None and stream.losses  # progress events reached the pane
        await pilot.press("c")
        assert await _until(pilot, lambda: pane.runs[run.id].status == "cancelled", 30)
        assert not pid_alive(run.pid)
        assert os.path.exists(app.training_board.store.log_path(run.id))


def test_every_training_key_is_in_the_command_palette():
    from sreconsole.tui.commands import COMMANDS
    from sreconsole.tui.panes.training import TrainingPane

    palette = {action for _, _, action in COMMANDS}
    for binding in TrainingPane.BINDINGS:
        assert f"training('action_{binding.action}')" in palette, binding.action
