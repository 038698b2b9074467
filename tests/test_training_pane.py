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
        await pilot.press(*"0", "enter")  # refused: out of range, the dialog stays (TRM is the default model)
        await pilot.pause(0.1)
        assert isinstance(app.screen, StartRunScreen)
        app.screen.query_one("#start-epochs").value = ""
        await pilot.press(*"1000", "enter")
        assert await _until(pilot, lambda: any(r.status == "running" for r in pane.runs.values()), 20), ([n.message for n in app._notifications], [(r.status, r.error) for r in pane.runs.values()], pane.error)
        (run,) = pane.runs.values()
        assert run.pid and pid_alive(run.pid)
        seen: list[tuple[float, str]] = []

        def training() -> bool:
            r = pane.runs.get(run.id)
            if r is None or r.step("train").status != "running":
                return False
            seen.append((r.step("train").progress or 0.0, r.step("train").message))
            stream = app.training_board.streams.get(run.id)
            return stream is not None and bool(stream.losses)

        assert await _until(pilot, training, 240), [s.as_dict() for s in pane.runs[run.id].steps]
        # The embedding phase moves the bar too (it was stuck at 0 % for minutes), then epochs.
        assert any(0 < f <= 0.3 and m.startswith("embedding alert texts") for f, m in seen) or any(m.startswith("epoch") for _, m in seen), seen[:5]
        await pilot.press("c")
        assert await _until(pilot, lambda: pane.runs[run.id].status == "cancelled", 30)
        # The worker records "cancelled" and then exits: on a loaded machine the exit can
        # trail the status by a moment.
        assert await _until(pilot, lambda: not pid_alive(run.pid), 30)
        assert os.path.exists(app.training_board.store.log_path(run.id))


def test_every_training_key_is_in_the_command_palette():
    from sreconsole.tui.commands import COMMANDS
    from sreconsole.tui.panes.training import TrainingPane

    palette = {action for _, _, action in COMMANDS}
    for binding in TrainingPane.BINDINGS:
        assert f"training('action_{binding.action}')" in palette, binding.action


def test_schedules_say_when_a_retraining_is_due(tmp_path, monkeypatch):
    """Every N days and after K decisions, against a real run store and a real review store."""
    from datetime import datetime, timedelta, timezone

    from sreconsole.config import load_settings
    from sreconsole.domain.operator import Operator
    from sreconsole.pipeline.runs import RunStore
    from sreconsole.pipeline.schedule import due
    from sreconsole.services.review import ReviewQueue
    from sreconsole.sources.alertmanager import parse_alert
    from sreconsole.triage.catalog import load_catalog
    from sreconsole.triage.engine import TriageEngine

    now = datetime.now(timezone.utc)
    settings = load_settings()
    runs = RunStore(settings.data_path)
    assert due(settings, runs, now) is None  # both schedules off by default
    settings.pipeline.retrain_every_days = 7
    when = due(settings, runs, now)
    assert when is not None and when.trigger == "schedule" and "no model" in when.reason

    settings.pipeline.retrain_every_days = 0
    settings.pipeline.retrain_after_decisions = 2
    queue = ReviewQueue(settings, Operator("dana"))
    alerts = [parse_alert({"labels": {"alertname": "KubePodCrashLooping", "namespace": "ns", "pod": f"p-{i}"},
                           "annotations": {"lambda_function": "pod-restart"}, "startsAt": "2026-11-24T06:00:00Z"}) for i in range(3)]
    records = queue.enqueue(TriageEngine(load_catalog()).propose_many(alerts), alerts)
    queue.approve(records[0].id, "ok", execute=False)
    assert due(settings, runs, now + timedelta(seconds=1)) is None  # one decision, two needed
    queue.reject(records[1].id, "wrong", "escalate")
    when = due(settings, runs, now + timedelta(seconds=1))
    assert when is not None and when.trigger == "decisions" and when.reason.startswith("2 operator decisions")
    queue.close()
