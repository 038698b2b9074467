"""Threshold tuning on the Training board: pick the low threshold for a target accuracy of
un-flagged proposals, see the share that goes to a human, save it to the settings file
(comments kept) with a line in the settings audit log. Driven from the keyboard with the
pilot; the run store, its evaluation file and the config file are real files."""

from __future__ import annotations

import hashlib
import json
import pwd
import os
import tomllib

import pytest

CONFIG = """# thresholds the on-call team agreed on
[triage]
low_threshold = 0.5   # below: a human reviews
"""


def make_run(settings):
    """A succeeded TRM run whose evaluate step measured 100 test alerts: 60 at 0.95 (all
    right), 20 at 0.8 (18 right), 20 at 0.4 (10 right). By hand, for 0.97: at or above 0.95
    60/60; at or above 0.8 78/80 = 0.975; at or above 0.4 88/100. So low = 0.8, 80 % stand
    alone, 20 % go to a human."""
    from sreconsole.pipeline.runs import RunStore
    from sreconsole.pipeline.steps import EVALUATION_FILE

    store = RunStore(settings.data_path)
    run = store.create("trm", "manual", {}, demo=True)
    store.finish(run.id, "succeeded")
    conf = [0.95] * 60 + [0.8] * 20 + [0.4] * 20
    correct = [True] * 60 + [True] * 18 + [False] * 2 + [True] * 10 + [False] * 10
    (store.run_dir(run.id) / EVALUATION_FILE).write_text(json.dumps({"kind": "logreg", "confidence": conf, "correct": correct}))
    store.close()
    return run.id


def test_tuning_by_hand_and_saving_writes_settings_and_a_chained_audit_line(settings):
    from sreconsole.domain.operator import Operator
    from sreconsole.services.training import SETTINGS_AUDIT, TrainingBoard

    path = settings.config_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONFIG)
    run_id = make_run(settings)
    board = TrainingBoard(settings)
    tuned = board.tuning(run_id, 0.97)
    assert tuned["found"] and tuned["low"] == 0.8 and tuned["high"] == 0.8
    assert tuned["accuracy"] == pytest.approx(78 / 80) and tuned["coverage"] == pytest.approx(0.8) and tuned["to_human"] == pytest.approx(0.2)
    assert board.tuning(run_id, 0.999)["low"] == 0.95  # only the top 60 are right 99.9 % of the time

    board.save_thresholds(run_id, tuned["low"], tuned["high"], 0.97, tuned, Operator("alice", "10.1.2.3"))
    text = path.read_text()
    assert "# thresholds the on-call team agreed on" in text and "# below: a human reviews" in text
    saved = tomllib.loads(text)["triage"]
    assert saved["low_threshold"] == 0.8 and saved["high_threshold"] == 0.8
    assert settings.triage.low_threshold == 0.8  # the running settings follow
    lines = (settings.data_path / SETTINGS_AUDIT).read_bytes().splitlines()
    first = json.loads(lines[0])
    assert first["changes"]["triage.low_threshold"] == {"old": 0.5, "new": 0.8}
    assert first["changes"]["triage.high_threshold"] == {"old": None, "new": 0.8}
    assert first["user"] == pwd.getpwuid(os.geteuid()).pw_name and first["claimed_user"] == "alice" and first["client"] == "10.1.2.3"
    assert run_id in first["reason"] and "0.97" in first["reason"] and "20.0% to a human" in first["reason"]
    assert first["prev_sha256"] == "" and oct((settings.data_path / SETTINGS_AUDIT).stat().st_mode & 0o777) == "0o600"

    board.save_thresholds(run_id, 0.7, 0.85, 0.95, tuned, Operator("bob"))
    lines = (settings.data_path / SETTINGS_AUDIT).read_bytes().splitlines()
    second = json.loads(lines[1])
    assert second["prev_sha256"] == hashlib.sha256(lines[0]).hexdigest()
    assert second["changes"]["triage.low_threshold"] == {"old": 0.8, "new": 0.7}
    with pytest.raises(Exception, match="low"):
        board.save_thresholds(run_id, 0.9, 0.5, 0.97, tuned, Operator("bob"))  # low above high: refused, nothing written
    assert len((settings.data_path / SETTINGS_AUDIT).read_bytes().splitlines()) == 2


async def test_tuning_from_the_keyboard(make_demo_app, settings):
    from sreconsole.services.training import SETTINGS_AUDIT
    from sreconsole.tui.panes.training import ThresholdScreen

    from conftest import wait_for_polls

    settings.config_path.parent.mkdir(parents=True, exist_ok=True)
    settings.config_path.write_text(CONFIG)
    run_id = make_run(settings)
    app = make_demo_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for_polls(app, pilot)
        await pilot.press("3")
        for _ in range(50):
            await pilot.pause(0.1)
            if app.query_one("#training-table").row_count:
                break
        await pilot.press("u")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ThresholdScreen)
        shown = str(app.screen.query_one("#tune-result").render())
        assert "low threshold 0.800" in shown and "20.0% go to a human" in shown and "80.0% stand without a human" in shown
        await pilot.press("enter")
        for _ in range(50):
            await pilot.pause(0.1)
            if (settings.data_path / SETTINGS_AUDIT).exists():
                break
        # Only the save: waiting on every worker fails when a poll is replaced meanwhile.
        await app.workers.wait_for_complete([w for w in app.workers if w.group == "training-call"])
    assert tomllib.loads(settings.config_path.read_text())["triage"]["low_threshold"] == 0.8
    (line,) = (settings.data_path / SETTINGS_AUDIT).read_text().splitlines()
    assert json.loads(line)["claimed_user"] == "alice" and run_id in json.loads(line)["reason"]
