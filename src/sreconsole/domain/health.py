"""Health of an outside source as the header and ``doctor`` report it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sreconsole.domain.alerts import format_age


class HealthState(enum.Enum):
    OK = "ok"
    STALE = "stale"  # answered before, not recently: data on screen is getting old
    DOWN = "down"  # never answered, or failing now with a reason
    UNCONFIGURED = "off"


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A source's state, when it last answered and why it is not ok."""

    name: str
    state: HealthState
    last_ok: datetime | None = None
    since: datetime | None = None
    reason: str = ""

    def describe(self, now: datetime) -> str:
        """One short phrase: ``ok 3s``, ``stale since 2m``, ``down: connection refused``."""
        if self.state is HealthState.OK:
            age = format_age((now - self.last_ok).total_seconds()) if self.last_ok else ""
            return f"ok {age}".strip()
        if self.state is HealthState.STALE:
            since = self.last_ok or self.since
            age = format_age((now - since).total_seconds()) if since else "?"
            return f"stale {age}" + (f": {self.reason}" if self.reason else "")
        if self.state is HealthState.DOWN:
            return f"down: {self.reason}" if self.reason else "down"
        return "off"


def after_success(name: str, now: datetime) -> SourceHealth:
    return SourceHealth(name, HealthState.OK, last_ok=now, since=now)


def after_failure(
    previous: SourceHealth | None, name: str, now: datetime, reason: str, stale_after_s: float
) -> SourceHealth:
    """A failed call: stale while the last success is recent, down after that."""
    last_ok = previous.last_ok if previous else None
    since = previous.since if previous and previous.state is not HealthState.OK else now
    if last_ok is not None and (now - last_ok).total_seconds() < stale_after_s:
        return SourceHealth(name, HealthState.STALE, last_ok=last_ok, since=since, reason=reason)
    return SourceHealth(name, HealthState.DOWN, last_ok=last_ok, since=since, reason=reason)
