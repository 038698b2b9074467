"""The Training pane: pipeline runs of the triage model."""

from __future__ import annotations

from sreconsole.services.panes import TrainingService
from sreconsole.tui.panes.unavailable import Unavailable


class TrainingPane(Unavailable):
    def __init__(self, service: TrainingService, **kwargs) -> None:
        super().__init__(service.status(), **kwargs)
        self.service = service
