"""App-wide messages. Workers post these; handlers on the main thread touch widgets."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from sreconsole.domain.health import SourceHealth
from sreconsole.services.alerts import AlertsSnapshot


@dataclass
class AlertsRefreshed(Message):
    """A poll of the alert source finished (successfully or not)."""

    snapshot: AlertsSnapshot

    def can_replace(self, message: Message) -> bool:  # a burst collapses to the newest
        return isinstance(message, AlertsRefreshed)


@dataclass
class SourcesChecked(Message):
    """Liveness of the configured outside sources other than the alert source."""

    health: list[SourceHealth]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SourcesChecked)


@dataclass
class KnowledgeReady(Message):
    """The knowledge base finished preparing: evidence that said "still loading" can be
    gathered again (the app posts it to every widget that handles it)."""
