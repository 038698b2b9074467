"""The Alerts pane's service: poll the configured source, keep the last good answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sreconsole.domain.alerts import Alert, sort_key
from sreconsole.domain.health import SourceHealth
from sreconsole.sources.base import AlertSource, SourceError


@dataclass(frozen=True, slots=True)
class AlertsSnapshot:
    """What one poll produced. On failure ``alerts`` are the last good ones, marked stale."""

    alerts: tuple[Alert, ...]
    health: SourceHealth
    fetched_at: datetime
    error: str = ""
    added: frozenset[str] = field(default_factory=frozenset)
    removed: frozenset[str] = field(default_factory=frozenset)


class AlertsService:
    """Polls one :class:`AlertSource` and diffs successive answers by fingerprint."""

    def __init__(self, source: AlertSource, clock: Callable[[], datetime] | None = None) -> None:
        self.source = source
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._last: dict[str, Alert] = {}

    async def refresh(self) -> AlertsSnapshot:
        try:
            fetched = await self.source.fetch_alerts()
        except SourceError as exc:
            return AlertsSnapshot(
                alerts=tuple(sorted(self._last.values(), key=sort_key)),
                health=self.source.health(),
                fetched_at=self.clock(),
                error=str(exc),
            )
        current = {a.fingerprint: a for a in fetched}
        added = frozenset(current.keys() - self._last.keys())
        removed = frozenset(self._last.keys() - current.keys())
        self._last = current
        return AlertsSnapshot(
            alerts=tuple(sorted(current.values(), key=sort_key)),
            health=self.source.health(),
            fetched_at=self.clock(),
            added=added,
            removed=removed,
        )

    async def aclose(self) -> None:
        await self.source.aclose()
