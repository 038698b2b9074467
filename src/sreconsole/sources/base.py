"""What every alert source offers: the demo implements it, so does Alertmanager."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from sreconsole.domain.alerts import Alert
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
