"""What every alert source offers: the demo implements it, so does Alertmanager."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from datetime import datetime

from sreconsole.domain.alerts import Alert
from sreconsole.domain.matchers import Matcher
from sreconsole.domain.silences import Silence
from sreconsole.domain.health import SourceHealth


class SourceError(Exception):
    """A source could not answer. ``str()`` is one readable line for the operator."""


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
        self, matchers: Sequence[Matcher], starts_at: datetime, ends_at: datetime, created_by: str, comment: str
    ) -> str:
        """Create a silence and return its id. Raises :class:`SourceError`."""
        ...

    async def expire_silence(self, silence_id: str) -> None: ...
