"""Play a recording back (``sreconsole replay FILE``): a timeline over the recorded clock,
and, in place of the live services, an alert source, an evidence service and a review
queue that answer from the recording as of the timeline's position.

Nothing here can change anything: the source refuses silences, the queue is read-only
(``replay is read-only``), and no triage model runs, so what is shown is what the
console received then, not a newer model's opinion of it.
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sreconsole.config import Settings
from sreconsole.domain.alerts import Alert, parse_time
from sreconsole.domain.evidence import Evidence, LogLine
from sreconsole.domain.health import HealthState, SourceHealth
from sreconsole.services.evidence import EvidenceService
from sreconsole.services.recording import Event, Recording, read_recording
from sreconsole.services.review import ReadOnly, ReviewQueue
from sreconsole.sources.base import SourceError

READ_ONLY = "replay is read-only"


def clock_text(seconds: float) -> str:
    """``03:12``, or ``1:03:12`` past an hour."""
    s = max(int(seconds), 0)
    hours, rest = divmod(s, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class Timeline:
    """The recording's clock, driven by the wall clock times ``speed``; it can pause, step
    to the next event and jump between decisions. Stepping and jumping pause playback, so
    the operator reads the moment they asked for."""

    def __init__(self, recording: Recording, speed: float = 1.0, wall: Callable[[], float] = time.monotonic) -> None:
        self.recording = recording
        self.speed = speed
        self.wall = wall
        self.start = recording.started_at
        self.duration = max((recording.ended_at - self.start).total_seconds(), 0.0)
        self._offsets = [(e.at - self.start).total_seconds() for e in recording.events]
        self._decisions = [o for o, e in zip(self._offsets, recording.events) if e.kind == "decision"]
        self._position = 0.0
        self._wall_at = wall()
        self.paused = False

    def position(self) -> float:
        """Seconds into the recording."""
        if self.paused:
            return self._position
        return min(self._position + (self.wall() - self._wall_at) * self.speed, self.duration)

    def now(self) -> datetime:
        """The recorded moment the timeline is at: the replayed console's clock."""
        return self.start + timedelta(seconds=self.position())

    @property
    def finished(self) -> bool:
        return self.position() >= self.duration

    def seek(self, offset: float, *, pause: bool | None = None) -> None:
        self._position = min(max(offset, 0.0), self.duration)
        self._wall_at = self.wall()
        if pause is not None:
            self.paused = pause

    def start_now(self) -> None:
        """Play from where the timeline stands as of this moment: the console takes seconds
        to start, and at ×10 they would skip a minute of the recording."""
        self._wall_at = self.wall()

    def toggle_pause(self) -> None:
        self.seek(self.position(), pause=not self.paused)

    def step(self) -> bool:
        """To the next event after now (paused there); False at the end."""
        return self._to_next(self._offsets)

    def next_decision(self) -> bool:
        return self._to_next(self._decisions)

    def _to_next(self, marks: list[float]) -> bool:
        """Seek, paused, to the first of ``marks`` (sorted offsets) after now; False if none."""
        i = bisect.bisect_right(marks, self.position() + 1e-6)
        if i >= len(marks):
            return False
        self.seek(marks[i], pause=True)
        return True

    def previous_decision(self) -> bool:
        # Half a second of slack: pressing [ on a decision goes to the one before it.
        i = bisect.bisect_left(self._decisions, self.position() - 0.5)
        if i == 0:
            return False
        self.seek(self._decisions[i - 1], pause=True)
        return True

    def decisions_passed(self) -> int:
        return bisect.bisect_right(self._decisions, self.position() + 1e-6)

    def line(self) -> str:
        """``replay 03:12 / 10:00 ×10, paused · decision 1 of 3``."""
        state = "paused" if self.paused else ("ended" if self.finished else "playing")
        speed = f"{self.speed:g}"
        text = f"replay {clock_text(self.position())} / {clock_text(self.duration)} ×{speed}, {state}"
        if self._decisions:
            text += f" · decisions {self.decisions_passed()} of {len(self._decisions)}"
        return text

    def latest(self, kind: str, where: Callable[[Event], bool] = lambda e: True) -> Event | None:
        """The last event of ``kind`` at or before now."""
        events = self.recording.events
        for i in range(bisect.bisect_right(self._offsets, self.position() + 1e-6) - 1, -1, -1):
            if events[i].kind == kind and where(events[i]):
                return events[i]
        return None


class ReplayAlertSource:
    """An :class:`~sreconsole.sources.base.AlertSource` that answers each poll with the
    recorded poll the timeline has reached (a recorded failure fails the same way)."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        # Named as the recorded polls name their source from the start, so the header
        # shows one source, not a "replay" beside it until the first recorded poll.
        first = next((e for e in timeline.recording.events if e.kind == "poll"), None)
        self.name = str(first.data.get("source") or "replay") if first is not None else "replay"
        self._health = SourceHealth(self.name, HealthState.DOWN, reason="no poll recorded yet")
        self._cache: tuple[int, tuple[Alert, ...]] | None = None

    async def fetch_alerts(self, *_matchers) -> Sequence[Alert]:
        event = self.timeline.latest("poll")
        if event is None:
            self._health = SourceHealth(self.name, HealthState.DOWN, reason="no poll recorded yet")
            return ()
        data = event.data
        self.name = str(data.get("source") or "replay")
        try:
            state = HealthState(data.get("health", "ok"))
        except ValueError:
            state = HealthState.DOWN
        self._health = SourceHealth(self.name, state, last_ok=event.at, since=event.at, reason=str(data.get("reason", "")))
        if data.get("error"):
            raise SourceError(str(data["error"]))
        if self._cache is None or self._cache[0] != id(event):
            self._cache = (id(event), event.alerts())  # the same poll is asked for many times
        return self._cache[1]

    def health(self) -> SourceHealth:
        return self._health

    async def aclose(self) -> None:
        return None

    async def list_silences(self):
        return []  # silences are not recorded

    async def create_silence(self, *args, **kwargs) -> str:
        raise SourceError(READ_ONLY)

    async def expire_silence(self, silence_id: str) -> None:
        raise SourceError(READ_ONLY)


class ReplayEvidence(EvidenceService):
    """The evidence an operator opened during the recording, for the alert selected now;
    an alert nobody opened says so."""

    def __init__(self, timeline: Timeline) -> None:
        super().__init__(None, None, timeline.now)
        self.timeline = timeline

    async def gather(self, alert: Alert, log_limit: int = 30) -> Evidence:
        event = self.timeline.latest("evidence", lambda e: e.data.get("fingerprint") == alert.fingerprint)
        if event is None:
            missing = "not opened during the recording"
            return Evidence(alert.fingerprint, metric_error=missing, logs_error=missing, knowledge_error=missing,
                            runbook_url=alert.annotations.get("runbook_url", ""))
        return evidence_from_event(event)


def evidence_from_event(event: Event) -> Evidence:
    d = event.data
    series = tuple((t, float(v)) for t, v in ((parse_time(a), b) for a, b in d.get("series", ())) if t is not None and v is not None)
    logs = tuple(LogLine(t, str(line)) for t, line in ((parse_time(a), b) for a, b in d.get("logs", ())) if t is not None)
    cites = d.get("cites") or []
    knowledge_error = str(d.get("knowledge_error") or "")
    if cites:
        knowledge_error = "recorded then: " + ", ".join(str(c) for c in cites[:5])
    threshold = d.get("threshold")
    return Evidence(
        fingerprint=str(d.get("fingerprint", "")),
        expr=str(d.get("expr", "")),
        threshold=float(threshold) if isinstance(threshold, (int, float)) else None,
        unit=str(d.get("unit", "")),
        series=series,
        metric_error=str(d.get("metric_error", "")),
        logs=logs,
        logs_error=str(d.get("logs_error", "")),
        runbook_url=str(d.get("runbook_url", "")),
        knowledge=None,
        knowledge_error=knowledge_error or "knowledge passages are not replayed",
    )


def records_from_event(event: Event) -> list:
    """The proposal records of a ``queue`` event, as the store would give them."""
    from sreconsole.review.records import ProposalRecord

    fields = {f.name: str(f.type) for f in dataclasses.fields(ProposalRecord)}
    out = []
    for raw in event.data.get("records", ()):
        kwargs = {}
        for name, kind in fields.items():
            if name not in raw:
                continue
            value = raw[name]
            if "datetime" in kind:
                value = parse_time(value)
            elif kind.startswith("tuple[tuple"):
                value = tuple(tuple(v) for v in value or ())
            elif kind.startswith("tuple"):
                value = tuple(value or ())
            kwargs[name] = value
        try:
            out.append(ProposalRecord(**kwargs))
        except TypeError:
            continue  # a record missing a field this version needs: left out, not a crash
    return out


class ReplayQueue(ReviewQueue):
    """The review queue as the recording last showed it; every change is refused."""

    def __init__(self, settings: Settings, operator, timeline: Timeline) -> None:
        super().__init__(settings, operator, timeline.now)  # settings: read_only set by the replay command
        self.timeline = timeline

    read_only_reason = READ_ONLY

    @property
    def read_only(self) -> bool:
        return True

    @property
    def notifies(self) -> bool:
        return False

    def _writable(self, what: str) -> None:
        raise ReadOnly(f"{READ_ONLY}: {what} is disabled")

    _cache: tuple[int, list] = (0, [])

    def _records(self) -> list:
        event = self.timeline.latest("queue")
        if event is None:
            return []
        if self._cache[0] != id(event):  # asked for on every row of every redraw
            self._cache = (id(event), records_from_event(event))
        return self._cache[1]

    def recorded_proposal(self, fingerprint: str):
        """The newest recorded proposal for the alert at this moment (None: not queued)."""
        found = [r for r in self._records() if fingerprint == r.fingerprint or any(a.get("fingerprint") == fingerprint for a in r.alerts)]
        return max(found, key=lambda r: r.id) if found else None

    def list(self, *, all_states: bool = False, states=None, namespace=None, action=None, include_resolved: bool = False) -> list:
        from sreconsole.services.review import queue_order

        chosen = None if all_states else (tuple(states) if states else self.ATTENTION)
        out = [
            r for r in self._records()
            if (chosen is None or r.state in chosen)
            and (all_states or include_resolved or r.alert_state != "resolved")
            and (namespace is None or r.namespace == namespace)
            and (action is None or r.action == action)
        ]
        return sorted(out, key=queue_order)

    def get(self, proposal_id: int):
        return next((r for r in self._records() if r.id == proposal_id), None)

    def observe(self, snapshot) -> list:
        return []

    def reconcile(self) -> list:
        return []

    def outcomes(self, limit: int = 200) -> list:
        return [r for r in self._records() if r.outcome][:limit]

    def dry_run(self, proposal_id: int, parameters=None):
        raise ReadOnly(f"{READ_ONLY}: a dry run is disabled")


@dataclasses.dataclass
class ReplaySession:
    """Everything the TUI needs to play a recording in place of the live services."""

    recording: Recording
    timeline: Timeline
    source: ReplayAlertSource
    evidence: ReplayEvidence

    def queue(self, settings: Settings, operator) -> ReplayQueue:
        return ReplayQueue(settings, operator, self.timeline)


def open_replay(path: str | Path, speed: float = 1.0) -> ReplaySession:
    """Read ``path`` (:class:`~sreconsole.services.recording.RecordingError` if it cannot
    be replayed) and set up its timeline at the start, playing."""
    recording = read_recording(path)
    timeline = Timeline(recording, speed)
    return ReplaySession(recording, timeline, ReplayAlertSource(timeline), ReplayEvidence(timeline))
