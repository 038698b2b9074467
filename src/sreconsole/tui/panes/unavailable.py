"""A pane whose capability is not built yet says so plainly, and shows no fake data."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.widgets import Static

from sreconsole.services.panes import PaneStatus


class Unavailable(Vertical, can_focus=True):
    """A focusable box with the pane's name and what it is waiting for."""

    def __init__(self, status: PaneStatus, **kwargs) -> None:
        super().__init__(**kwargs)
        self.status = status

    def compose(self) -> ComposeResult:
        body = Text.assemble(
            (self.status.title, "bold"),
            "\n\n",
            self.status.message,
            "\n\n",
            ("1 Alerts · 2 Review · 3 Training · 4 Bruno · ? help", "dim"),
        )
        with Center():
            yield Static(body, id="unavailable-box")
