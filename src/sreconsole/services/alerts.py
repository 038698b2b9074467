"""The Alerts pane's service: poll the configured source, keep the last good answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sreconsole.domain.alerts import Alert
from sreconsole.domain.health import SourceHealth
from sreconsole.domain.operator import Operator
from sreconsole.domain.silences import ACK_PREFIX, Silence, SilenceRow, matchers_for, silence_rows
from sreconsole.services.recording import NO_RECORDER
from sreconsole.sources.base import AlertSource, SourceError


ACK_DURATION = timedelta(minutes=15)
"""How long an acknowledgement silences the alert (karma's default is of the same order)."""


@dataclass(frozen=True, slots=True)
class AlertsSnapshot:
    """What one poll produced. On failure ``alerts`` are the last good ones, marked stale."""

    alerts: tuple[Alert, ...]
    health: SourceHealth
    fetched_at: datetime
    error: str = ""
    acks: frozenset[str] = frozenset()
    """Ids of the silences among the alerts' ``silenced_by`` that are acknowledgements."""
    filtered_by: tuple[str, ...] = ()
    """The matchers the source applied (``name="value"``): ``alerts`` are then only those
    that match, and an alert missing from them has not resolved."""
    health_parts: tuple[SourceHealth, ...] = ()
    """With several clusters or an HA pair: each cluster's and each member's health
    (``health`` is then their combination); empty for one plain Alertmanager or the demo."""

    def healths(self) -> list[SourceHealth]:
        """What the header shows: the combined health, then each part."""
        return [self.health, *self.health_parts]


class AlertsService:
    """Polls one :class:`AlertSource`; on failure the last good answer is served, marked
    with the error. (The pane diffs successive snapshots itself: it needs the times.)"""

    def __init__(self, source: AlertSource, clock: Callable[[], datetime] | None = None) -> None:
        self.source = source
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._last: dict[str, Alert] = {}
        self._is_ack: dict[str, bool] = {}
        """Silence id → whether it is an ack; a silence's comment never changes, so the
        silences are listed only when an id not seen before appears."""

    recorder = NO_RECORDER
    """Where each poll is also written (``--record``): see :mod:`sreconsole.services.recording`."""

    server_matchers: tuple = ()
    """Matchers to have the source apply, where it can (a source with ``pushable``)."""

    def pushed(self) -> tuple:
        """The matchers the next poll sends to the source."""
        pushable = getattr(self.source, "pushable", None)
        return tuple(pushable(self.server_matchers)) if pushable is not None and self.server_matchers else ()

    async def refresh(self) -> AlertsSnapshot:
        pushed = self.pushed()
        try:
            fetched = await (self.source.fetch_alerts(pushed) if pushed else self.source.fetch_alerts())
        except SourceError as exc:
            snapshot = AlertsSnapshot(
                alerts=tuple(self._last.values()),
                health=self.source.health(),
                fetched_at=self.clock(),
                error=str(exc),
                health_parts=self._health_parts(),
            )
            await self._record(snapshot)
            return snapshot
        self._last = {a.fingerprint: a for a in fetched}
        snapshot = AlertsSnapshot(
            alerts=tuple(fetched),  # in the source's order: each view sorts as it shows them
            health=self.source.health(),
            fetched_at=self.clock(),
            acks=await self._acks(fetched),
            filtered_by=tuple(f'{m.name}{m.type.value}"{m.value}"' for m in pushed),
            health_parts=self._health_parts(),
        )
        await self._record(snapshot)
        return snapshot

    async def _record(self, snapshot: AlertsSnapshot) -> None:
        """Write the poll to the recording (``--record``) in a thread: the first poll of a
        large cluster is all new alerts to scrub and compress, and the event loop is the
        TUI's. Awaited, so polls are written in order."""
        if self.recorder.enabled:
            await asyncio.to_thread(self.recorder.poll, snapshot)

    def _health_parts(self) -> tuple[SourceHealth, ...]:
        parts = getattr(self.source, "health_parts", None)
        return tuple(parts()) if parts is not None else ()

    def source_for(self, alert: Alert):
        """Where a silence or an ack of ``alert`` goes: its cluster's Alertmanager when
        several clusters are merged (never another cluster's), else the one source."""
        pick = getattr(self.source, "for_cluster", None)
        return pick(alert.cluster) if pick is not None else self.source

    def _source_for_silence(self, silence_id: str):
        pick = getattr(self.source, "for_silence", None)
        return pick(silence_id) if pick is not None else self.source

    async def _create_for(self, alert: Alert, *args) -> str:
        silence_id = await self.source_for(alert).create_silence(matchers_for(alert), *args)
        remember = getattr(self.source, "created_in", None)
        if remember is not None:
            remember(alert.cluster, silence_id)
        return silence_id

    async def _acks(self, alerts) -> frozenset[str]:
        ids = {sid for a in alerts for sid in a.silenced_by}
        if ids - self._is_ack.keys():
            try:
                silences = await self.source.list_silences()
            except SourceError:
                silences = None  # an ack then reads as a silence until the next poll
            if silences is not None:
                self._is_ack.update({i: False for i in ids})  # inhibitions and scenario silences too
                self._is_ack.update({s.id: s.is_ack for s in silences})
        return frozenset(i for i in ids if self._is_ack.get(i))

    # -- silences and acknowledgements -------------------------------------------

    allow: Callable[[str], str] = staticmethod(lambda verb: "")
    """The approval policy's answer for ``silence`` ('' allowed, else the refusal naming the
    rule); the app sets it from :meth:`sreconsole.services.review.ReviewQueue.refusal`."""

    def _check(self, verb: str) -> None:
        why = self.allow(verb)
        if why:
            raise SourceError(f"refused: {why}")

    async def silence(self, alert: Alert, duration: timedelta, comment: str, operator: Operator) -> str:
        """Silence exactly this alert (its identifying labels); returns the silence id."""
        self._check("silence")
        if not comment.strip():
            raise SourceError("a silence needs a comment saying why")
        now = self.clock()
        return await self._create_for(alert, now, now + duration, str(operator), comment.strip())

    async def acknowledge(self, alert: Alert, operator: Operator, note: str = "", duration: timedelta = ACK_DURATION) -> str:
        """A short silence whose comment marks it as an ack: someone is on it."""
        self._check("silence")
        comment = f"{ACK_PREFIX} {operator} is looking at this" + (f": {note.strip()}" if note.strip() else "")
        now = self.clock()
        return await self._create_for(alert, now, now + duration, str(operator), comment)

    async def expire(self, silence_id: str) -> None:
        await self.source.expire_silence(silence_id)

    async def silences(self):
        return await self.source.list_silences()

    # -- the Silences view (every silence, also those that mute nothing) ----------

    async def silence_rows(self, alerts: tuple[Alert, ...] | None = None) -> list[SilenceRow]:
        """Active, pending and recently expired silences with the alerts each mutes now,
        counted against ``alerts`` (by default the last good poll)."""
        silences = await self.source.list_silences()
        return silence_rows(silences, self._last.values() if alerts is None else alerts, self.clock())

    async def extend(self, silence: Silence, by: timedelta) -> str:
        """Move the end of an active or pending silence ``by`` later; returns the id that
        Alertmanager answers (the same one when it updated it in place)."""
        if silence.state not in ("active", "pending"):
            raise SourceError(f"silence {silence.id} is {silence.state or 'unknown'}: re-create it instead")
        now = self.clock()
        start = silence.starts_at or now
        end = max(silence.ends_at or now, now) + by
        return await self.source.create_silence(
            silence.matchers, start, end, silence.created_by, silence.comment, silence_id=silence.id
        )

    async def recreate(self, silence: Silence, duration: timedelta, comment: str, operator: Operator) -> str:
        """A new silence with an expired one's matchers, from now, with a new comment."""
        if not comment.strip():
            raise SourceError("a silence needs a comment saying why")
        if not silence.matchers:
            raise SourceError(f"silence {silence.id} has no matchers the console can read")
        now = self.clock()
        source = self._source_for_silence(silence.id)  # the cluster it was listed in
        return await source.create_silence(silence.matchers, now, now + duration, str(operator), comment.strip())

    async def aclose(self) -> None:
        await self.source.aclose()
