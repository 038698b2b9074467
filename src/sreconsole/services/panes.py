"""What each not-yet-built pane says about itself, so the TUI never shows fake data."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PaneStatus:
    """Whether a pane's capability exists yet and, if not, what it will be."""

    available: bool
    title: str
    message: str = ""


class ChatService:
    """Bruno, the runbook-grounded assistant (arrives with the knowledge base)."""

    def status(self) -> PaneStatus:
        return PaneStatus(
            False,
            "Bruno",
            "Not available yet: Bruno needs the knowledge base (runbook index and retrieval), "
            "which is not built. Bruno will not answer without sources to cite.",
        )
