"""``sreconsole replay FILE``: the console, read-only, fed by a recording, with a timeline.

The panes are the live console's own; only their services differ
(:mod:`sreconsole.services.replay`). This module adds the timeline's keys and its
position line above the footer.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import Static

from sreconsole.tui.app import SreConsoleApp
from sreconsole.tui.render import notify_plain, safe


REPLAY_BINDINGS = [
    Binding("space", "replay_pause", "Pause", id="replay.pause", tooltip="Pause or resume the replay"),
    Binding("full_stop,n", "replay_step", "Step", id="replay.step", tooltip="Step to the next recorded event (pauses)"),
    Binding("right_square_bracket", "replay_decision(1)", "Next decision", id="replay.next_decision",
            tooltip="Jump to the next operator decision (pauses)"),
    Binding("left_square_bracket", "replay_decision(-1)", "Prev decision", id="replay.previous_decision",
            tooltip="Jump to the previous operator decision (pauses)"),
]
"""The timeline's keys (the help screen lists them in their own group)."""


class ReplayBar(Static):
    """``replay 03:12 / 10:00 ×10, paused · decisions 1 of 3`` and the timeline's keys."""

    DEFAULT_CSS = """
    ReplayBar { height: 1; background: $boost; color: $text; padding: 0 1; }
    """


class ReplayApp(SreConsoleApp):
    """The console on a recording. Every change is refused ("replay is read-only"); the
    timeline keys below work wherever a text field does not have the focus."""

    BINDINGS = [*SreConsoleApp.BINDINGS, *REPLAY_BINDINGS]

    def compose(self):
        yield from super().compose()
        yield ReplayBar(id="replay-bar")

    def on_mount(self) -> None:
        self.replay.timeline.start_now()
        super().on_mount()
        for note in self.replay.recording.notes:
            notify_plain(self, f"recording: {note}", severity="warning", timeout=10)
        self._tick()
        self.set_interval(0.25, self._tick, name="replay-bar")

    def _tick(self) -> None:
        try:
            bar = self.query_one(ReplayBar)
        except NoMatches:  # shutting down
            return
        text = Text.assemble(safe(self.replay.timeline.line(), 120, style="bold"), ("  ␣ pause · . step · [ ] decision", "dim"))
        bar.update(text)

    def _moved(self) -> None:
        """After a jump: show that moment now, not at the next poll."""
        self._tick()
        self.poll_alerts_now()
        self._review_changed()

    def action_replay_pause(self) -> None:
        self.replay.timeline.toggle_pause()
        self._tick()

    def action_replay_step(self) -> None:
        if not self.replay.timeline.step():
            notify_plain(self, "replay: no event after this one", severity="information")
        self._moved()

    def action_replay_decision(self, direction: int) -> None:
        timeline = self.replay.timeline
        moved = timeline.next_decision() if direction > 0 else timeline.previous_decision()
        if not moved:
            notify_plain(self, f"replay: no {'later' if direction > 0 else 'earlier'} decision", severity="information")
            return
        event = timeline.latest("decision")
        if event is not None:
            d = event.data
            notify_plain(self, f"decision: #{d.get('id')} {d.get('action')} {d.get('verdict')} by {d.get('operator')}"
                               + (f": {d.get('reason')}" if d.get("reason") else ""), timeout=6)
        self._moved()
