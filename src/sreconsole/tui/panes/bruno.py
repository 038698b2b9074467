"""The Bruno pane: chat with the knowledge base."""

from __future__ import annotations

from sreconsole.services.panes import ChatService
from sreconsole.tui.panes.unavailable import Unavailable


class BrunoPane(Unavailable):
    def __init__(self, service: ChatService, **kwargs) -> None:
        super().__init__(service.status(), **kwargs)
        self.service = service
