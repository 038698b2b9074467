"""A recording is a test fixture: the Alerts and Review panes rendered from the committed
``tests/data/recordings/demo-session.jsonl.gz`` (made by running the demo with
``--record``; see the README beside it), with no server and no demo cluster running, and
the replay's keys driven through the real app.

SVG snapshots live in ``snapshots/test_replay_snapshots/`` (see ``tests/test_snapshots.py``
for how to update them). The timeline is paused at a recorded moment, so every age and
the position line are the same on every run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sreconsole.config import load_settings
from sreconsole.domain.operator import Operator
from sreconsole.services.recording import read_recording
from sreconsole.services.replay import READ_ONLY, open_replay
from sreconsole.tui.app import make_app

from conftest import wait_for_polls

RECORDING = Path(__file__).parent / "data" / "recordings" / "demo-session.jsonl.gz"


def replay_app(decisions: int = 2, speed: float = 10):
    """The replay console paused just after the recording's ``decisions``-th decision."""
    session = open_replay(RECORDING, speed)
    session.timeline.seek(0, pause=True)
    for _ in range(decisions):
        assert session.timeline.next_decision()
    return make_app(load_settings(overrides={"read_only": True}), replay=session, operator=Operator("alice", "10.1.2.3"))


@pytest.mark.parametrize("pane", ["alerts", "review"])
def test_a_pane_renders_from_the_recording(snap_compare, pane):
    app = replay_app()

    async def run_before(pilot):
        await wait_for_polls(app, pilot)
        if pane == "review":
            await pilot.press("2")
            for _ in range(100):  # the pane reads its queue in a thread worker
                if app.query_one("#review-table").row_count:
                    break
                await pilot.pause(0.05)
            await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


async def test_the_review_pane_shows_the_queue_of_that_moment_and_refuses_changes():
    from sreconsole.tui.panes.review import ReviewPane
    from sreconsole.tui.replay import ReplayBar

    first, second = (e.data["id"] for e in read_recording(RECORDING).of_kind("decision")[:2])
    app = replay_app(decisions=1)
    notes: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        app.notify = lambda message, **kw: notes.append(str(message))  # what the operator is told
        await wait_for_polls(app, pilot)
        await pilot.press("2")
        pane = app.query_one(ReviewPane)
        for _ in range(100):
            if pane.records:
                break
            await pilot.pause(0.05)
        # After the first decision (HighErrorRate's rollback rejected) nine proposals are
        # pending, the rejected one not among them.
        ids = {r.id for r in pane.records.values()}
        assert len(ids) == 9 and first not in ids
        await pilot.press("a")
        await pilot.pause()
        assert any(n.startswith(READ_ONLY) for n in notes), notes
        notes.clear()
        await pilot.press("d")  # a dry run changes nothing, but a replay runs no executor either
        for _ in range(100):
            if notes:
                break
            await pilot.pause(0.05)
        assert any(READ_ONLY in n for n in notes), notes
        assert app.review_queue.get(first).state == "rejected"
        bar = str(app.query_one(ReplayBar).render())
        assert "paused" in bar and "decisions 1 of 4" in bar
        # ] jumps to the next decision: Watchdog's escalate leaves the pending view.
        await pilot.press("right_square_bracket")
        for _ in range(100):
            if second not in {r.id for r in pane.records.values()}:
                break
            await pilot.pause(0.05)
        assert second not in {r.id for r in pane.records.values()}
        assert any(f"#{second} escalate rejected" in n for n in notes), notes
        # [ goes back: it is pending again.
        await pilot.press("left_square_bracket")
        for _ in range(100):
            if second in {r.id for r in pane.records.values()}:
                break
            await pilot.pause(0.05)
        assert second in {r.id for r in pane.records.values()}
        # space resumes; . steps to the next event and pauses again.
        await pilot.press("space")
        assert not app.replay.timeline.paused
        before = app.replay.timeline.position()
        await pilot.press("full_stop")
        assert app.replay.timeline.paused and app.replay.timeline.position() > before


async def test_silencing_in_a_replay_is_refused():
    app = replay_app()
    notes: list[str] = []
    async with app.run_test(size=(80, 24)) as pilot:
        app.notify = lambda message, **kw: notes.append(str(message))
        await wait_for_polls(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
    assert notes.count(f"{READ_ONLY}: silences are disabled") == 2, notes
