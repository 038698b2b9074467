"""What every alert source offers: the demo implements it, so does Alertmanager."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from datetime import datetime

from sreconsole.domain.alerts import Alert
from sreconsole.domain.matchers import Matcher
from sreconsole.domain.silences import Silence
from sreconsole.domain.health import HealthState, SourceHealth, after_failure, after_success


class SourceError(Exception):
    """A source could not answer. ``str()`` is one readable line for the operator."""


class TracksHealth:
    """Health bookkeeping shared by every outside source: ok after an answer, stale while
    the last answer is recent, down after that. Subclasses set ``name``, ``clock`` and
    ``stale_after_s`` and call :meth:`_answered` / :meth:`_failed` around each call."""

    name: str
    clock: Callable[[], datetime]
    stale_after_s: float
    _health: SourceHealth | None = None

    def health(self) -> SourceHealth:
        if self._health is None:
            return SourceHealth(self.name, HealthState.DOWN, reason="not asked yet")
        return self._health

    def _answered(self) -> None:
        self._health = after_success(self.name, self.clock(), self.stale_after_s)

    def _failed(self, reason: str) -> None:
        self._health = after_failure(self._health, self.name, self.clock(), reason, self.stale_after_s)


@runtime_checkable
class AlertSource(Protocol):
    """Live alerts from somewhere: a real Alertmanager or the demo cluster."""

    name: str

    async def fetch_alerts(self) -> Sequence[Alert]:
        """All current alerts (firing, silenced, inhibited). Raises :class:`SourceError`."""
        ...

    def health(self) -> SourceHealth:
        """The state after the last call."""
        ...

    async def aclose(self) -> None: ...

    async def list_silences(self) -> Sequence[Silence]: ...

    async def create_silence(
        self, matchers: Sequence[Matcher], starts_at: datetime, ends_at: datetime, created_by: str, comment: str,
        silence_id: str = "",
    ) -> str:
        """Create a silence (or update ``silence_id``) and return its id. Raises :class:`SourceError`."""
        ...

    async def expire_silence(self, silence_id: str) -> None: ...
