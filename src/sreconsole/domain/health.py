"""Health of an outside source as the header and ``doctor`` report it.

A health is recorded when a call ends, but read whenever the screen is drawn: a call that
has not ended yet (a server dribbling its answer, until the call's deadline) must not leave
"ok" on screen. So :meth:`SourceHealth.at` ages it: an answer older than the source's
``stale_after_s`` is shown as stale, then as down once a failure has been recorded after
it. Reasons never carry the credentials of an address (:func:`~sreconsole.domain.text.redact_url`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from sreconsole.domain.alerts import format_age
from sreconsole.domain.text import redact_url


class HealthState(enum.Enum):
    OK = "ok"
    STALE = "stale"  # answered before, not recently: data on screen is getting old
    DOWN = "down"  # never answered, or failing now with a reason
    DEGRADED = "degraded"  # some members answer, some do not: the data is whole, the redundancy is not
    UNCONFIGURED = "off"


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """A source's state, when it last answered and why it is not ok."""

    name: str
    state: HealthState
    last_ok: datetime | None = None
    since: datetime | None = None
    reason: str = ""
    stale_after_s: float = 0.0
    """How old the last answer may get before it is shown as stale (0: never aged)."""

    def at(self, now: datetime) -> SourceHealth:
        """The state as of ``now``: ok with an answer older than ``stale_after_s`` is stale
        (nothing has come back since), stale that old is down."""
        if not self.stale_after_s or self.last_ok is None:
            return self
        age = (now - self.last_ok).total_seconds()
        if age <= self.stale_after_s:
            return self
        if self.state is HealthState.OK:
            return replace(self, state=HealthState.STALE, reason=f"no answer for {format_age(age)}")
        if self.state is HealthState.STALE:
            return replace(self, state=HealthState.DOWN)
        return self

    def describe(self, now: datetime) -> str:
        """One short phrase: ``ok 3s``, ``stale since 2m``, ``down: connection refused``."""
        if self.stale_after_s:
            aged = self.at(now)
            if aged is not self:
                return aged.describe_as_is(now)
        return self.describe_as_is(now)

    def describe_as_is(self, now: datetime) -> str:
        """:meth:`describe` without ageing (the state as recorded)."""
        if self.state is HealthState.OK:
            age = format_age((now - self.last_ok).total_seconds()) if self.last_ok else ""
            return f"ok {age}".strip()
        if self.state is HealthState.STALE:
            since = self.last_ok or self.since
            age = format_age((now - since).total_seconds()) if since else "?"
            return f"stale {age}" + (f": {self.reason}" if self.reason else "")
        if self.state is HealthState.DOWN:
            return f"down: {self.reason}" if self.reason else "down"
        if self.state is HealthState.DEGRADED:
            return f"degraded: {self.reason}" if self.reason else "degraded"
        return "off"


def after_success(name: str, now: datetime, stale_after_s: float = 0.0) -> SourceHealth:
    return SourceHealth(name, HealthState.OK, last_ok=now, since=now, stale_after_s=stale_after_s)


def after_failure(
    previous: SourceHealth | None, name: str, now: datetime, reason: str, stale_after_s: float
) -> SourceHealth:
    """A failed call: stale while the last success is recent, down after that."""
    last_ok = previous.last_ok if previous else None
    since = previous.since if previous and previous.state is not HealthState.OK else now
    reason = redact_url(reason)
    if last_ok is not None and (now - last_ok).total_seconds() < stale_after_s:
        return SourceHealth(name, HealthState.STALE, last_ok=last_ok, since=since, reason=reason, stale_after_s=stale_after_s)
    return SourceHealth(name, HealthState.DOWN, last_ok=last_ok, since=since, reason=reason, stale_after_s=stale_after_s)


def combined(name: str, parts: list[SourceHealth], now: datetime) -> SourceHealth:
    """One health for several members that serve the same data (an HA pair of
    Alertmanagers, or the clusters of a merged list), each aged to ``now``: ok when all
    are; degraded when some answer (ok, or degraded themselves) and some do not, since an
    operator must not read "down" while the list is still live, nor "ok" while a member
    is gone; stale when none answers but an answer is recent; down when none answered.
    The reason names the members that are not ok."""
    if not parts:
        return SourceHealth(name, HealthState.DOWN, reason="nothing configured")
    aged = [p.at(now) for p in parts]
    answered = [p.last_ok for p in aged if p.last_ok is not None]
    last_ok = max(answered) if answered else None
    stale_after_s = max(p.stale_after_s for p in aged)
    bad = [p for p in aged if p.state is not HealthState.OK]
    if not bad:
        since = min((p.since or now) for p in aged)
        return SourceHealth(name, HealthState.OK, last_ok=last_ok, since=since, stale_after_s=stale_after_s)
    reason = "; ".join(f"{p.name} {p.describe_as_is(now)}" for p in bad)
    if any(p.state in (HealthState.OK, HealthState.DEGRADED) for p in aged):
        state = HealthState.DEGRADED
    elif any(p.state is HealthState.STALE for p in aged):
        state = HealthState.STALE
    else:
        state = HealthState.DOWN
    return SourceHealth(name, state, last_ok=last_ok, since=now, reason=reason)
