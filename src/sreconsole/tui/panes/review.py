"""The Review pane: the queue of proposed remediations awaiting a decision."""

from __future__ import annotations

from sreconsole.services.panes import ReviewService
from sreconsole.tui.panes.unavailable import Unavailable


class ReviewPane(Unavailable):
    def __init__(self, service: ReviewService, **kwargs) -> None:
        super().__init__(service.status(), **kwargs)
        self.service = service
